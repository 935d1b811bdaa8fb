"""One battery description, three layers: the physics model, ADMM's local problem and the
planning LP, given the same set-points, end with the same stored energy and refuse the same
limits. Every expected value is worked out by hand in the comments.

The battery: 100 kWh, 40 kW charge, 50 kW discharge, eta_c 0.9, eta_d 0.8, 10 %..90 %
(10..90 kWh), starts at 50 kWh; steps of half an hour.
"""

from __future__ import annotations

from dataclasses import replace

import cvxpy as cp
import numpy as np
import pytest
from vpp.coordination.admm.costs import step_costs_eur
from vpp.coordination.admm.formulation import formulate
from vpp.coordination.admm.model import SiteModel
from vpp.coordination.admm.qp import DirectLocalProblem
from vpp.coordination.planning.cvar import _build
from vpp.coordination.planning.model import (
    StochasticProblem,
    energy_path,
    scenario_costs,
    schedule_violation,
)
from vpp.coordination.planning.scenarios import deterministic
from vpp.physics.battery import Battery, BatteryParams

DT_H = 0.5
BATTERY = BatteryParams(100.0, 40.0, 50.0, eta_c=0.9, eta_d=0.8, soc_min=0.1, soc_max=0.9,
                        soc_init=0.5, soc_final_min=0.4, degradation_eur_mwh=20.0,
                        wear_eur_kw2h=1e-4)


def split(setpoints_kw):
    """Charge and discharge (both >= 0) of net set-points (+ discharge)."""
    p = np.asarray(setpoints_kw, dtype=float)
    return np.maximum(-p, 0.0), np.maximum(p, 0.0)


def physics_run(battery, setpoints_kw):
    """Stored energy after each step (with the start) and which steps were limited."""
    model = Battery(battery)
    energy, limited, delivered = [model.energy_kwh], [], []
    for p in setpoints_kw:
        state = model.step(float(p), DT_H)
        energy.append(state.energy_kwh)
        limited.append(state.limited)
        delivered.append(state.power_kw)
    return model, np.array(energy), limited, np.array(delivered)


def admm_fixed(battery, setpoints_kw):
    """ADMM's site formulation (the local step's and the reference's) with the battery's
    charge and discharge fixed to the set-points: (status, energy, private cost)."""
    c, d = split(setpoints_kw)
    f = formulate(SiteModel("s", len(c), DT_H, battery=battery))
    fixed = [f.parts["charge"] == c, f.parts["discharge"] == d]
    problem = cp.Problem(cp.Minimize(f.cost), f.constraints + fixed)
    problem.solve(solver="CLARABEL")
    energy = None if f.parts["energy"].value is None else np.asarray(f.parts["energy"].value)
    return problem.status, energy, problem.value


def admm_pulled(battery, setpoints_kw):
    """ADMM's local QP (OSQP, ``qp.py``) pulled hard towards the set-points: the proximal
    step ``argmin f(x) + rho/2 |x - v|^2`` with ``v`` the set-points and a large ``rho``."""
    local = DirectLocalProblem(SiteModel("s", len(setpoints_kw), DT_H, battery=battery))
    return local, local.solve(1e3, np.asarray(setpoints_kw, dtype=float), exact=True)


def planning_fixed_lp(battery, setpoints_kw, prices_eur_mwh):
    """The planning LP (the CVaR programme, expected cost only) with charge and discharge
    fixed to the set-points: (status, objective)."""
    c_set, d_set = split(setpoints_kw)
    problem = StochasticProblem(battery, deterministic(prices_eur_mwh, dt_h=DT_H))
    lp, c, d = _build(problem, 0.05, 0.0)
    fixed = cp.Problem(lp.objective, lp.constraints + [c == c_set, d == d_set])
    fixed.solve(solver="HIGHS")
    return fixed.status, fixed.value


