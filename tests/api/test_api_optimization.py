"""``vpp.optimization``: the reference library's quick-start snippets run as written, and
their numbers are checked against independent calculations."""

from __future__ import annotations

import cvxpy  # noqa: F401  (imported first: the snippet's 1 s timeout then times the solve)
import numpy as np
import pytest

import vpp.optimization as vo
from vpp.coordination.planning.mpc import run_mpc

PRICES = np.array([0.1, 0.15, 0.12, 0.08] * 6) * 1000.0        # EUR (or $) per MWh
RENEWABLE = np.array([100, 150, 200, 120] * 6, dtype=float)      # kW


def _cvar(costs: np.ndarray, p: np.ndarray, alpha: float) -> float:
    """CVaR of a discrete distribution written out here: the mean of the worst alpha tail."""
    order = np.argsort(-costs)
    left, total = alpha, 0.0
    for i in order:
        take = min(p[i], left)
        total += take * costs[i]
        left -= take
        if left <= 1e-15:
            break
    return total / alpha


def _site_costs(problem, battery_kw) -> np.ndarray:
    """Each scenario's cost of the site, EUR: no load; curtailing is free, so renewables are
    sold only at a price above zero; no grid limits."""
    sc = problem.scenarios
    assert (sc.load_kw == 0).all() and problem.curtail_eur_mwh == 0
    assert problem.import_max_kw is None and problem.export_max_kw is None
    grid = np.where(sc.price_eur_mwh < 0, 0.0, sc.renewable_kw) + np.asarray(battery_kw)
    return -(sc.price_eur_mwh * grid).sum(axis=1) * sc.dt_h / 1000.0


def test_every_name_of_the_quick_start_is_exported():
    for name in ("create_stochastic_problem", "solve_with_fallback", "CVaRStochasticPlugin",
                 "create_realtime_problem", "create_distributed_problem", "OptimizationPlugin",
                 "OptimizationResult", "OptimizationStatus", "create_optimization_engine",
                 "benchmark_optimization_methods"):
        assert name in vo.__all__ and hasattr(vo, name)


def test_stochastic_snippet_plans_at_least_as_well_as_the_alternatives(run_snippet):
    ns, out = run_snippet("stochastic")
    problem, result = ns["problem"], ns["result"]
    assert result.status is vo.OptimizationStatus.SUCCESS, result.fallback_reason
    assert "Status: " in out and f"Optimal cost: ${result.objective_value:.2f}" in out
    p, w, alpha = problem.scenarios.probability, problem.risk_weight, problem.risk_level
    power = np.array(result.solution["battery_power"])
    costs = _site_costs(problem, power)
    # the reported cost is the plan's expected cost over the scenarios, worked out here
    assert result.objective_value == pytest.approx(p @ costs, rel=1e-9)
    assert result.solution["cvar"] == pytest.approx(_cvar(costs, p, alpha), rel=1e-6)
    objective = (1 - w) * (p @ costs) + w * _cvar(costs, p, alpha)
    # the LP minimizes (1 - w) E + w CVaR: no other feasible plan does better
    rules = vo.create_optimization_engine().solve(problem, force_fallback=True)
    neutral = vo.solve_with_fallback(problem, vo.CVaRStochasticPlugin(risk_weight=0.0),
                                     timeout_ms=20_000)
    for other in (rules, neutral):
        c = _site_costs(problem, other.solution["battery_power"])
        assert objective <= (1 - w) * (p @ c) + w * _cvar(c, p, alpha) + 1e-6
    soc = np.array(result.solution["state_of_charge"])
    assert soc.min() >= 0.1 - 1e-9 and soc.max() <= 0.9 + 1e-9 and soc[-1] >= 0.5 - 1e-9


def test_realtime_snippet_injects_on_under_frequency(run_snippet):
    ns, out = run_snippet("realtime")
    solution = ns["result"].solution
    # 60 Hz grid, 150 mHz low, 10 mHz deadband, 5 % droop of 60 Hz, 250 kW rating
    expected = (0.15 - 0.01) / (0.05 * 60.0) * 250.0
    assert solution["battery_power_setpoint"] == pytest.approx(expected)
    assert solution["battery_power_setpoint"] > 0           # positive = injection
    assert solution["frequency_response_active"] is True
    assert f"Battery response: {expected:.1f} kW" in out


