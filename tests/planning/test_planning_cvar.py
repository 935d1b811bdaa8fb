"""The CVaR stochastic LP: no energy created, end-of-horizon energy, the deterministic
optimum at zero uncertainty, risk weight trade-off, recourse feasible in every scenario."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vpp.coordination.planning.cvar import solve_stochastic
from vpp.coordination.planning.model import (
    StochasticProblem,
    cvar,
    schedule_violation,
)
from vpp.coordination.planning.rules import rule_based_plan
from vpp.coordination.planning.scenarios import (
    Uncertainty,
    deterministic,
    generate_scenarios,
)
from vpp.physics.battery import Battery, BatteryParams

# the reference library's quick-start prices ($/kWh) and battery (2 MWh, 500 kW)
REF_PRICE = np.array([0.1, 0.15, 0.12, 0.08] * 6) * 1000.0      # per MWh
STORAGE = BatteryParams(2000.0, 500.0, 500.0, eta_c=0.95, eta_d=0.95)


def test_zero_uncertainty_plan_earns_what_the_deterministic_lp_earns(lp_cost):
    sc = generate_scenarios(REF_PRICE, count=20, uncertainty=Uncertainty(0, 0, 0))
    plan = solve_stochastic(StochasticProblem(STORAGE, sc), risk_level=0.05, risk_weight=0.5)
    reference = lp_cost(STORAGE, REF_PRICE)
    assert reference < -100.0                    # the battery earns, it does not sit still
    assert plan.expected_cost_eur == pytest.approx(reference, rel=1e-6)
    assert plan.cvar_eur == pytest.approx(reference, rel=1e-6)
    assert plan.battery_cost_eur == pytest.approx(reference, rel=1e-6)


def test_no_energy_is_created_and_the_end_energy_holds():
    sc = generate_scenarios(REF_PRICE, count=50, seed=4)
    plan = solve_stochastic(StochasticProblem(STORAGE, sc), risk_weight=0.3)
    assert schedule_violation(STORAGE, plan.charge_kw, plan.discharge_kw, 1.0) is None
    # replay the schedule on the physics battery: it delivers it and ends where the plan says
    battery = Battery(BatteryParams(2000.0, 500.0, 500.0, 0.95, 0.95, 0.1, 0.9, 0.5))
    for t, p in enumerate(plan.power_kw):
        state = battery.step(float(p), 1.0)
        assert state.power_kw == pytest.approx(p, abs=1e-6)
        assert state.energy_kwh == pytest.approx(plan.energy_kwh[t + 1], abs=1e-6)
    assert plan.energy_kwh[-1] >= STORAGE.e_final_min_kwh - 1e-6
    # energy out never exceeds energy in after both efficiencies (plus what was stored)
    out = plan.discharge_kw.sum()
    stored_drop = plan.energy_kwh[0] - plan.energy_kwh[-1]
    assert out <= 0.95 * 0.95 * plan.charge_kw.sum() + 0.95 * max(stored_drop, 0.0) + 1e-6
    assert out > 0.0


def test_raising_the_risk_weight_lowers_cvar_and_not_expected_cost():
    sc = generate_scenarios(REF_PRICE, [300.0] * 24, [200.0] * 24, count=100, seed=7,
                            uncertainty=Uncertainty(0.3, 0.2, 0.1, 0.8))
    problem = StochasticProblem(STORAGE, sc, import_max_kw=400.0, export_max_kw=400.0)
    plans = [solve_stochastic(problem, risk_level=0.1, risk_weight=w)
             for w in (0.0, 0.3, 0.7, 1.0)]
    e = [p.expected_cost_eur for p in plans]
    c = [p.cvar_eur for p in plans]
    tol = 1e-6 * abs(e[0])
    assert all(b >= a - tol for a, b in itertools.pairwise(e)), e
    assert all(b <= a + tol for a, b in itertools.pairwise(c)), c
    assert c[-1] < c[0] - 1.0                 # the trade-off is real here, not a tie
    assert e[-1] > e[0] + 0.1


def test_the_lp_recourse_matches_the_closed_form_and_is_feasible_in_every_scenario():
    sc = generate_scenarios(REF_PRICE, [300.0] * 24, [200.0] * 24, count=30, seed=1,
                            uncertainty=Uncertainty(0.8, 0.3, 0.2, 0.5))
    problem = StochasticProblem(STORAGE, sc, import_max_kw=250.0, export_max_kw=350.0,
                                curtail_eur_mwh=5.0)
    assert (sc.price_eur_mwh < -5.0).any()      # some steps pay to curtail
    for w in (0.0, 0.5):
        plan = solve_stochastic(problem, risk_level=0.2, risk_weight=w)
        assert np.isfinite(plan.scenario_cost_eur).all()
        g = plan.recourse.grid_kw
        assert g.max() <= 350.0 + 1e-6 and g.min() >= -250.0 - 1e-6
        objective = (1 - w) * plan.expected_cost_eur + w * plan.cvar_eur
        assert plan.objective_eur == pytest.approx(objective, rel=1e-6, abs=1e-6)


def test_cvar_of_a_discrete_distribution_by_hand():
    costs = np.array([10.0, 0.0, 5.0, 20.0])
    prob = np.array([0.25, 0.25, 0.25, 0.25])
    assert cvar(costs, prob, 0.25) == pytest.approx(20.0)
    assert cvar(costs, prob, 0.5) == pytest.approx(15.0)
    assert cvar(costs, prob, 0.1) == pytest.approx(20.0)
    assert cvar(costs, prob, 0.375) == pytest.approx((20 * 0.25 + 10 * 0.125) / 0.375)
    assert cvar(costs, prob, 1.0) == pytest.approx(costs.mean())


def test_rules_are_feasible_sensible_and_no_better_than_the_lp():
    storage = BatteryParams(2000.0, 500.0, 500.0, degradation_eur_mwh=3.0)
    problem = StochasticProblem(storage, deterministic(REF_PRICE))
    rules = rule_based_plan(problem)
    lp = solve_stochastic(problem)
    assert schedule_violation(storage, rules.charge_kw, rules.discharge_kw, 1.0) is None
    assert lp.expected_cost_eur <= rules.expected_cost_eur + 1e-6
    assert rules.expected_cost_eur < -100.0                 # it earns
    cheap = REF_PRICE <= 100.0
    assert rules.charge_kw[~cheap].sum() == 0.0           # buys only in the cheap hours
    assert rules.discharge_kw[cheap].sum() == 0.0         # sells only in the dear ones


def test_rules_reach_a_higher_end_of_horizon_energy():
    storage = BatteryParams(1000.0, 200.0, 200.0, soc_init=0.2, soc_final_min=0.8)
    problem = StochasticProblem(storage, deterministic(REF_PRICE))
    rules = rule_based_plan(problem)
    assert rules.energy_kwh[-1] == pytest.approx(800.0, abs=1e-6)
    assert schedule_violation(storage, rules.charge_kw, rules.discharge_kw, 1.0) is None


def test_bad_storage_and_risk_name_the_field():
    with pytest.raises(ValueError, match="storage.eta_c"):
        BatteryParams(100.0, 10.0, 10.0, eta_c=1.5, name="storage")
    with pytest.raises(ValueError, match="storage.soc_init"):
        BatteryParams(100.0, 10.0, 10.0, soc_init=0.95, name="storage")
    with pytest.raises(ValueError, match="risk_weight"):
        solve_stochastic(StochasticProblem(STORAGE, deterministic(REF_PRICE)), risk_weight=2.0)


def test_without_grid_limits_the_constant_recourse_is_counted_right():
    sc = generate_scenarios(REF_PRICE * 0.6, [300.0] * 24, [200.0] * 24, count=40, seed=9,
                            uncertainty=Uncertainty(1.2, 0.3, 0.2, 0.5))
    problem = StochasticProblem(STORAGE, sc, curtail_eur_mwh=2.0, voll_eur_mwh=90.0)
    assert (sc.price_eur_mwh < -2.0).any() and (sc.price_eur_mwh > 90.0).any()
    for w in (0.0, 0.6):
        plan = solve_stochastic(problem, risk_level=0.1, risk_weight=w)
        assert plan.recourse.curtail_kw.sum() > 0 and plan.recourse.shed_kw.sum() > 0
        objective = (1 - w) * plan.expected_cost_eur + w * plan.cvar_eur
        assert plan.objective_eur == pytest.approx(objective, rel=1e-6, abs=1e-6)
    # the same problem with limits too wide to bind gives the same plan cost
    wide = StochasticProblem(STORAGE, sc, curtail_eur_mwh=2.0, voll_eur_mwh=90.0,
                             import_max_kw=1e6, export_max_kw=1e6)
    assert solve_stochastic(wide, risk_level=0.1, risk_weight=0.6).objective_eur == \
        pytest.approx(plan.objective_eur, rel=1e-6)