def test_the_three_layers_end_with_the_same_energy_and_cost():
    setpoints = [-40.0, -20.0, 40.0, 0.0, 16.0]
    # charge 40 kW for 0.5 h: 20 kWh bought, 0.9 * 20 = 18 stored -> 68; 20 kW: 9 -> 77;
    # discharge 40 kW: 20 kWh sold, 20 / 0.8 = 25 drawn -> 52; idle -> 52; 16 kW: 8 sold,
    # 10 drawn -> 42 (>= the 40 kWh the end of the horizon must keep)
    expected = [50.0, 68.0, 77.0, 52.0, 52.0, 42.0]
    # throughput 30 kWh bought + 28 kWh sold at 20 EUR/MWh: 1.16 EUR; wear
    # 1e-4 * 0.5 * (40^2 + 20^2 + 40^2 + 0 + 16^2) = 0.1928 EUR
    private_cost = 1.16 + 0.1928

    model, energy, limited, _ = physics_run(BATTERY, setpoints)
    np.testing.assert_allclose(energy, expected, atol=1e-12)
    assert not any(limited)
    assert model.energy_charged_kwh == pytest.approx(30.0)
    assert model.energy_discharged_kwh == pytest.approx(28.0)
    # physics bids the same throughput cost the optimizers pay: 20 EUR/MWh = 0.02 EUR/kWh
    assert model.flexibility(1, DT_H).cost_per_kwh == (0.02,)

    status, admm_energy, cost = admm_fixed(BATTERY, setpoints)
    assert status == cp.OPTIMAL
    np.testing.assert_allclose(admm_energy, expected, atol=1e-6)
    assert cost == pytest.approx(private_cost, abs=1e-6)

    local, step = admm_pulled(BATTERY, setpoints)
    np.testing.assert_allclose(step.schedule_kw, setpoints, atol=1e-4)
    np.testing.assert_allclose(step.parts["energy"], expected, atol=1e-4)
    # the QP's own encoding of the battery: the exact schedule meets its constraint rows
    # and costs the same
    c, d = split(setpoints)
    y = np.concatenate([c, d, expected])
    row = local.A @ y
    assert np.all(row >= local.l - 1e-9) and np.all(row <= local.u + 1e-9)
    assert local.cost(y) == pytest.approx(private_cost, abs=1e-9)
    parts = {"charge": c, "discharge": d}
    assert step_costs_eur(local.site, parts, d - c).sum() == pytest.approx(private_cost)

    np.testing.assert_allclose(energy_path(BATTERY, c, d, DT_H), expected, atol=1e-12)
    assert schedule_violation(BATTERY, c, d, DT_H) is None
    prices = [50.0, 60.0, 200.0, 100.0, 150.0]
    # 0.5 / 1000 * (-(50 * -40) - 60 * -20 - 200 * 40 - 0 - 150 * 16 + 20 * 116)
    # = 0.0005 * (2000 + 1200 - 8000 - 2400 + 2320) = -2.44 EUR
    costs, _ = scenario_costs(StochasticProblem(BATTERY, deterministic(prices, dt_h=DT_H)),
                              c, d)
    assert costs[0] == pytest.approx(-2.44)
    status, objective = planning_fixed_lp(BATTERY, setpoints, prices)
    assert status == cp.OPTIMAL
    assert objective == pytest.approx(-2.44, abs=1e-9)


def test_the_three_layers_refuse_the_same_energy_limit():
    battery = replace(BATTERY, soc_final_min=None)      # the end may sit anywhere above 50
    setpoints = [-40.0, -40.0, -40.0]
    # 50 + 18 + 18 = 86 kWh; a third 18 would make 104 > 90: physics stores the 4 kWh of
    # room, charging 4 / (0.9 * 0.5) = 8.89 kW, and ends full at 90
    _, energy, limited, delivered = physics_run(battery, setpoints)
    np.testing.assert_allclose(energy, [50.0, 68.0, 86.0, 90.0], atol=1e-9)
    assert limited == [False, False, True]
    assert delivered[2] == pytest.approx(-4.0 / 0.45)

    status, _, _ = admm_fixed(battery, setpoints)
    assert status == cp.INFEASIBLE
    c, d = split(setpoints)
    assert schedule_violation(battery, c, d, DT_H) == (
        "stored energy rises to 104.000 kWh, above 90.000")
    status, _ = planning_fixed_lp(battery, setpoints, [50.0, 50.0, 50.0])
    assert status == cp.INFEASIBLE

    # pulled towards the set-points, ADMM's local step fills the same window: it ends full
    # at 90 kWh like the physics and never holds more (being a convex relaxation, it may
    # charge and discharge in one step, burning energy in losses to absorb more)
    _, step = admm_pulled(battery, setpoints)
    assert step.parts["energy"][-1] == pytest.approx(90.0, abs=1e-4)
    assert step.parts["energy"].max() <= 90.0 + 1e-6
    assert step.parts["charge"].max() <= 40.0 + 1e-6


