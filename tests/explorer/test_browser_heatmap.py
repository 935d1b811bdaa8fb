"""The explorer in a real browser: the heat map of every site, by step, and past
``HEATMAP_COLUMNS`` steps by runs of steps, its title saying so (off unless
VPP_BROWSER_TESTS is set)."""

from __future__ import annotations

import pytest

from tests.explorer.browser import CHROMIUM, FLAGS, Watched, browser_or_skip


@pytest.fixture(scope="module")
def browser():
    sync_playwright = browser_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def web(browser, wide_run):
    """A page on a server of its own (its views computed afresh)."""
    from vpp.runs.explorer.app import ExplorerServer

    srv = ExplorerServer([wide_run.parent], port=0).start()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    watched = Watched(context.new_page(), allowed=(srv.url,))
    watched.attach(context)
    watched.url = srv.url
    yield watched
    context.close()
    srv.stop()
    watched.check()


def _heatmap(web) -> tuple[int, int, int]:
    web.goto(web.url + "#/run/wide", "#/run/wide")
    web.page.wait_for_function("() => document.getElementById('chart-heatmap')"
                               " && document.getElementById('chart-heatmap').data")
    return tuple(web.page.evaluate("""() => {
        const d = document.getElementById('chart-heatmap').data[0];
        return [d.z.length, d.z[0].length, d.x.length];
    }"""))


def test_the_heat_map_of_a_short_run_is_by_step(web):
    assert _heatmap(web) == (25, 30, 30)
    assert "Every site's dispatch (25 sites)" in web.page.content()


def test_past_its_columns_the_heat_map_is_by_runs_of_steps_and_says_so(web, monkeypatch):
    from vpp.runs.explorer import views

    monkeypatch.setattr(views, "HEATMAP_COLUMNS", 7)        # 30 steps: 6 runs of 5
    assert _heatmap(web) == (25, 6, 6)
    assert "Every site's dispatch (25 sites; means over 5 steps a column)" in web.page.content()
