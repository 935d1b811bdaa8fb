"""`timeout_ms` bounds the whole call to the solver engine: the checks, the plug-ins'
imports (cvxpy in a fresh process takes 1-2 s) and every plug-in tried share it, and the
result says whether the fallback was used."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vpp.coordination.planning import (
    OptimizationPlugin,
    OptimizationStatus,
    create_optimization_engine,
)
from vpp.coordination.planning.model import StochasticProblem
from vpp.coordination.planning.scenarios import generate_scenarios
from vpp.physics.battery import BatteryParams

ROOT = Path(__file__).resolve().parents[2]

FRESH = """
import json, sys, time
from vpp.coordination.planning import (CVaRStochasticPlugin, create_stochastic_problem,
                                       solve_with_fallback)
problem = create_stochastic_problem({"base_prices": [0.05, 0.04, 0.09, 0.12] * 6}, 10,
                                    {"seed": 1})
t0 = time.perf_counter()
r = solve_with_fallback(problem, CVaRStochasticPlugin(), timeout_ms=int(sys.argv[1]))
print(json.dumps({"wall_s": time.perf_counter() - t0, "status": r.status.value,
                  "solve_time": r.solve_time, "fallback_used": r.fallback_used,
                  "reason": r.fallback_reason, "power": r.solution["battery_power"],
                  "cvxpy_here": "cvxpy" in sys.modules}))
"""


def _fresh(timeout_ms: int) -> dict:
    out = subprocess.run([sys.executable, "-c", FRESH, str(timeout_ms)], capture_output=True,
                         text=True, check=True, cwd=str(ROOT), timeout=60)
    return json.loads(out.stdout)


def test_a_fresh_process_returns_within_its_timeout_with_cvxpy_still_to_import():
    for timeout_ms in (1000, 300):
        got = _fresh(timeout_ms)
        bound = timeout_ms / 1000.0 + 0.1
        assert got["wall_s"] <= bound and got["solve_time"] <= bound, got
        # the caller's process never imported cvxpy: the plug-in's child did, under the clock
        assert got["cvxpy_here"] is False
        assert len(got["power"]) == 24
        if got["fallback_used"]:
            assert got["status"] == "fallback_used"
            assert "cvar_stochastic timed out" in got["reason"]
            assert f"within the {timeout_ms} ms timeout" in got["reason"]
        else:                       # a fast machine: cvxpy imported and solved in time
            assert got["status"] == "success" and got["reason"] is None
    # 300 ms is not enough to import cvxpy, let alone solve: the fallback, labelled
    assert got["fallback_used"] is True


class Hangs(OptimizationPlugin):
    def __init__(self, name):
        super().__init__(name)

    def solve(self, problem, timeout_ms=None):
        time.sleep(60)


def test_plugins_tried_in_turn_share_one_timeout():
    problem = StochasticProblem(BatteryParams(2000.0, 500.0, 500.0),
                                generate_scenarios(np.full(24, 100.0), count=5, seed=2))
    engine = create_optimization_engine("standard")
    for name in ("first", "second", "third"):
        engine.register_plugin(Hangs(name))
    t0 = time.perf_counter()
    result = engine.solve(problem, timeout_ms=600)
    elapsed = time.perf_counter() - t0
    assert elapsed <= 0.7                 # not 3 x 600 ms
    assert result.status is OptimizationStatus.FALLBACK_USED and result.fallback_used
    reason = result.fallback_reason
    assert "first timed out: no answer within the 600 ms timeout" in reason
    # the first used the time up to 30 ms before the end (the fallback's reserve)
    left = int(reason.split("(")[1].split(" ms were left")[0])
    assert 560 <= left <= 570
    assert ("plug-in second timed out before it started: nothing was left of the 600 ms "
            "timeout") in reason
    assert "plug-in third timed out before it started" in reason
