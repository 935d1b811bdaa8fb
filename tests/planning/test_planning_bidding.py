"""A site switched to the planning strategy bids its CVaR plan, and the swarm dispatches it."""

from __future__ import annotations

import numpy as np
import pytest
from vpp.coordination.merit_order.bidding import Offer
from vpp.coordination.merit_order.messages import CallForBids
from vpp.coordination.planning.bidding import PlannedBatteryBidder
from vpp.coordination.planning.cvar import solve_stochastic
from vpp.coordination.planning.history import load_history
from vpp.coordination.planning.model import StochasticProblem
from vpp.coordination.planning.scenarios import Uncertainty, generate_scenarios
from vpp.physics.battery import BatteryParams
from vpp.runs.runner import build_run
from vpp.runs.scenario import parse

BATTERY = {"capacity_kwh": 1000, "p_charge_kw": 250, "p_discharge_kw": 250,
           "state_of_charge": 0.5, "soc_min": 0.1, "soc_max": 0.9}
START = "2019-01-16T00:00:00Z"
PARAMS = {"device": "bess", "start": START, "horizon_h": 24, "replan_every_h": 24,
          "scenarios": 10, **BATTERY}


def _scenario():
    return parse({
        "name": "planned", "start": START, "step_minutes": 60, "steps": 24,
        "target": {"values_kw": [100.0] * 24},
        "negotiation": {"deadline_ms": 20000},
        "sites": [
            {"name": "bat",
             "strategy": {"use": "planned-battery", "params": PARAMS},
             "devices": [{"type": "battery", "name": "bess", **BATTERY, "cost_eur_mwh": 5}]},
            {"name": "gen", "devices": [
                {"type": "flexible", "name": "g", "p_min_kw": -500, "p_max_kw": 1000,
                 "cost_eur_mwh": 60, "absorb_price_eur_mwh": -10}]},
        ]})


def test_the_swarm_dispatches_the_plan(tmp_path):
    _, model = build_run(_scenario(), tmp_path / "run")
    try:
        powers = []
        for k in range(24):
            model.step(k)
            powers.append(model.sites[0].device_power_kw["bess"])
    finally:
        model.close()
    bidder = model.sites[0].strategy
    assert bidder.plans == 1
    planned = np.array([bidder.planned_kw[k] for k in range(24)])
    assert np.array(powers) == pytest.approx(planned, abs=1e-6)       # dispatched = planned
    # and the plan is the CVaR LP on the day's real prices (16 Jan 2019), solved here again
    h = load_history()
    first = list(h.timestamp_utc).index("2019-01-16T00:00:00Z")
    price = h.price_eur_mwh[first:first + 24]
    sc = generate_scenarios(price, count=10, uncertainty=Uncertainty(0.15, 0.0, 0.0), seed=0)
    storage = BatteryParams(1000, 250, 250, soc_min=0.1, soc_max=0.9, soc_init=0.5)
    plan = solve_stochastic(StochasticProblem(storage, sc), 0.05, 0.5)
    assert planned == pytest.approx(plan.power_kw, abs=1e-4)
    assert np.abs(planned).max() > 100.0                           # it does trade
    # charging in the cheap night, discharging in the dear evening
    assert price[planned < -1].mean() < price[planned > 1].mean()
    # every step the target is met: the generator balances the battery's plan
    assert all(o.unserved_kw == 0.0 for o in model.aggregator.outcomes)


def test_the_bid_puts_the_plan_in_the_baseline():
    # the live offer allows 300 kW, the plan uses at most the 250 kW rating
    offers = [Offer("bess", -300.0, 300.0, 5.0, 1.0), Offer("fridge", -20.0, -20.0, 0.0, 0.0,
                                                           -20.0)]
    firm = PlannedBatteryBidder(**PARAMS)
    bid = firm.bid(CallForBids(2, 7200.0, 3600.0, 0.0, 0.0, 2000), offers)
    planned = firm.planned_kw[2]
    assert planned == pytest.approx(firm.plan.power_kw[0])
    assert bid.baseline_kw == pytest.approx(planned - 20.0)
    assert bid.segments == []                           # firm: nothing else offered
    flexible = PlannedBatteryBidder(**PARAMS, deviation_premium_eur_mwh=30.0)
    bid = flexible.bid(CallForBids(2, 7200.0, 3600.0, 0.0, 0.0, 2000), offers)
    up = [(s.quantity_kw, s.price_eur_mwh) for s in bid.segments if s.quantity_kw > 0]
    down = [(s.quantity_kw, s.price_eur_mwh) for s in bid.segments if s.quantity_kw < 0]
    assert up == [(pytest.approx(300.0 - planned), 35.0)]      # deviating costs the premium
    assert down == [(pytest.approx(-300.0 - planned), 31.0)]


def test_bad_parameters_name_the_field():
    with pytest.raises(ValueError, match="start"):
        PlannedBatteryBidder(**{**PARAMS, "start": "yesterday"})
    with pytest.raises(ValueError, match="replan_every_h"):
        PlannedBatteryBidder(**{**PARAMS, "replan_every_h": 48})
    bidder = PlannedBatteryBidder(**PARAMS)
    with pytest.raises(ValueError, match="no device named 'bess'"):
        bidder.bid(CallForBids(0, 0.0, 3600.0, 0.0, 0.0, 2000), [Offer("x", 0, 1, 0, 0)])


def test_a_bad_parameter_in_the_scenario_names_the_path():
    from vpp.runs.fleet.strategies import site_strategies
    from vpp.runs.scenario import ScenarioError

    bad = _scenario()
    bad.sites[0].strategy.params["replan_every_h"] = 48
    with pytest.raises(ScenarioError, match=r"replan_every_h.*\$\.sites\[0\]\.strategy"):
        site_strategies(bad, "planned.yaml")