def test_multi_site_snippet_dispatches_the_cheaper_site_first(run_snippet):
    ns, out = run_snippet("multi_site")
    result = ns["result"]
    assert result.solution["target_power"] == {"wind_farm_texas": 650.0,
                                               "solar_storage_california": 150.0}
    assert result.objective_value == pytest.approx((650 * 60 + 150 * 80) / 1000)
    # the 200 kW reserve is the headroom of the dearer site (400 - 150 = 250 kW left)
    assert result.solution["reserve_served_kw"] == pytest.approx(200.0)
    assert "  wind_farm_texas: 650.0 kW" in out and "solar_storage_california: 150.0 kW" in out


def test_plugin_snippet_result_comes_back_when_its_plan_is_feasible(run_snippet):
    base = {"base_prices": list(PRICES / 1000), "renewable_forecast": list(RENEWABLE),
            "battery_capacity": 2000.0, "max_power": 500.0}
    # a battery that starts full and may end low can follow the plug-in's draining plan
    problem = vo.create_stochastic_problem({**base, "initial_soc": 0.9, "final_soc": 0.1},
                                           num_scenarios=20)
    result = run_snippet("plugin", problem=problem)[0]["result"]
    assert result.status is vo.OptimizationStatus.SUCCESS and not result.fallback_used
    assert result.method == "my_advanced_optimizer"
    assert result.objective_value == 150.75
    assert result.solution["battery_power"] == [100, -50, 0, 75] * 6
    expected = problem.scenarios.probability @ _site_costs(problem, [100, -50, 0, 75] * 6)
    assert result.metadata["checked_expected_cost"] == pytest.approx(expected, rel=1e-9)


def test_plugin_snippet_plan_that_drains_the_battery_is_refused_with_the_reason(run_snippet):
    ns, _ = run_snippet("stochastic")
    result = run_snippet("plugin", problem=ns["problem"])[0]["result"]
    assert result.status is vo.OptimizationStatus.FALLBACK_USED
    # from 1000 kWh, each 4 hours: -100/0.95 + 50*0.95 - 75/0.95 kWh, six times
    low = 1000 - 6 * (175 / 0.95 - 50 * 0.95)
    assert f"stored energy falls to {low:.3f} kWh, below 200.000" in result.fallback_reason
    assert "my_advanced_optimizer" in result.fallback_reason


def test_benchmark_snippet_mpc_matches_the_mpc_run_directly(run_snippet):
    bench, out = run_snippet("benchmark", **run_snippet("stochastic")[0])
    stats, problem = bench["stats"], bench["problem"]
    assert "  Success rate: 100.0%" in out
    assert list(stats) == ["rules", "cvar", "mpc"]
    for metrics in stats.values():
        assert metrics["success_rate"] == 1.0 and metrics["avg_solve_time"] > 0
    # the MPC on the problem's only forecast (the expected price), run here directly
    expected = problem.scenarios.expected_price()

    def forecast(step, horizon):
        return expected[np.minimum(np.arange(step, step + horizon), len(expected) - 1)]

    direct = run_mpc(expected, problem.storage, horizon=24, forecast=forecast)
    sc = problem.scenarios
    renewables = -(sc.probability @ (np.maximum(sc.price_eur_mwh, 0.0) * sc.renewable_kw)).sum()
    assert stats["mpc"]["avg_objective"] == pytest.approx(
        direct.closed_loop_cost_eur + renewables / 1000.0, rel=1e-9)
    assert stats["mpc"]["methods_used"] == ["mpc"]
    # without new information on the way the closed loop earns what perfect foresight on
    # the expected price earns, and at least what the risk-averse CVaR plan expects
    assert direct.closed_loop_cost_eur == pytest.approx(direct.perfect_foresight_cost_eur,
                                                        abs=1e-6)
    assert stats["mpc"]["avg_objective"] <= stats["cvar"]["avg_objective"] + 1e-6


def test_benchmark_names_what_it_cannot_do():
    problem = vo.create_realtime_problem({"grid_frequency": 50.0, "battery_soc": 0.5})
    with pytest.raises(ValueError, match="'mpc' needs a stochastic problem"):
        vo.benchmark_optimization_methods(problem, methods=["mpc"], num_runs=1)
    with pytest.raises(ValueError, match="unknown method 'lp'.*mpc"):
        vo.benchmark_optimization_methods(problem, methods=["lp"], num_runs=1)
    limited = vo.create_stochastic_problem({"base_prices": [0.1, 0.2], "grid_import_limit": 10})
    with pytest.raises(ValueError, match="grid limits"):
        vo.benchmark_optimization_methods(limited, methods=["mpc"], num_runs=1)
