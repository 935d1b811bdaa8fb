"""The explorer in a real browser (headless Chromium): what a person sees on each page.

Every test records the page's console errors and requests and fails on any error or any
request that leaves 127.0.0.1; each page's screenshot is kept under the test's tmp_path.
Off unless VPP_BROWSER_TESTS is set (see tests/explorer/browser.py); CI requires them.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader

from tests.explorer.browser import CHROMIUM, FLAGS, Watched, browser_or_skip
from tests.explorer.conftest import cli_json, vpp


@pytest.fixture(scope="module")
def browser():
    """Chromium for this module's tests, closed (with Playwright's driver) after them: no
    process of ours outlives the module (other tests check for leftovers)."""
    sync_playwright = browser_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(browser, runs_root, default_run, admm_run, market_run, grid_run, voltage_run,
           backtest_run):
    from vpp.runs.explorer.app import ExplorerServer

    srv = ExplorerServer([runs_root], port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def web(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    watched = Watched(context.new_page(), allowed=(server.url,))
    watched.attach(context)
    yield watched
    context.close()
    watched.check()


def shot(web: Watched, tmp_path, name: str) -> None:
    web.page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def js(web: Watched, code: str):
    return web.page.evaluate(code)


def test_overview_shows_each_site_and_every_unserved_step(web, server, default_run, tmp_path):
    web.goto(server.url + "#/", "#/")
    shot(web, tmp_path, "runs")
    assert web.page.locator("#runs tr[data-run='default']").count() == 1
    web.route("#/run/default")
    reader = TraceReader(default_run)
    sites = sorted(a["address"] for a in reader.agents() if a["role"] == "site")
    unserved = [s["step"] for s in reader.steps() if s["unserved_kw"] > 0]
    reader.close()
    drawn = js(web, "() => document.getElementById('chart-dispatch').data"
                    ".filter(t => t.meta && t.meta.site).map(t => t.meta.site)")
    assert sorted(drawn) == sites and len(sites) == 14
    chips = web.page.locator("#unserved a")
    assert chips.count() == len(unserved) == 8
    assert [int(t.split()[1]) for t in chips.all_inner_texts()] == unserved
    assert js(web, "() => document.getElementById('chart-dispatch').layout.shapes.length") == 8
    shot(web, tmp_path, "overview")


def test_a_steps_sequence_lists_what_the_cli_lists_and_filters_by_agent(web, server,
                                                                         default_run, tmp_path):
    web.goto(server.url + "#/run/default", "#/run/default")
    web.page.locator("#unserved a").first.click()
    web.wait("#/run/default/negotiation/34")
    listed = cli_json("trace", "messages", str(default_run), "--step", "34")
    counts = web.page.locator("#seq-counts")
    assert int(counts.get_attribute("data-events")) == len(listed)
    recv = [m for m in listed if m["direction"] == "recv"]
    assert int(counts.get_attribute("data-arrows")) == len(recv)
    shot(web, tmp_path, "negotiation")

    web.page.select_option("#seq-agent", label="sites/chp-north")
    mine = [m for m in recv if "sites/chp-north" in (m["sender"], m["receiver"])]
    assert int(counts.get_attribute("data-shown")) == len(mine) < len(recv)
    assert js(web, "() => VPP.seq.lanes()") == ["agg/aggregator", "sites/chp-north"]
    # click the first arrow drawn: its decoded body is shown
    box = web.page.locator("#seq-canvas").bounding_box()
    web.page.mouse.click(box["x"] + 200, box["y"] + 52 + 8 + 11)
    body = json.loads(web.page.locator("#seq-body").inner_text())
    first = next(m for m in listed if m["direction"] == "send"
                 and m["receiver"] == "sites/chp-north")
    assert body == first["body"] and body["target_kw"] == pytest.approx(first["body"]["target_kw"])
    shot(web, tmp_path, "negotiation-chp-north")


def test_a_large_step_says_how_many_of_its_events_are_drawn(web, server, default_run,
                                                            monkeypatch):
    from vpp.runs.explorer import app

    monkeypatch.setattr(app, "STEP_EVENTS_SHOWN", 40)
    listed = cli_json("trace", "messages", str(default_run), "--step", "61")
    web.goto(server.url + "#/run/default/negotiation/61", "#/run/default/negotiation/61")
    counts = web.page.locator("#seq-counts")
    assert int(counts.get_attribute("data-events")) == 40 < len(listed)
    note = web.page.locator("#events-shown").inner_text()
    assert f"the first 40 of this step's {len(listed):,} events" in note
    assert "--step 61 lists them all" in note


def test_admm_last_residuals_are_below_their_tolerances(web, server, tmp_path):
    web.goto(server.url + "#/run/admm/admm", "#/run/admm/admm")
    data = js(web, "() => document.getElementById('chart-residuals').data"
                   ".map(t => [t.name, t.y[t.y.length - 1]])")
    last = dict(data)
    assert last["primal residual"] <= last["primal tolerance"]
    assert last["dual residual"] <= last["dual tolerance"]
    assert "converged" in web.page.locator("#admm-last").inner_text()
    shot(web, tmp_path, "admm")
    web.route("#/run/admm")
    shot(web, tmp_path, "admm-overview")


@pytest.mark.parametrize("route, charts", [
    ("#/run/iberian/grid", ["chart-frequency", "chart-rocof", "chart-response", "chart-soc"]),
    ("#/run/volt-var/voltage", ["chart-voltage", "chart-kvar"]),
    ("#/run/market/market", ["chart-curves", "chart-clearing"]),
    ("#/run/backtest/market", ["chart-equity", "chart-drawdown", "chart-trades",
                               "chart-rejections"]),
    ("#/compare/default/market", ["chart-compare-power", "chart-compare-price"]),
])
def test_every_page_draws_its_data(web, server, tmp_path, route, charts):
    web.goto(server.url + route, route)
    assert web.page.locator("#error").count() == 0
    for chart in charts:
        points = js(web, f"() => document.getElementById('{chart}').data"
                         ".map(t => (t.y || t.z || []).filter(v => v !== null).length)")
        assert points and max(points) > 0, chart
    if route.endswith("/grid"):
        stages = js(web, "() => document.getElementById('chart-frequency').data"
                         ".filter(t => t.meta && t.meta.stage).map(t => t.meta.stage)")
        assert stages == [f"replay: ufls stage {k} trip (8 sites)" for k in (1, 2, 3, 4)]
    if route.startswith("#/compare"):
        assert web.page.locator("#differences tbody tr").count() > 5
    shot(web, tmp_path, route.strip("#/").replace("/", "-"))


def _xss_run(root):
    run = root / "xss-run"
    if run.exists():
        return run
    rec = TraceRecorder(shard_path(run, "agg"), "agg")
    rec.set_meta(scenario="<b>x</b>", seed=1, steps=1, step_minutes=15,
                 start=datetime(2019, 1, 1, tzinfo=timezone.utc).isoformat())
    evil = "sites/<img src=x onerror=window.pwned=1>"
    rec.agent(evil, "site", "SiteAgent")
    for direction in ("send", "recv"):
        rec.message(direction, Envelope(
            version=WIRE_VERSION, kind="Bid", sender=evil, receiver="agg/aggregator",
            conversation="merit-order/0", round=0, sim_time=0.0,
            body={"note": "<script>window.pwned=2</script>"}), 60)
    rec.step(step=0, sim_time=0.0, target_kw=1.0, served_kw=1.0, unserved_kw=0.0,
             reserve_target_kw=0.0, reserve_served_kw=0.0, marginal_price=1.0, cost_eur=0.0,
             rounds=1, silent=[], dispatch=[(evil, 1.0, 0.0, 0.0)])
    rec.close()
    return run


def test_message_bodies_and_names_are_shown_as_text(web, server, runs_root, tmp_path):
    _xss_run(runs_root)
    web.goto(server.url + "#/run/xss-run/negotiation/0", "#/run/xss-run/negotiation/0")
    box = web.page.locator("#seq-canvas").bounding_box()
    web.page.mouse.click(box["x"] + 200, box["y"] + 52 + 8 + 11)
    assert "<script>window.pwned=2</script>" in web.page.locator("#seq-body").inner_text()
    web.route("#/run/xss-run")
    assert js(web, "() => document.querySelectorAll('img, script:not([src])').length") == 0
    assert js(web, "() => window.pwned === undefined")
    names = js(web, "() => document.getElementById('chart-dispatch').data.map(t => t.name)")
    assert "&lt;img src=x onerror=window.pwned=1&gt;" in names
    shot(web, tmp_path, "xss")


def test_the_exported_file_opens_with_the_browser_offline(browser, default_run, tmp_path):
    out = tmp_path / "default.html"
    vpp("trace", "export", str(default_run), "--html", str(out))
    assert out.stat().st_size < 10_000_000
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_offline(True)
    url = out.resolve().as_uri()
    web = Watched(context.new_page(), allowed=(url,))
    web.attach(context)
    try:
        web.goto(url + "#/run/default", "#/run/default")
        assert web.page.locator("#unserved a").count() == 8
        web.route("#/run/default/negotiation/82")
        listed = cli_json("trace", "messages", str(default_run), "--step", "82")
        events = web.page.locator("#seq-counts").get_attribute("data-events")
        assert int(events) == len(listed)
        shot(web, tmp_path, "export-negotiation")
    finally:
        context.close()
    web.check()
    assert set(web.requests) <= {url + "#/run/default", url}


def test_pages_follow_a_running_run_within_two_seconds(web, server, runs_root, tmp_path):
    run = runs_root / "live-run"
    rec = TraceRecorder(shard_path(run, "agg"), "agg")
    rec.set_meta(scenario="live", seed=1, steps=6, step_minutes=15,
                 start=datetime(2019, 1, 1, tzinfo=timezone.utc).isoformat())

    def step(k):
        rec.step(step=k, sim_time=900.0 * k, target_kw=100.0, served_kw=100.0 - k,
                 unserved_kw=float(k), reserve_target_kw=0.0, reserve_served_kw=0.0,
                 marginal_price=30.0, cost_eur=1.0, rounds=1, silent=[],
                 dispatch=[("sites/a", 60.0, 0.0, 0.5), ("sites/b", 40.0 - k, 0.0, 0.5)])
        rec.sync()

    step(0)
    try:
        web.goto(server.url + "#/run/live-run", "#/run/live-run")
        assert "running: 1 of 6 steps" in web.page.locator("#run-status").inner_text()
        for k in (1, 2, 3):
            step(k)
            t = time.monotonic()
            web.page.locator("#run-status", has_text=f"running: {k + 1} of 6 steps").wait_for(
                timeout=2000)
            assert time.monotonic() - t <= 2.0
        assert web.page.locator("#unserved a").count() == 3
        shot(web, tmp_path, "live")
    finally:
        rec.close()
