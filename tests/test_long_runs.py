"""Long runs in bounded memory: a run of many steps keeps a window of its step outcomes,
sums its totals as it goes (the same numbers as over every outcome), and holds memory
flat while its tables are streamed to disk."""

from __future__ import annotations

import csv
import gc
import random
import tracemalloc

import pytest
from vpp.agents.merit_order.history import OutcomeHistory, RunningSum
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.modes.merit_order.mode import (
    OUTCOME_WINDOW,
    OUTCOMES_KEPT_WHOLE,
    MeritOrderMode,
    outcome_window,
)
from vpp.runs.runner import build_run, run_scenario
from vpp.runs.scenario import parse


def test_a_running_sum_is_the_sum_of_the_list_to_the_last_bit():
    rng = random.Random(16)
    for _ in range(300):
        xs = [rng.uniform(-1e6, 1e6) * rng.choice((1.0, 1e-9, 1e9))
              for _ in range(rng.randint(0, 400))]
        running = RunningSum()
        for x in xs:
            running.add(x)
        assert repr(running.value) == repr(sum(xs))
    assert RunningSum().value == 0 and type(RunningSum().value) is int   # as sum([])


def test_the_window_is_used_past_the_stated_size_and_only_there():
    assert outcome_window(OUTCOMES_KEPT_WHOLE, {}) is None
    assert outcome_window(OUTCOMES_KEPT_WHOLE + 1, {}) == OUTCOME_WINDOW
    assert outcome_window(10, {"outcome_window": 4}) == 4
    with pytest.raises(ValueError):
        OutcomeHistory(0)


def _column_sum(rows, name):
    return sum(float(r[name]) for r in rows)


def test_a_run_past_its_window_has_the_totals_of_every_step(tmp_path):
    scenario = parse(bench_scenario(4, 60), "<long>")
    result = run_scenario(scenario, tmp_path / "run", outcome_window=8)
    summary, agg = result.summary, result.run.aggregator
    assert summary["outcomes_window"] == {"kept": 8, "window": 8, "dropped": 52}
    assert [o.step for o in agg.outcomes] == list(range(52, 60))   # the last 8, in order
    rows = dict(MeritOrderMode().summary_rows(summary))              # and the terminal says so
    assert rows["step outcomes held"].startswith("the last 8 (a window of 8")
    with open(tmp_path / "run" / "steps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary["steps"] == agg.history.totals.steps == 60
    dt_h = scenario.dt_h
    # the same additions in the same order as the rows: equal, not close
    assert summary["target_kwh"] == sum(abs(float(r["target_kw"])) for r in rows) * dt_h
    assert summary["served_kwh"] == sum(abs(float(r["served_kw"])) for r in rows) * dt_h
    assert summary["unserved_kwh"] == _column_sum(rows, "unserved_kw") * dt_h
    assert summary["cost_eur"] == _column_sum(rows, "cost_eur")
    assert summary["reserve_shortfall_kwh"] == sum(
        float(r["reserve_target_kw"]) - float(r["reserve_served_kw"]) for r in rows) * dt_h
    assert summary["rounds"] == sum(int(r["rounds"]) for r in rows)
    assert summary["declines"] == sum(int(r["declined"]) for r in rows)
    assert summary["steps_with_unserved"] == sum(float(r["unserved_kw"]) > 0 for r in rows)


def test_a_normal_run_keeps_every_outcome_and_says_nothing_of_a_window(tmp_path):
    result = run_scenario(parse(bench_scenario(3, 12), "<short>"), tmp_path / "run")
    assert "outcomes_window" not in result.summary
    assert "step outcomes held" not in dict(MeritOrderMode().summary_rows(result.summary))
    outcomes = result.run.aggregator.outcomes
    assert isinstance(outcomes, list) and [o.step for o in outcomes] == list(range(12))


#: Python memory a windowed run may still gain per 1,000 steps (a few sites). Keeping
#: every outcome, these 3 sites gain about 1,600 KiB per 1,000 steps; windowed, about 20-35.
GROWTH_BOUND_KIB_PER_1000_STEPS = 128.0


def test_memory_is_flat_over_a_long_run(tmp_path):
    steps, warm = 1400, 200
    scenario = parse(bench_scenario(3, steps), "<flat>")
    _, run = build_run(scenario, tmp_path / "run", outcome_window=OUTCOME_WINDOW)
    tracemalloc.start()
    try:
        for k in range(warm):              # the window full, the caches warm
            run.step(k)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for k in range(warm, steps):
            run.step(k)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        run.close()
    growth_kib = (after - before) / 1024 / (steps - warm) * 1000
    assert growth_kib < GROWTH_BOUND_KIB_PER_1000_STEPS, growth_kib
    assert len(run.aggregator.outcomes) == OUTCOME_WINDOW
    assert run.aggregator.history.totals.steps == steps
