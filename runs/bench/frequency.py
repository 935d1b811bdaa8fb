"""``vpp bench frequency``: one site's decision (us) and the fan-out of a frequency sample
to N sites (ms: published -> every site decided and applied its set-point).

The decision is timed call by call on a frequency trajectory that crosses the deadband,
the droop, the UFLS stages and their restoration; a numpy ``interp`` droop, the obvious
vectorised alternative, is timed alongside as the baseline. The fan-out runs the real
protocol (grid agent, site agents, PUB/SUB, every site metering its answer back).
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

from vpp.agents.frequency.grid import SwingSource, publish_until_answered
from vpp.physics.frequency import GridParams, LossOfInfeed
from vpp.runs.bench.frequency_site import bench_sites, make_rule, percentile
from vpp.runs.modes.grid_event.rig import FrequencyRig


def trajectory(n: int = 2000, f0: float = 50.0) -> list[tuple[float, float]]:
    """(t, f) samples at 0.1 s: calm, a dip to f0 - 1.3 Hz and a slow recovery."""
    out = []
    for k in range(n):
        t = 0.1 * k
        phase = (k % 400) / 400.0
        dip = 1.3 * math.sin(math.pi * phase) ** 2 if phase < 0.5 else 0.05 * (1 - phase)
        out.append((t, f0 - dip + 0.01 * math.sin(7.0 * t)))
    return out


def decision_timing(samples: int = 20_000) -> dict:
    """Per-decision microseconds (p50, p99) and the numpy baseline's p50."""
    import numpy as np

    rule = make_rule()
    traj = trajectory(samples)
    clock = time.perf_counter_ns
    empty = []
    for _ in range(samples):
        a = clock()
        empty.append(clock() - a)
    overhead = statistics.median(empty)
    times = []
    decide = rule.decide
    for t, f in traj:
        a = clock()
        decide(t, f)
        times.append(clock() - a - overhead)
    xs = np.array([-0.5, -0.2, -0.015, 0.015, 0.2, 0.5]) + 50.0
    ys = np.array([1.0, 0.05, 0.0, 0.0, -0.05, -1.0])
    base = []
    for _, f in traj[: samples // 4]:
        a = clock()
        float(np.interp(f, xs, ys)) * 100.0
        base.append(clock() - a - overhead)
    return {"decision_us_p50": round(percentile(times, 0.5) / 1e3, 3),
            "decision_us_p99": round(percentile(times, 0.99) / 1e3, 3),
            "numpy_interp_baseline_us_p50": round(percentile(base, 0.5) / 1e3, 3),
            "timer_overhead_us": round(overhead / 1e3, 3)}


def fanout_inproc(n: int, samples: int, transport: str = "inproc", trace: bool = False) -> dict:
    """Publish ``samples`` samples of a loss-of-infeed event to ``n`` sites in one process
    (``trace``: every message recorded, as in a run, into a temporary folder)."""
    last = [0]

    def applied(seq: int) -> None:
        last[0] = time.perf_counter_ns()

    params = GridParams(f0_hz=50.0, inertia_h_s=4.0, s_base_mw=max(n * 2.0, 10.0),
                        events=(LossOfInfeed(1.0, n * 0.2),))
    tmp = tempfile.TemporaryDirectory(prefix="vpp-bench-frequency-") if trace else None
    rig = FrequencyRig(SwingSource(params), bench_sites(n, applied), sample_period_s=0.1,
                       transport=transport, run_dir=Path(tmp.name) if tmp else None)
    grid, loop = rig.grid, rig.loop
    lat = []
    late = 0
    try:
        if not publish_until_answered(loop, grid, 10.0):
            raise RuntimeError("the sites never answered the first sample")
        # the agents live as long as the process: keep them out of the collector's scans
        gc.collect()
        gc.freeze()
        for _ in range(samples):
            grid.advance()
            rig.clock.advance_to(grid.source.t_s)
            t0 = time.perf_counter_ns()
            grid.publish_sample()
            if not loop.run_until(grid.all_answered, 5.0):
                late += 1
                continue
            lat.append((last[0] - t0) / 1e6)
        dropped = rig.grid_host.stats.dropped_total + rig.site_host.stats.dropped_total
    finally:
        rig.close()
        gc.unfreeze()
        if tmp is not None:
            tmp.cleanup()
    return {"fanout_ms_p50": round(percentile(lat, 0.5), 3), "fanout_ms_p99": round(percentile(lat, 0.99), 3),
            "samples": samples, "late_samples": late, "dropped": dropped}


def run(sites: int, samples: int = 200, transport: str = "inproc", processes: int = 1,
        trace: bool = False) -> dict:
    """The decision and fan-out figures for ``sites`` sites, in this process or (``tcp``)
    spread over ``processes`` site processes (``trace``: in this process only)."""
    out = {"sites": sites, "transport": transport, "processes": processes,
           "trace": trace and processes == 1,
           "load_average_1min": round(os.getloadavg()[0], 2)}
    out.update(decision_timing())
    if processes > 1:
        from vpp.runs.bench import frequency_procs

        out.update(frequency_procs.run(sites, processes, samples))
    else:
        out.update(fanout_inproc(sites, samples, transport, trace))
    return out
