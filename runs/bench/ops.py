"""``vpp bench ops``: what operations cost a running swarm.

- ``metrics_overhead_pct``: the swarm benchmark's throughput (messages a second) with the
  metrics on (registered, served on loopback and scraped every ``scrape_every_s``: 1 s by
  default, more often than Prometheus' usual 15-60 s; plus the per-step histogram)
  against the same swarm with none of it, in the same run, ``repeats`` times in
  alternating order (off-on, on-off, ...; medians). The scraper is another process, as
  Prometheus is.
- ``reload_ms``: an edit of a live swarm's YAML (a target, the negotiation's rounds and a
  generator's limit), read, validated, compared and applied at the next step (median of
  ``reloads``; ``reload_ms_max`` the worst); ``detect_ms``: from the write to the staged
  edit through watchfiles (its debounce included); the targets say 100 ms at most.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.modes.merit_order.swarm import SwarmModel
from vpp.runs.scenario import load, parse

_SCRAPER = """
import signal, sys, time, urllib.request
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
url, every = sys.argv[1], float(sys.argv[2])
while True:
    with urllib.request.urlopen(url, timeout=5) as resp:
        resp.read()
    print("scraped", flush=True)
    time.sleep(every)
"""


def _throughput(scenario, metrics_on: bool, scrape_every_s: float) -> tuple[float, int]:
    """(messages a second, scrapes made) of one whole run."""
    from vpp.runs.ops.live import LiveRun

    with tempfile.TemporaryDirectory(prefix="vpp-bench-ops-") as out:
        model = SwarmModel(scenario, out)
        scrapes = 0
        try:
            if not metrics_on:
                t = time.perf_counter()
                while not model.finished:
                    model.step()
                wall = time.perf_counter() - t
            else:
                live = LiveRun(model, metrics_port=0)
                # the scraper is another process, as Prometheus is
                scraper = subprocess.Popen(
                    [sys.executable, "-c", _SCRAPER,
                     f"http://127.0.0.1:{live.metrics_port}/metrics", str(scrape_every_s)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    scraper.stdout.readline()          # it has scraped once: it is up
                    t = time.perf_counter()
                    while not model.finished:
                        live.step()
                    wall = time.perf_counter() - t
                finally:
                    scraper.send_signal(signal.SIGTERM)
                    out, _ = scraper.communicate(timeout=10)
                    scrapes = len(out.splitlines())
                    live.close()
            messages = model.agg_host.stats.sent + model.site_host.stats.sent
        finally:
            model.close()
    return messages / wall, scrapes


def _reloads(reloads: int) -> dict:
    from vpp.agents.ops.agent import OpsAgent
    from vpp.runs.ops.appliers import SwarmApplier
    from vpp.runs.ops.live import LiveRun
    from vpp.runs.ops.reload import ScenarioReloader

    data = bench_scenario(50, reloads + 2)
    with tempfile.TemporaryDirectory(prefix="vpp-bench-reload-") as tmp:
        path = Path(tmp) / "live.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        model = SwarmModel(load(path), Path(tmp) / "run", scenario_path=path)
        ops = model.agg_host.add(OpsAgent())
        reloader = ScenarioReloader(path, model.scenario, SwarmApplier(model, path), ops=ops,
                                    debounce_ms=20)
        live = LiveRun(model, hooks=[reloader])
        detect = []
        try:
            live.step()
            for k in range(reloads):
                data["target"]["values_kw"][k + 1:] = [v + 10.0 for v in
                                                      data["target"]["values_kw"][k + 1:]]
                data["negotiation"] = {"max_rounds": 5 + k % 2}
                data["sites"][0]["devices"][0]["p_max_kw"] = 100.0 + k
                t = time.perf_counter()
                path.write_text(yaml.safe_dump(data, sort_keys=False))
                if not reloader.wait_staged(5.0):
                    raise RuntimeError("the edit was not seen within 5 s")
                detect.append((time.perf_counter() - t) * 1e3)
                live.step()
                expected = data["target"]["values_kw"][k + 1]
                if model.aggregator.outcomes[-1].target_kw != expected:
                    raise RuntimeError(f"reload {k}: the target was not applied")
        finally:
            live.close()
            model.close()
    applied = [r.reload_ms for r in reloader.records if r.error is None]
    return {"reloads": len(applied), "reload_ms": round(statistics.median(applied), 2),
            "reload_ms_max": round(max(applied), 2),
            "detect_ms": round(statistics.median(detect), 1)}


def run(sites: int = 200, steps: int = 96, repeats: int = 4, scrape_every_s: float = 1.0,
        reloads: int = 10) -> dict:
    """The overhead of metrics on swarm throughput, and the time a reload takes."""
    scenario = parse(bench_scenario(sites, steps), "<bench>")
    _throughput(scenario, False, scrape_every_s)            # warm up imports and caches
    off, on, scrapes = [], [], 0
    for i in range(repeats):
        # off-on, then on-off: a machine that gets busier or quieter favours neither
        for metrics_on in ((False, True) if i % 2 == 0 else (True, False)):
            rate, n = _throughput(scenario, metrics_on, scrape_every_s)
            (on if metrics_on else off).append(rate)
            scrapes += n
    rate_off, rate_on = statistics.median(off), statistics.median(on)
    return {
        "sites": sites, "steps": steps, "repeats": repeats,
        "messages_per_s_off": round(rate_off, 1), "messages_per_s_on": round(rate_on, 1),
        "metrics_overhead_pct": round(100.0 * (rate_off - rate_on) / rate_off, 2),
        "scrape_every_s": scrape_every_s, "scrapes": scrapes,
        **_reloads(reloads),
    }
