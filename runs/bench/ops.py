"""``vpp bench ops``: what operations cost a running swarm.

- ``metrics_overhead_pct``: the swarm benchmark's throughput (messages a second) with the
  metrics on (registered, served on loopback and scraped every ``scrape_every_s``: 1 s by
  default, more often than Prometheus' usual 15-60 s; plus the per-step histogram)
  against the same swarm with none of it, in the same run: ``pairs`` pairs of runs in
  alternating order (off-on, on-off, ...; :mod:`.paired`). ``metrics_overhead_pct``: each
  pair's extra CPU seconds of the swarm's process per message, ``100 * (on / off - 1)``
  (serving the scrapes included), reported as the median over the pairs with its
  interquartile range (``metrics_overhead_pct_iqr``), lowest and highest: CPU time, so
  that another tenant of the machine taking the cores away moves it little.
  ``metrics_overhead_wall_pct``: the same pairs by wall-clock throughput,
  ``100 * (1 - on / off)``, which moves with the machine's load. The scraper is another
  process, as Prometheus is.
- ``reload_ms``: an edit of a live swarm's YAML (a target, the negotiation's rounds and a
  generator's limit), read, validated, compared and applied at the next step (median of
  ``reloads``; ``reload_ms_max`` the worst); ``detect_ms``: from the write to the staged
  edit through watchfiles (its debounce included); the targets say 100 ms at most.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from vpp.runs.bench.paired import Paired, interleave
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.runner import build_run
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


def _throughput(scenario, metrics_on: bool, scrape_every_s: float,
                ) -> tuple[float, float, int]:
    """(messages a second, this process's CPU seconds per message, scrapes made) of one
    whole run."""
    from vpp.agents.ops.metrics import OpsMetrics
    from vpp.runs.ops.hooks import ops_hooks

    with tempfile.TemporaryDirectory(prefix="vpp-bench-ops-") as out:
        _, model = build_run(scenario, out)
        scrapes = 0
        try:
            if not metrics_on:
                t, cpu = time.perf_counter(), time.process_time()
                for k in range(model.steps):
                    model.step(k)
                wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            else:
                hooks = ops_hooks(model, scenario, metrics=OpsMetrics(), out_dir=Path(out),
                                  metrics_port=0)
                # the scraper is another process, as Prometheus is
                scraper = subprocess.Popen(
                    [sys.executable, "-c", _SCRAPER,
                     f"http://127.0.0.1:{hooks[-1].port}/metrics", str(scrape_every_s)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    scraper.stdout.readline()          # it has scraped once: it is up
                    t, cpu = time.perf_counter(), time.process_time()
                    for k in range(model.steps):       # the ops hooks around, as the runner
                        for hook in hooks:
                            hook.before_step(k)
                        model.step(k)
                        for hook in hooks:
                            hook.after_step(k)
                    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
                finally:
                    scraper.send_signal(signal.SIGTERM)
                    out, _ = scraper.communicate(timeout=10)
                    scrapes = len(out.splitlines())
                    for hook in hooks:
                        hook.close()
            messages = sum(h.stats.sent for h in model.fleet.hosts)
        finally:
            model.close()
    return messages / wall, cpu / messages, scrapes


def _reloads(reloads: int) -> dict:
    from vpp.agents.ops.agent import OpsAgent
    from vpp.runs.ops.appliers import SwarmApplier
    from vpp.runs.ops.reload import ScenarioReloader

    data = bench_scenario(50, reloads + 2)
    with tempfile.TemporaryDirectory(prefix="vpp-bench-reload-") as tmp:
        path = Path(tmp) / "live.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        _, model = build_run(load(path), Path(tmp) / "run", scenario_path=path)
        ops = model.fleet.host.add(OpsAgent())
        reloader = ScenarioReloader(path, model.scenario, SwarmApplier(model, path), ops=ops,
                                    debounce_ms=20)
        steps = iter(range(model.steps))

        def step() -> None:  # as the runner steps: the reload applied before the step
            k = next(steps)
            reloader.before_step(k)
            model.step(k)
            reloader.after_step(k)

        detect = []
        try:
            step()
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
                step()
                expected = data["target"]["values_kw"][k + 1]
                if model.aggregator.outcomes[-1].target_kw != expected:
                    raise RuntimeError(f"reload {k}: the target was not applied")
        finally:
            reloader.close()
            model.close()
    applied = [r.reload_ms for r in reloader.records if r.error is None]
    return {"reloads": len(applied), "reload_ms": round(statistics.median(applied), 2),
            "reload_ms_max": round(max(applied), 2),
            "detect_ms": round(statistics.median(detect), 1)}


def run(sites: int = 200, steps: int = 96, pairs: int = 10, scrape_every_s: float = 1.0,
        reloads: int = 10) -> dict:
    """The overhead of metrics on swarm throughput (``pairs`` interleaved off/on pairs),
    and the time a reload takes."""
    scenario = parse(bench_scenario(sites, steps), "<bench>")
    _throughput(scenario, False, scrape_every_s)            # warm up imports and caches
    scrapes, cpu = [], {True: [], False: []}

    def measure(metrics_on: bool) -> float:
        rate, cpu_per_message, n = _throughput(scenario, metrics_on, scrape_every_s)
        scrapes.append(n)
        cpu[metrics_on].append(cpu_per_message)
        return rate

    # off-on, then on-off: a machine that gets busier or quieter favours neither
    got = interleave(lambda: measure(True), lambda: measure(False), pairs)
    cpu_pairs = Paired(cpu[True], cpu[False])
    return {
        "sites": sites, "steps": steps,
        "messages_per_s_off": round(statistics.median(got.second), 1),
        "messages_per_s_on": round(statistics.median(got.first), 1),
        # each pair's extra CPU of this process per message, in percent: 100 * (on/off - 1)
        **cpu_pairs.summary("metrics_overhead_pct", digits=2, scale=100.0, offset=-100.0),
        # each pair's throughput lost, in percent: 100 * (1 - on / off); wall time, so it
        # also moves with whatever else the machine runs
        **got.summary("metrics_overhead_wall_pct", digits=2, scale=-100.0, offset=100.0),
        "scrape_every_s": scrape_every_s, "scrapes": sum(scrapes),
        **_reloads(reloads),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
