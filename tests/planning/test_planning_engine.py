"""The solver engine: a hung plug-in is abandoned at its timeout, a raising one is reported
with its error, a lying one is rejected, and the fallback says so and what it costs."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pytest

from vpp.coordination.planning import (
    CVaRStochasticPlugin,
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    create_optimization_engine,
    solve_with_fallback,
)
from vpp.coordination.planning.engine import PluginError, load_plugin, register_plugin_class
from vpp.coordination.planning.model import StochasticProblem
from vpp.coordination.planning.rules import rule_based_plan
from vpp.coordination.planning.scenarios import generate_scenarios
from vpp.physics.battery import BatteryParams

PRICE = np.array([0.1, 0.15, 0.12, 0.08] * 6) * 1000.0


@pytest.fixture(scope="module")
def problem():
    return StochasticProblem(BatteryParams(2000.0, 500.0, 500.0),
                             generate_scenarios(PRICE, count=20, seed=2))


class Hangs(OptimizationPlugin):
    def __init__(self):
        super().__init__("hangs")

    def solve(self, problem, timeout_ms=None):
        time.sleep(60)
        raise AssertionError("not reached")


class Raises(OptimizationPlugin):
    def __init__(self):
        super().__init__("raises")

    def solve(self, problem, timeout_ms=None):
        raise ValueError("no licence for the expert solver")


class Dies(OptimizationPlugin):
    def __init__(self):
        super().__init__("dies")

    def solve(self, problem, timeout_ms=None):
        os._exit(3)


class CreatesEnergy(OptimizationPlugin):
    """Discharges at full power all day from a half-full battery and calls it a success."""

    def __init__(self):
        super().__init__("creates_energy")

    def solve(self, problem, timeout_ms=None):
        return OptimizationResult(status=OptimizationStatus.SUCCESS, objective_value=-1e6,
                                  solution={"battery_power": [500.0] * problem.horizon})


class GivesUp(OptimizationPlugin):
    def __init__(self):
        super().__init__("gives_up")

    def solve(self, problem, timeout_ms=None):
        return OptimizationResult(status=OptimizationStatus.INFEASIBLE, objective_value=0.0,
                                  metadata={"error": "model says no"})


def _plugin_children():
    return [p for p in multiprocessing.active_children() if p.name.startswith("plugin-")]


def test_a_hung_plugin_is_abandoned_at_its_timeout(problem):
    t0 = time.perf_counter()
    result = solve_with_fallback(problem, Hangs(), timeout_ms=400)
    elapsed = time.perf_counter() - t0
    # at the timeout (less the fallback's 20 ms reserve), not after the plug-in's 60 s
    assert 0.38 <= elapsed < 10.0
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert result.fallback_used
    assert "hangs timed out: no answer within the 400 ms timeout" in result.fallback_reason
    assert "killed" in result.fallback_reason
    assert _plugin_children() == []        # the child is gone, not left running
    rules = rule_based_plan(problem)
    assert result.objective_value == pytest.approx(rules.expected_cost_eur)
    assert result.metadata["fallback_cost"] == pytest.approx(rules.expected_cost_eur)
    assert result.method.startswith("rules")
    assert result.solution["battery_power"] == pytest.approx(rules.power_kw.tolist())


def test_a_raising_plugin_is_reported_with_its_error(problem):
    result = solve_with_fallback(problem, Raises(), timeout_ms=5000)
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert result.plugin_error == "ValueError: no licence for the expert solver"
    assert "raises failed: ValueError: no licence" in result.fallback_reason
    assert result.objective_value < 0            # the fallback still earns


def test_a_dying_plugin_is_reported_with_its_exit_code(problem):
    result = solve_with_fallback(problem, Dies(), timeout_ms=5000)
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert "exit code 3" in result.fallback_reason


def test_a_plan_that_creates_energy_is_rejected(problem):
    result = solve_with_fallback(problem, CreatesEnergy(), timeout_ms=5000)
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert "creates_energy's solution was rejected" in result.fallback_reason
    assert "below" in result.fallback_reason            # stored energy falls below soc_min


def test_a_non_success_status_falls_back_and_says_why(problem):
    result = solve_with_fallback(problem, GivesUp(), timeout_ms=5000)
    assert "returned status infeasible: model says no" in result.fallback_reason


def test_the_next_plugin_is_tried_before_the_fallback(problem):
    engine = create_optimization_engine()
    engine.register_plugin(Raises())
    engine.register_plugin(CVaRStochasticPlugin(risk_weight=0.0))
    result = engine.solve(problem, timeout_ms=20_000)
    assert result.status is OptimizationStatus.SUCCESS
    assert not result.fallback_used
    assert result.method == "cvar_stochastic"
    assert result.metadata["checked_expected_cost"] == pytest.approx(result.objective_value)
    assert "raises failed: ValueError" in result.metadata["plugins_passed_over"][0]
    assert result.objective_value <= rule_based_plan(problem).expected_cost_eur + 1e-6


def test_without_a_plugin_the_kind_solver_runs_not_the_rules(problem):
    result = solve_with_fallback(problem, timeout_ms=20_000)
    assert result.status is OptimizationStatus.SUCCESS
    assert result.method == "cvar_stochastic"
    assert max(result.solution["discharge_kw"]) > 0


def test_forced_fallback_says_forced(problem):
    result = create_optimization_engine().solve(problem, force_fallback=True)
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert result.fallback_reason == "forced"


def test_plugins_are_found_by_name_path_and_registration():
    assert isinstance(load_plugin("cvar", risk_level=0.1), CVaRStochasticPlugin)
    with pytest.raises(PluginError, match="--allow-plugins"):
        load_plugin("vpp.coordination.planning.stochastic:CVaRStochasticPlugin")
    plugin = load_plugin("vpp.coordination.planning.stochastic:CVaRStochasticPlugin",
                         allow_import=True)
    assert plugin.name == "cvar_stochastic"
    register_plugin_class("test-hangs", Hangs)
    assert isinstance(load_plugin("test-hangs"), Hangs)
    with pytest.raises(PluginError, match="no optimizer plug-in named 'nope'"):
        load_plugin("nope")
    with pytest.raises(PluginError, match="does not take the parameters"):
        load_plugin("cvar", colour="red")
    with pytest.raises(PluginError, match="not an OptimizationPlugin"):
        register_plugin_class("bad", dict)


def test_bad_engine_type_and_problem_are_errors():
    with pytest.raises(ValueError, match="engine_type"):
        create_optimization_engine("turbo")
    with pytest.raises(TypeError, match="not a planning problem"):
        solve_with_fallback({"base_prices": [1.0]})


def test_spawned_children_report_errors_too(problem):
    from vpp.coordination.planning.engine import OptimizationEngine

    engine = OptimizationEngine(start_method="spawn")
    engine.register_plugin(Raises())
    result = engine.solve(problem, timeout_ms=30_000)
    assert result.plugin_error == "ValueError: no licence for the expert solver"
    assert result.status is OptimizationStatus.FALLBACK_USED


class Idles(OptimizationPlugin):
    """Returns numpy values (they cross the process boundary as lists): an idle battery."""

    def __init__(self):
        super().__init__("idles")

    def solve(self, problem, timeout_ms=None):
        return OptimizationResult(status=OptimizationStatus.SUCCESS,
                                  objective_value=np.float64(123.0),
                                  solution={"battery_power": np.zeros(problem.horizon)})


def test_an_idle_plan_is_accepted_but_rescored(problem):
    result = solve_with_fallback(problem, Idles(), timeout_ms=5000)
    assert result.status is OptimizationStatus.SUCCESS and result.method == "idles"
    assert result.solution["battery_power"] == [0.0] * problem.horizon
    # the plug-in says 123; the engine's own score of an idle battery is 0 (no renewables)
    assert result.objective_value == 123.0
    assert result.metadata["checked_expected_cost"] == pytest.approx(0.0)
