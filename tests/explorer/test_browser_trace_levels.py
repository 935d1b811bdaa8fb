"""The explorer in a real browser: a run traced at ``sample:N`` and one at ``rounds`` say
so in the overview and in a step's negotiation (off unless VPP_BROWSER_TESTS is set)."""

from __future__ import annotations

import pytest

from tests.explorer.browser import CHROMIUM, FLAGS, Watched, browser_or_skip
from tests.explorer.conftest import vpp

SITES = 14  # the bundled default scenario's


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sync_playwright = browser_or_skip()
    root = tmp_path_factory.mktemp("level-runs")
    for name, level in (("sampled", "sample:3"), ("rounds", "rounds")):
        vpp("run", "--no-plot", "--trace", level, "--seed", "7", "--out", str(root / name))
    from vpp.runs.explorer.app import ExplorerServer

    srv = ExplorerServer([root], port=0).start()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        srv.browser = b
        yield srv
        b.close()
    srv.stop()


@pytest.fixture
def web(server):
    context = server.browser.new_context(viewport={"width": 1280, "height": 800})
    watched = Watched(context.new_page(), allowed=(server.url,))
    watched.attach(context)
    yield watched
    context.close()
    watched.check()


def test_a_sampled_run_says_so_in_the_overview_and_a_step(web, server):
    web.goto(server.url + "#/run/sampled", "#/run/sampled")
    note = web.page.locator("#trace-note")
    assert note.is_visible() and note.inner_text() == f"sampled: 3 of {SITES} sites"
    web.route("#/run/sampled/negotiation/5")
    assert web.page.locator("#trace-note").inner_text() == f"sampled: 3 of {SITES} sites"
    counted = web.page.locator("#unrecorded").inner_text()
    assert counted.startswith("Counted, not recorded: ") and "Bid send" in counted


def test_a_rounds_run_says_its_messages_were_not_recorded(web, server):
    text = "messages not recorded at trace level rounds"
    web.goto(server.url + "#/run/rounds", "#/run/rounds")
    assert web.page.locator("#trace-note").inner_text() == text
    web.route("#/run/rounds/negotiation")
    assert web.page.locator("#trace-note").inner_text() == text
