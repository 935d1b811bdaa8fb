"""``vpp bench explorer``: the trace explorer on a large run, in headless Chromium.

A generated swarm (the swarm bench's scenario: by default 1,000 sites x 96 steps, about
384,000 messages, every one traced) is run into a temporary folder, served on a random
loopback port, and opened in Debian's Chromium (``/usr/bin/chromium``, driven by
Playwright). Timed from the browser's side: the overview drawn, and one step's
negotiation drawn; the baselines are the raw JSON fetches of the same views, in the same
browser, from the same server.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

_FETCH = """async (url) => {
  const t = performance.now();
  const r = await fetch(url, {cache: "no-store"});
  const body = await r.json();
  return [performance.now() - t, JSON.stringify(body).length];
}"""


class BenchUnavailable(RuntimeError):
    """What the bench needs (Chromium, Playwright, the explorer extra) is not installed."""


def _wait(page, route: str) -> None:
    page.wait_for_selector(f'body[data-rendered="{route}"]', state="attached", timeout=120_000)


def run(sites: int = 1000, steps: int = 96, repeats: int = 3) -> dict:
    """Make the run, serve it, and time the explorer's pages in headless Chromium.

    Raises:
        BenchUnavailable: without Chromium, Playwright, Starlette/uvicorn or plotly.
    """
    from vpp.runs.explorer import INSTALL_HINT, missing

    if missing("serve"):
        raise BenchUnavailable(f"needs {', '.join(missing('serve'))}: {INSTALL_HINT}")
    if not CHROMIUM.is_file():
        raise BenchUnavailable(f"needs {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BenchUnavailable("needs playwright (pip install playwright; no browser "
                               "download: it drives /usr/bin/chromium)") from exc
    from vpp.runs.bench.swarm import bench_scenario
    from vpp.runs.explorer.app import ExplorerServer
    from vpp.runs.runner import run_scenario
    from vpp.runs.scenario import parse

    with tempfile.TemporaryDirectory(prefix="vpp-bench-explorer-") as tmp:
        root = Path(tmp)
        name = f"bench-{sites}"
        t = time.perf_counter()
        summary = run_scenario(parse(bench_scenario(sites, steps), "<bench>"),
                               root / name).summary
        run_s = time.perf_counter() - t
        server = ExplorerServer([root], port=0).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS,
                                            headless=True)
                try:
                    result = _measure(browser, server.url, name, steps, repeats)
                finally:
                    browser.close()
        finally:
            server.stop()
    return {"sites": sites, "steps": steps, "messages": summary["messages"],
            "run_s": round(run_s, 2), **result,
            "targets": {"overview_s": 2.0, "negotiation_s": 0.5}}


def _measure(browser, url: str, name: str, steps: int, repeats: int) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
    overview = f"#/run/{name}"
    # first load: the server reads the trace (cold), the browser parses plotly.js
    t = time.perf_counter()
    page.goto(url + overview)
    _wait(page, overview)
    first_overview = time.perf_counter() - t
    overview_times, overview_fetch = [], []
    for _ in range(repeats):
        overview_fetch.append(page.evaluate(_FETCH, f"{url}api/run/{name}/overview")[0] / 1e3)
        t = time.perf_counter()
        page.reload()
        _wait(page, overview)
        overview_times.append(time.perf_counter() - t)
    # the first step asked for builds the index of which chunks hold which step
    t = time.perf_counter()
    first_fetch_ms, step_bytes = page.evaluate(_FETCH, f"{url}api/run/{name}/step/0")
    index_s = time.perf_counter() - t
    picks = sorted({max(steps // 4, 2), steps // 2, (3 * steps) // 4, steps - 1})
    neg_times, neg_fetch, events = [], [], 0
    for k in picks:
        # baseline: a step not asked for before, fetched raw (the server reads it too)
        neg_fetch.append(page.evaluate(_FETCH, f"{url}api/run/{name}/step/{k - 1}")[0] / 1e3)
        route = f"#/run/{name}/negotiation/{k}"
        t = time.perf_counter()
        page.evaluate("h => { location.hash = h; }", route)
        _wait(page, route)
        neg_times.append(time.perf_counter() - t)
        events = int(page.locator("#seq-counts").get_attribute("data-events"))
    page.close()
    return {
        "overview_first_load_s": round(first_overview, 3),
        "overview_s": round(statistics.median(overview_times), 3),
        "overview_json_fetch_s": round(statistics.median(overview_fetch), 3),
        "step_index_build_s": round(index_s, 3),
        "negotiation_s": round(statistics.median(neg_times), 3),
        "negotiation_json_fetch_s": round(statistics.median(neg_fetch), 3),
        "negotiation_events": events, "negotiation_json_bytes": step_bytes,
        "requests_off_loopback": len(outside),
        "note": "overview_s: page reload to the overview drawn (plotly.js parsed again; "
                "server views cached); negotiation_s: route change to the sequence drawn "
                "(server reads the step's chunks); *_json_fetch_s: the baselines, the "
                "overview's JSON and a step's not asked for before, fetched raw",
    }
