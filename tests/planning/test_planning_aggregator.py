"""The aggregator plans its day-ahead position with the CVaR planner, bids the plan and
dispatches what cleared (``market.day_ahead.plan``, runs/modes/merit_order/plan.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog
from vpp.runs.runner import build_run, run_scenario
from vpp.runs.scenario import ScenarioError, parse

# the reference library's quick-start prices, $/kWh -> EUR/MWh, one day
PRICES = [v * 1000.0 for v in [0.1, 0.15, 0.12, 0.08] * 6]
BATTERY = {"type": "battery", "name": "b", "capacity_kwh": 2000, "p_charge_kw": 500,
           "p_discharge_kw": 500, "state_of_charge": 0.5, "soc_min": 0.1, "soc_max": 0.9,
           "eta_c": 0.95, "eta_d": 0.95}


def _scenario(plan, *, sites=None, step_minutes=60, prices=PRICES, **market):
    return parse({
        "name": "planned", "start": "2019-01-16T00:00:00Z", "step_minutes": step_minutes,
        "steps": len(prices) * 60 // step_minutes, "seed": 3,
        "market": {"day_ahead": {"prices": {"values_eur_mwh": prices}, "plan": plan},
                   **market},
        "sites": sites or [{"name": "store", "devices": [BATTERY]}]}, "planned.yaml")


def _lp_optimum(prices, capacity=2000.0, p_max=500.0, eta=0.95, soc=(0.1, 0.5, 0.9)):
    """The deterministic LP of one battery (scipy/HiGHS, independent of cvxpy): the most
    it can earn at ``prices`` ending with at least its initial energy (EUR)."""
    t = len(prices)
    price = np.asarray(prices) / 1000.0
    cost = np.concatenate([price, -price])                  # x = [charge, discharge] kW
    lower = np.tril(np.ones((t, t)))
    energy = np.hstack([eta * lower, -lower / eta])         # energy - e0 per hour
    e_min, e0, e_max = (s * capacity for s in soc)
    a_ub = np.vstack([energy, -energy, -energy[-1:]])
    b_ub = np.concatenate([np.full(t, e_max - e0), np.full(t, e0 - e_min), [0.0]])
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=[(0, p_max)] * (2 * t), method="highs")
    assert res.status == 0
    return -res.fun


def _cleared_kw(summary, hours=24):
    """The cleared net position per hour (kW; an hour with nothing bid has none: 0)."""
    out = [0.0] * hours
    for h in summary["market"]["day_ahead"]["hours"]:
        out[h["hour"]] = 1000.0 * (h["sold_mw"] - h["bought_mw"])
    return out


def _build(scenario, tmp_path):
    """The run built (the day-ahead sale done), not stepped."""
    return build_run(scenario, tmp_path / "run")[1]


def test_with_no_uncertainty_the_plan_is_the_deterministic_optimum(tmp_path):
    model = _build(_scenario({"scenarios": 5, "price_volatility": 0.0, "risk_weight": 0.5}),
                   tmp_path)
    try:
        plan = model.day_ahead.summary(0.0)["market"]["day_ahead"]["plan"]
        sold = model.day_ahead.summary(0.0)["market"]["day_ahead"]["revenue_eur"]
    finally:
        model.close()
    best = _lp_optimum(PRICES)
    assert best > 100.0                           # a battery on these prices earns
    assert plan["fallback_used"] is False and plan["method"] == "cvar_stochastic"
    assert plan["expected_revenue_eur"] == pytest.approx(best, rel=1e-6)
    assert plan["cvar_eur"] == pytest.approx(-best, rel=1e-6)   # no spread: CVaR = E
    # the quantities clear at the forecast prices: the sale earns exactly the plan
    assert sold == pytest.approx(best, rel=1e-6)


def test_raising_the_risk_weight_does_not_raise_cvar(tmp_path):
    plans = {}
    for w in (0.0, 1.0):
        model = _build(_scenario({"scenarios": 40, "risk_weight": w, "risk_level": 0.1}),
                       tmp_path / str(w))
        try:
            plans[w] = model.day_ahead.plan.summary()
        finally:
            model.close()
    assert plans[0.0]["errors"] == "bootstrap" and not plans[1.0]["fallback_used"]
    assert plans[1.0]["cvar_eur"] <= plans[0.0]["cvar_eur"] + 1e-6
    assert plans[1.0]["expected_cost_eur"] >= plans[0.0]["expected_cost_eur"] - 1e-6
    # the real errors spread the outcomes: the tail is dearer than the mean
    assert plans[0.0]["cvar_eur"] > plans[0.0]["expected_cost_eur"] + 1.0


def test_the_dispatch_delivers_the_cleared_plan(tmp_path):
    # two batteries of different power-to-capacity ratios: the fleet's store is 3000 kWh
    # with 0.25 C (750 kW), each runs its share in proportion to capacity
    small = dict(BATTERY, capacity_kwh=1000, p_charge_kw=400, p_discharge_kw=400)
    sites = [{"name": "big", "devices": [BATTERY]}, {"name": "small", "devices": [small]}]
    result = run_scenario(_scenario({"scenarios": 30}, sites=sites, step_minutes=15),
                          tmp_path / "run")
    summary, model = result.summary, result.run
    plan = model.day_ahead.plan
    energy_plan = np.asarray(plan.result.solution["energy_kwh"])
    stored = {s.name: s.devices[0].model.energy_kwh for s in model.sites}
    outcomes = list(model.aggregator.outcomes)
    planned = plan.power_kw
    assert plan.capacity_kwh == 3000.0
    assert max(abs(p) for p in planned) == pytest.approx(750.0)   # the fleet's 0.25 C binds
    cleared = _cleared_kw(summary)
    assert cleared == pytest.approx(planned, abs=1e-6)          # the bid is the plan
    served = [o.served_kw for o in outcomes]
    assert served == pytest.approx(np.repeat(planned, 4).tolist(), abs=1e-6)
    assert summary["unserved_kwh"] == 0.0
    for o, p in zip(outcomes, np.repeat(planned, 4)):           # each site its share
        assert o.site_power_kw["sites/big"] == pytest.approx(p * 2 / 3, abs=1e-6)
        assert o.site_power_kw["sites/small"] == pytest.approx(p / 3, abs=1e-6)
    # each battery followed its share of the plan's energy path to the end
    assert stored["big"] == pytest.approx(energy_plan[-1] * 2 / 3, abs=1e-3)
    assert stored["small"] == pytest.approx(energy_plan[-1] / 3, abs=1e-3)
    dispatched_kwh = sum(served) * 0.25
    assert dispatched_kwh == pytest.approx(sum(cleared), abs=1e-6)


def test_a_solve_past_its_timeout_bids_the_rule_plan_and_says_so(tmp_path):
    summary = run_scenario(_scenario({"scenarios": 5, "timeout_ms": 1}),
                           tmp_path / "run").summary
    plan = summary["market"]["day_ahead"]["plan"]
    assert plan["fallback_used"] is True and plan["status"] == "fallback_used"
    assert "timed out" in plan["fallback_reason"]
    assert plan["method"].startswith("rules")
    cleared = _cleared_kw(summary)
    assert cleared == pytest.approx(plan["planned_kw"], abs=1e-6)
    assert summary["unserved_kwh"] == 0.0


@pytest.mark.parametrize("plan, extra, where", [
    ({"risk_level": 0}, {}, "$.market.day_ahead.plan.risk_level"),
    ({"risk_weight": 1.5}, {}, "$.market.day_ahead.plan.risk_weight"),
    ({"scenarios": 0}, {}, "$.market.day_ahead.plan.scenarios"),
    ({"method": "milp"}, {}, "$.market.day_ahead.plan.method"),
    ({"errors": "gaussian"}, {}, "$.market.day_ahead.plan.errors"),
    ({"price_volatility": -0.1}, {}, "$.market.day_ahead.plan.price_volatility"),
    ({"horizon": 24}, {}, "$.market.day_ahead.plan"),
    ({}, {"ancillary": {"requirement_mw": 0.1, "price_eur_mw_h": 5}},
     "$.market.day_ahead.plan"),
])
def test_bad_plan_options_name_their_field(plan, extra, where):
    with pytest.raises(ScenarioError) as err:
        _scenario(plan, **extra)
    assert f"at `{where}`" in str(err.value)
    assert str(err.value).startswith("planned.yaml:")


def test_a_fleet_the_planner_cannot_plan_is_refused_by_name():
    sites = [{"name": "store", "devices": [BATTERY]},
             {"name": "gen", "devices": [{"type": "flexible", "name": "g", "p_max_kw": 100,
                                          "cost_eur_mwh": 30}]}]
    with pytest.raises(ScenarioError, match=r"sites\[1\]\.devices\[0\].*not a battery.*"
                                            r"at `\$\.market\.day_ahead\.plan`"):
        _scenario({}, sites=sites)
    with pytest.raises(ScenarioError, match=r"leave sites\[0\]\.strategy out"):
        _scenario({}, sites=[{"name": "s", "devices": [BATTERY], "strategy": "greedy"}])
    with pytest.raises(ScenarioError, match=r"sites\[0\] has 2 devices"):
        _scenario({}, sites=[{"name": "s", "devices": [BATTERY, dict(BATTERY, name="c")]}])
    other = dict(BATTERY, eta_c=0.9)
    sites = [{"name": "a", "devices": [BATTERY]}, {"name": "b", "devices": [other]}]
    with pytest.raises(ScenarioError, match=r"sites\[1\]\.devices\[0\]\.eta_c"):
        _scenario({}, sites=sites)


def test_a_plan_share_is_bid_as_a_firm_baseline_within_the_live_limits():
    from vpp.coordination.merit_order.bidding import Offer
    from vpp.coordination.merit_order.messages import CallForBids
    from vpp.coordination.planning.bidding import PlanShareBidder

    bidder = PlanShareBidder([-300.0, 200.0])
    offers = [Offer("b", -250.0, 250.0, 0.0, 0.0, 0.0)]
    first = bidder.bid(CallForBids(1, 900.0, 900.0, 0.0, 0.0, 100), offers)
    second = bidder.bid(CallForBids(4, 3600.0, 900.0, 0.0, 0.0, 100), offers)
    assert (first.segments, first.baseline_kw) == ([], -250.0)   # clipped to the charge limit
    assert (second.segments, second.baseline_kw) == ([], 200.0)
    with pytest.raises(ValueError, match="planned_kw"):
        PlanShareBidder([float("nan")])
