"""``vpp bench spawn``: site processes ready and torn down, warm fork server vs fresh.

*Ready* means registered with an aggregator (the ``Welcome`` sent): the process forked,
built its sites, connected and joined. *Teardown* is ``Stop`` to every process until the
last one has exited. The baseline starts the same processes as fresh interpreters
(``multiprocessing`` "spawn"), by default for fewer processes (it is slow).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml
from vpp.agents.membership.coordinator import LinkSettings
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.modes.base import RunContext
from vpp.runs.placement.remote import RemoteFleet, RemotePlacement
from vpp.runs.placement.spawn import SiteGroup, SiteSpawner
from vpp.runs.scenario import load


def _measure(method: str, processes: int, tmp: Path) -> dict:
    path = tmp / f"bench-{method}-{processes}.yaml"
    path.write_text(yaml.safe_dump(bench_scenario(processes, 1)))
    scenario = load(path)
    groups = [SiteGroup(f"sites-{i + 1}", (name,))
              for i, name in enumerate(scenario.site_names())]
    settings = LinkSettings()
    t0 = time.perf_counter()
    spawner = SiteSpawner(method=method)
    server_s = time.perf_counter() - t0
    out = tmp / f"run-{method}"
    placement = RemotePlacement(f"ipc://{tmp}/agg-{method}", settings=settings,
                                join_timeout_s=300)
    agg = RemoteFleet(scenario, RunContext(out, scenario.seed, path, placement), placement)
    try:
        t1 = time.perf_counter()
        spawner.start(scenario, str(path), groups, agg.endpoint, out_dir=out,
                      settings=settings)
        started_s = time.perf_counter() - t1
        agg.wait_for_sites(abort=spawner.failed)
        ready_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        unstopped = agg.stop_sites("bench over")
        codes = spawner.join(30.0)
        teardown_s = time.perf_counter() - t2
    finally:
        agg.close()
        spawner.stop()
    return {"server_s": server_s, "started_s": started_s, "ready_s": ready_s,
            "teardown_s": teardown_s,
            "clean": not unstopped and codes == [0] * processes}


def run(processes: int = 50, baseline_processes: int = 10) -> dict:
    """Seconds until ``processes`` site processes (one site each) have joined, and until
    they have all exited after ``Stop``; the same for fresh interpreters as a baseline."""
    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as tmp:
        warm = _measure("forkserver", processes, Path(tmp))
        result = {
            "processes": processes,
            "ready_s": warm["ready_s"],
            "teardown_s": warm["teardown_s"],
            "ready_ms_per_process": 1000.0 * warm["ready_s"] / processes,
            "fork_server_start_s": warm["server_s"],
            "start_calls_s": warm["started_s"],
            "clean_exit": warm["clean"],
        }
        if baseline_processes > 0:
            fresh = _measure("spawn", baseline_processes, Path(tmp))
            result.update({
                "baseline_processes": baseline_processes,
                "baseline_ready_s": fresh["ready_s"],
                "baseline_teardown_s": fresh["teardown_s"],
                "baseline_ready_ms_per_process": 1000.0 * fresh["ready_s"] / baseline_processes,
                "baseline_clean_exit": fresh["clean"],
            })
    return result
