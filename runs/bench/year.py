"""``vpp bench year``: a 15-minute year (35,040 steps) of a generated fleet, run and
recorded as ``vpp run`` records it (``steps.csv`` and ``sites.csv`` streamed, traced at
the level ``vpp run`` gives the year: ``rounds`` for 1,000 sites, whatever the length of
the slice run): wall time, peak memory, and whether memory stays flat over the run.

The baseline is measured in the same run: the resident memory's growth per 1,000 steps
over the first half of the steps against the second (flat: near 0 in the second half),
and what the step outcomes would hold were they all kept (one outcome's size times the
year's steps). ``--steps N`` runs the first N steps of the year (the run keeps the same
window of outcomes the year does); the year's time and trace size are then extrapolated
from them, and the JSON says so (``extrapolated``).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.modes.merit_order.mode import OUTCOME_WINDOW
from vpp.runs.record.trace_level import choose_level
from vpp.runs.runner import AfterEachStep, run_scenario
from vpp.runs.scenario import parse

YEAR_STEPS = 35_040        # 365 days of 96 fifteen-minute steps
_PAGE = os.sysconf("SC_PAGE_SIZE")
_MIB = 1024 * 1024


def year_scenario(sites: int, steps: int = YEAR_STEPS, seed: int = 0) -> dict:
    """The generated fleet of ``vpp bench swarm`` (a generator and a store a site) over
    ``steps`` fifteen-minute steps, its target a daily wave."""
    spec = bench_scenario(sites, 1, seed)
    day = np.sin(2 * np.pi * np.arange(steps) / 96)
    spec.update(name=f"year-{sites}", steps=steps,
                target={"values_kw": (60.0 * sites * (0.6 + 0.5 * day)).tolist()})
    return spec


def _rss() -> int:
    """This process's resident memory (bytes)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def _outcome_bytes(outcome: Any) -> int:
    """About what one step outcome holds (the object, its dicts and their values; the
    site names are shared with the rest of the run and not counted)."""
    size = sys.getsizeof(outcome)
    for value in (outcome.site_power_kw, outcome.site_reserve_kw, outcome.site_cost_eur,
                  outcome.declined, outcome.silent):
        size += sys.getsizeof(value)
        items = value.values() if isinstance(value, dict) else value
        size += sum(sys.getsizeof(v) for v in items)
    return size


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(sites: int = 1000, steps: int = YEAR_STEPS, seed: int = 0,
        trace: str | None = None) -> dict:
    """Run ``steps`` steps (the year by default) of a ``sites``-site fleet at trace level
    ``trace`` (None: the year's default by its size, whatever the slice's length,
    :mod:`vpp.runs.record.trace_level`: ``rounds`` for 1,000 sites); return wall
    time, peak and sampled resident memory, growth per 1,000 steps in each half, the
    record's size on disk, and the year's figures extrapolated from a shorter slice."""
    if sites < 1 or steps < 4:
        raise ValueError("expected at least 1 site and 4 steps")
    scenario = parse(year_scenario(sites, steps, seed), "<bench year>")
    level = choose_level(trace, scenario, steps=YEAR_STEPS)[0].text  # the year's, by its size
    half = steps // 2
    rss: dict[int, int] = {}

    def sample(done: int) -> None:
        if done in (1, half, steps):
            rss[done] = _rss()

    with tempfile.TemporaryDirectory(prefix="vpp-bench-year-") as tmp:
        out = Path(tmp) / "run"
        rss_start = _rss()
        t0 = time.perf_counter()
        # the window a year's run keeps, whatever the slice's length
        result = run_scenario(scenario, out, hooks=[AfterEachStep(sample)],
                              outcome_window=OUTCOME_WINDOW, trace=level)
        wall = time.perf_counter() - t0
        summary = result.summary
        trace_bytes = _dir_bytes(out / "trace")
        tables_bytes = sum((out / f).stat().st_size for f in ("steps.csv", "sites.csv"))
        outcome_bytes = _outcome_bytes(result.run.aggregator.outcomes[-1])
    # the kernel's high-water mark (KiB on Linux), or a sample when that is higher (the
    # two count a little differently)
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, *rss.values())
    per_1000 = lambda a, b: round((rss[b] - rss[a]) / _MIB / (b - a) * 1000, 3)
    steps_s = summary["steps_s"]
    extrapolated = steps < YEAR_STEPS
    scale = YEAR_STEPS / steps
    return {
        "sites": sites, "steps": steps, "year_steps": YEAR_STEPS, "trace": level,
        "wall_s": round(wall, 3), "build_s": summary["build_s"], "steps_s": steps_s,
        "step_ms": round(steps_s / steps * 1000, 3),
        "messages": summary["messages"],
        "peak_rss_mib": round(peak / _MIB, 1),
        "rss_start_mib": round(rss_start / _MIB, 1),
        "rss_first_step_mib": round(rss[1] / _MIB, 1),
        "rss_half_mib": round(rss[half] / _MIB, 1),
        "rss_end_mib": round(rss[steps] / _MIB, 1),
        "rss_growth_mib_per_1000_steps_first_half": per_1000(1, half),
        "rss_growth_mib_per_1000_steps_second_half": per_1000(half, steps),
        "outcomes_window": summary.get("outcomes_window"),
        "outcome_kib": round(outcome_bytes / 1024, 1),
        "outcomes_year_mib_if_all_kept": round(outcome_bytes * YEAR_STEPS / _MIB, 1),
        "trace_mib": round(trace_bytes / _MIB, 1),
        "tables_mib": round(tables_bytes / _MIB, 1),
        "extrapolated": extrapolated,
        **({"year_steps_s_extrapolated": round(steps_s * scale, 1),
            "year_wall_s_extrapolated": round(wall + steps_s * (scale - 1), 1),
            "year_trace_gib_extrapolated": round(trace_bytes * scale / _MIB / 1024, 2),
            "year_tables_gib_extrapolated": round(tables_bytes * scale / _MIB / 1024, 2),
            "note": (f"ran the first {steps} of the year's {YEAR_STEPS} steps; the year_* "
                     "figures are extrapolated linearly from them")}
           if extrapolated else {}),
    }
