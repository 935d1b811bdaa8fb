"""The reference library's quick-start calls: same names, same meaning, right answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vpp.coordination import planning
from vpp.coordination.planning import (
    CVaRStochasticPlugin,
    OptimizationStatus,
    benchmark_optimization_methods,
    create_distributed_problem,
    create_realtime_problem,
    create_stochastic_problem,
    solve_with_fallback,
)
from vpp.coordination.planning.distributed import DistributedProblem, SiteOffer
from vpp.physics.battery import BatteryParams

BASE = {"base_prices": [0.1, 0.15, 0.12, 0.08] * 6,
        "renewable_forecast": [100, 150, 200, 120] * 6,
        "battery_capacity": 2000.0, "max_power": 500.0}
SITES = [{"site_id": "wind_farm_1", "total_capacity": 500, "available_capacity": 400,
          "marginal_cost": 0.08, "location": "Texas"},
         {"site_id": "solar_storage_1", "total_capacity": 300, "available_capacity": 250,
          "marginal_cost": 0.12, "location": "California"}]


def test_every_quick_start_name_is_exported():
    for name in ("create_stochastic_problem", "create_realtime_problem",
                 "create_distributed_problem", "solve_with_fallback", "CVaRStochasticPlugin",
                 "OptimizationPlugin", "OptimizationResult", "OptimizationStatus",
                 "create_optimization_engine", "benchmark_optimization_methods"):
        assert name in planning.__all__ and hasattr(planning, name)


def test_stochastic_quick_start_with_zero_uncertainty_earns_the_lp_optimum(lp_cost):
    problem = create_stochastic_problem(BASE, num_scenarios=20, uncertainty_config={
        "price_volatility": 0.0, "renewable_error": 0.0, "load_uncertainty": 0.0})
    result = solve_with_fallback(problem, CVaRStochasticPlugin(risk_level=0.05),
                                 timeout_ms=20_000)
    assert result.status is OptimizationStatus.SUCCESS and not result.fallback_used
    reference = lp_cost(BatteryParams(2000.0, 500.0, 500.0), np.array(BASE["base_prices"]) * 1000)
    assert reference < -150.0                       # $ per day: it earns, it is not zero
    assert result.solution["battery_cost"] == pytest.approx(reference, rel=1e-6)
    renewables = -(np.array(BASE["base_prices"]) * np.array(BASE["renewable_forecast"])).sum()
    assert result.objective_value == pytest.approx(reference + renewables, rel=1e-6)
    soc = np.array(result.solution["state_of_charge"])
    assert soc.min() >= 0.1 - 1e-9 and soc.max() <= 0.9 + 1e-9    # never -46 %
    assert soc[-1] >= 0.5 - 1e-9


def test_realtime_quick_start_answers_under_frequency_by_injecting():
    state = {"grid_frequency": 59.95, "battery_soc": 0.6, "total_load": 500.0,
             "renewable_generation": 300.0, "electricity_price": 0.12}
    result = solve_with_fallback(create_realtime_problem(state), timeout_ms=100)
    assert result.status is OptimizationStatus.SUCCESS
    # 60 Hz grid, 50 mHz low, 10 mHz deadband, 5 % droop, 250 kW: 0.04/60/0.05*250
    assert result.solution["battery_power_setpoint"] == pytest.approx(0.04 / 3.0 * 250.0)
    assert result.solution["frequency_response_active"] is True


def test_the_realtime_path_does_not_import_cvxpy():
    code = ("import sys; from vpp.coordination.planning import create_realtime_problem, "
            "solve_with_fallback; r = solve_with_fallback(create_realtime_problem("
            "{'grid_frequency': 49.9, 'battery_soc': 0.5})); "
            "assert r.solution['battery_power_setpoint'] > 0; "
            "print(sorted(m for m in ('cvxpy', 'scipy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(Path(__file__).resolve().parents[2]))
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("freq, soc, expected, limit", [
    (50.005, 0.5, 0.0, None),                         # inside the deadband
    (50.21, 0.5, -0.2 / 2.5 * 250.0, None),           # high: absorb
    (49.0, 0.5, 0.99 / 2.5 * 250.0, None),             # 1 Hz low: 99 kW
    (47.4, 0.5, 250.0, None),                         # 2.6 Hz low: full activation, the rating
    (49.8, 0.1, 0.0, "stored energy (state of charge)"),  # empty: nothing to give
    (50.3, 0.9, 0.0, "room to charge (state of charge)"),
])
def test_droop_signs_and_limits(freq, soc, expected, limit):
    problem = create_realtime_problem({"grid_frequency": freq, "battery_soc": soc})
    result = solve_with_fallback(problem)
    assert result.solution["battery_power_setpoint"] == pytest.approx(expected, abs=1e-9)
    assert result.solution["limited_by"] == limit


def test_distributed_quick_start_is_negotiated_in_merit_order():
    problem = create_distributed_problem(SITES, {"total_power": 600, "reserve": 100})
    result = solve_with_fallback(problem)
    assert result.status is OptimizationStatus.SUCCESS
    assert result.method == "merit_order_negotiation"
    assert result.solution["target_power"] == {"wind_farm_1": 400.0, "solar_storage_1": 200.0}
    assert result.objective_value == pytest.approx((400 * 80 + 200 * 120) / 1000)
    # 650 kW available, 600 served: only 50 kW of the 100 kW reserve exists, and it says so
    assert result.solution["reserve_served_kw"] == pytest.approx(50.0)
    assert result.solution["reserve_unserved_kw"] == pytest.approx(50.0)
    assert result.metadata["messages"] == 8


def test_a_site_that_cannot_deliver_declines_and_is_re_awarded():
    problem = DistributedProblem((SiteOffer("cheap", 300.0, 50.0, delivers_kw=100.0),
                                  SiteOffer("mid", 300.0, 70.0), SiteOffer("dear", 300.0, 90.0)),
                                 total_power_kw=400.0)
    result = solve_with_fallback(problem)
    s = result.solution
    assert "cheap" in s["declined"]
    assert s["target_power"]["mid"] == pytest.approx(300.0)
    assert s["target_power"]["dear"] == pytest.approx(100.0)
    assert s["unserved_kw"] == pytest.approx(0.0)
    assert result.metadata["rounds"] == 2


def test_distributed_fallback_is_labelled_central():
    problem = create_distributed_problem(SITES, {"total_power": 600})
    from vpp.coordination.planning import create_optimization_engine

    result = create_optimization_engine().solve(problem, force_fallback=True)
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert "not negotiated" in result.method
    assert result.solution["target_power"] == {"wind_farm_1": 400.0, "solar_storage_1": 200.0}


def test_benchmark_reports_what_really_ran():
    problem = create_stochastic_problem(BASE, num_scenarios=10)
    stats = benchmark_optimization_methods(problem, num_runs=1)
    assert set(stats) == {"rules", "cvar", "expected_value"}
    assert stats["cvar"]["methods_used"] == ["cvar_stochastic"]
    assert stats["rules"]["methods_used"][0].startswith("rules")
    assert stats["expected_value"]["avg_objective"] <= stats["rules"]["avg_objective"] + 1e-6
    assert all(s["success_rate"] == 1.0 for s in stats.values())


@pytest.mark.parametrize("call, match", [
    (lambda: create_stochastic_problem({"base_price": [0.1]}), "unknown key.*'base_price'"),
    (lambda: create_stochastic_problem({"base_prices": [0.1, "x"]}), r"base_prices'\]\[1\]"),
    (lambda: create_stochastic_problem({**BASE, "renewable_forecast": [1.0]}),
     "renewable_forecast'.*24 values"),
    (lambda: create_realtime_problem({"battery_soc": 0.5}), "'grid_frequency' is required"),
    (lambda: create_realtime_problem({"grid_frequency": 50.0, "battery_soc": 1.5}),
     "realtime.state_of_charge"),
    (lambda: create_distributed_problem([{"site_id": "a", "total_capacity": 1}]),
     r"sites_data\[0\]: 'marginal_cost' is required"),
    (lambda: create_distributed_problem(SITES, {"power": 5}), "coordination_targets.*'power'"),
])
def test_bad_input_names_the_field(call, match):
    with pytest.raises(ValueError, match=match):
        call()


THREE = [*SITES, {"site_id": "chp", "total_capacity": 300, "marginal_cost": 0.10}]


def test_a_target_schedule_is_negotiated_by_admm_and_matches_the_merit_order():
    problem = create_distributed_problem(THREE, {"total_power": [200, 450, 600, 300, 800, 900]})
    result = solve_with_fallback(problem)
    assert result.status is OptimizationStatus.SUCCESS
    assert result.method == "admm_negotiation"
    assert result.metadata["iterations"] > 1
    # linear costs: the optimum is the merit order of each hour (80, then 100, then 120)
    expected = {"wind_farm_1": [200, 400, 400, 300, 400, 400],
                "chp": [0, 50, 200, 0, 300, 300],
                "solar_storage_1": [0, 0, 0, 0, 100, 200]}
    for site, schedule in expected.items():
        assert result.solution["target_power"][site] == pytest.approx(schedule, abs=0.05)
    cost = sum(80 * a + 100 * b + 120 * c for a, b, c in zip(
        expected["wind_farm_1"], expected["chp"], expected["solar_storage_1"])) / 1000
    assert result.objective_value == pytest.approx(cost, rel=1e-4)
    assert result.metadata["checked_max_imbalance_kw"] < 0.05


def test_an_unreachable_schedule_falls_back_and_reports_what_is_unserved():
    problem = create_distributed_problem(SITES, {"total_power": [200, 700]})
    result = solve_with_fallback(problem)
    assert result.status is OptimizationStatus.FALLBACK_USED
    assert "target_kw[1] = 700.0 is outside [0, 650.0] kW" in result.fallback_reason
    assert result.solution["unserved_kw"] == [0.0, 50.0]
    assert result.objective_value == pytest.approx((200 * 80 + 400 * 80 + 250 * 120) / 1000)
    with pytest.raises(ValueError, match="'reserve' is only supported"):
        create_distributed_problem(SITES, {"total_power": [1, 2], "reserve": 5})


def test_quick_start_bootstrap_and_reduction():
    problem = create_stochastic_problem(BASE, num_scenarios=60, uncertainty_config={
        "method": "bootstrap", "reduce_to": 8, "seed": 3})
    assert problem.scenarios.count <= 8
    assert problem.scenarios.method.startswith("bootstrap, reduced")
    assert problem.scenarios.probability.sum() == pytest.approx(1.0)
    result = solve_with_fallback(problem, timeout_ms=20_000)
    assert result.status is OptimizationStatus.SUCCESS
    assert result.solution["battery_cost"] < 0


def test_droop_on_top_of_a_schedule_is_capped_by_the_rating():
    # 200 kW scheduled + 99 kW of response (1 Hz low) asks 299 kW of a 250 kW battery
    problem = create_realtime_problem({"grid_frequency": 49.0, "battery_soc": 0.5,
                                       "scheduled_power": 200.0})
    result = solve_with_fallback(problem)
    assert result.solution["requested_response_kw"] == pytest.approx(99.0)
    assert result.solution["battery_power_setpoint"] == pytest.approx(250.0)
    assert result.solution["frequency_response_kw"] == pytest.approx(50.0)
    assert result.solution["limited_by"] == "power rating"
