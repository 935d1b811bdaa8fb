"""MPC: built once with parameters, closed loop on a real price week near perfect foresight."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.coordination.planning.history import price_week
from vpp.coordination.planning.mpc import (
    MpcController,
    day_ahead_forecast,
    noisy_forecast,
    run_mpc,
)
from vpp.physics.battery import BatteryParams

STORAGE = BatteryParams(2000.0, 500.0, 500.0, degradation_eur_mwh=2.0)


@pytest.fixture(scope="module")
def week():
    return price_week(62, 7)             # 4-10 March 2019, DE-LU day-ahead


@pytest.mark.parametrize("make", [day_ahead_forecast, lambda p: noisy_forecast(p, 10.0, seed=1)],
                         ids=["day-ahead", "noisy"])
def test_closed_loop_is_within_a_few_percent_of_perfect_foresight(week, make):
    result = run_mpc(week, STORAGE, 36, forecast=make(week))
    assert result.perfect_foresight_cost_eur < -100.0
    # never better than perfect foresight, and within 3 % of it
    assert result.closed_loop_cost_eur >= result.perfect_foresight_cost_eur - 1e-6
    assert result.gap <= 0.03
    assert result.final_energy_kwh >= STORAGE.e_final_min_kwh - 1e-6
    assert len(result.step_ms) == len(week)


def test_the_closed_loop_cost_is_what_the_physics_battery_delivered(week):
    result = run_mpc(week[:48], STORAGE, 24)
    cost = (-(week[:48] * result.power_kw).sum() + 2.0 * np.abs(result.power_kw).sum()) / 1000.0
    assert result.closed_loop_cost_eur == pytest.approx(cost)
    de = np.diff(result.energy_kwh)
    drawn = np.where(result.power_kw > 0, -result.power_kw / 0.95, -result.power_kw * 0.95)
    assert de == pytest.approx(drawn, abs=1e-9)      # both efficiencies, no energy created


def test_the_window_problem_is_built_once_and_dpp(week):
    controller = MpcController(STORAGE, 24)
    assert controller.problem.is_dpp()
    built = controller.problem
    c1, d1 = controller.plan(week[:24], 1000.0)
    c2, d2 = controller.plan(week[24:48], 600.0)
    assert controller.problem is built
    assert not np.allclose(d1 - c1, d2 - c2)
    # the energy floor applies at the last live step
    c3, d3 = controller.plan(week[:24], 1000.0, steps_left=5)
    assert c3[5:].sum() == 0 and d3[5:].sum() == 0
    e = 1000.0 + np.cumsum(0.95 * c3 - d3 / 0.95)
    assert e[4] >= STORAGE.e_final_min_kwh - 1e-6


def test_bad_forecast_length_is_an_error():
    with pytest.raises(ValueError, match="forecast_eur_mwh"):
        MpcController(STORAGE, 24).plan([1.0] * 23, 1000.0)