def test_the_three_layers_refuse_the_same_power_limits():
    battery = replace(BATTERY, soc_final_min=0.1)
    setpoints = [-45.0, 55.0, 0.0]
    # charge capped at 40 kW: 50 + 18 = 68; discharge capped at 50 kW: 25 kWh sold,
    # 31.25 drawn -> 36.75
    _, energy, limited, delivered = physics_run(battery, setpoints)
    np.testing.assert_allclose(delivered, [-40.0, 50.0, 0.0])
    assert limited == [True, True, False]
    np.testing.assert_allclose(energy, [50.0, 68.0, 36.75, 36.75], atol=1e-12)

    status, _, _ = admm_fixed(battery, setpoints)
    assert status == cp.INFEASIBLE
    c, d = split(setpoints)
    assert schedule_violation(battery, c, d, DT_H) == (
        "charge 45.000 kW exceeds p_charge_max_kw 40.0")
    assert schedule_violation(battery, np.minimum(c, 40.0), d, DT_H) == (
        "discharge 55.000 kW exceeds p_discharge_max_kw 50.0")
    status, _ = planning_fixed_lp(battery, setpoints, [50.0, 50.0, 50.0])
    assert status == cp.INFEASIBLE

    _, step = admm_pulled(battery, setpoints)
    np.testing.assert_allclose(step.schedule_kw, delivered, atol=1e-4)
    np.testing.assert_allclose(step.parts["energy"], energy, atol=1e-4)


def test_one_description_validated_once_naming_the_field():
    with pytest.raises(ValueError, match=r"battery\.soc_final_min must be in \[soc_min"):
        BatteryParams(100.0, 40.0, 50.0, soc_final_min=0.95)
    with pytest.raises(ValueError, match=r"battery\.degradation_eur_mwh must be >= 0"):
        BatteryParams(100.0, 40.0, 50.0, degradation_eur_mwh=-1.0)
    with pytest.raises(ValueError, match=r"battery\.wear_eur_kw2h must be finite"):
        BatteryParams(100.0, 40.0, 50.0, wear_eur_kw2h=float("nan"))
    with pytest.raises(ValueError, match=r"bess\.eta_d must be in \(0, 1\]"):
        BatteryParams(100.0, 40.0, 50.0, eta_d=1.2, name="bess")
    from vpp.physics.battery import DegradationParams

    # an ageing model prices throughput itself: a flat cost beside it would disagree
    with pytest.raises(ValueError, match=r"battery\.degradation_eur_mwh must be 0 with an "
                                         r"ageing model"):
        BatteryParams(100.0, 40.0, 50.0, degradation=DegradationParams(),
                      degradation_eur_mwh=5.0)
    # the derived views follow the fields
    b = BatteryParams(200.0, 40.0, 50.0, soc_min=0.2, soc_max=0.8, soc_init=0.3,
                      degradation_eur_mwh=30.0)
    assert (b.e_min_kwh, b.e_max_kwh, b.e_init_kwh) == (40.0, 160.0, 60.0)
    assert b.e_final_min_kwh == 60.0                    # None: where it started
    assert replace(b, soc_final_min=0.5).e_final_min_kwh == 100.0
    assert b.degradation_eur_kwh == 0.03
    with pytest.raises(ValueError, match="battery must be a vpp.physics.battery.BatteryParams"):
        SiteModel("s", 2, 1.0, battery=object())
    with pytest.raises(ValueError, match="problem.storage must be a"):
        StochasticProblem(object(), deterministic([1.0, 2.0]))
