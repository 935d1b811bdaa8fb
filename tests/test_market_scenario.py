"""A scenario's `market:` section: the VPP sells day-ahead (over messages, against a
price-taking residual curve), then the merit-order negotiation dispatches the position."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import BUNDLED, ScenarioError, load, parse

MARKET_SCENARIO = BUNDLED / "market.yaml"


def _scenario(prices, sites, steps, step_minutes=60, **extra):
    return parse({
        "name": "hand", "start": "2019-01-16T00:00:00Z", "step_minutes": step_minutes,
        "steps": steps, "market": {"day_ahead": {"prices": {"values_eur_mwh": prices}}},
        "sites": sites, **extra}, "hand.yaml")


def _run(scenario, out, path=None):
    result = run_scenario(scenario, out, scenario_path=path)
    return result.run, result.summary


def test_hand_worked_sale_and_dispatch(tmp_path):
    sites = [
        {"name": "chp", "devices": [
            {"type": "flexible", "name": "g", "p_max_kw": 200, "cost_eur_mwh": 30}]},
        {"name": "gen", "devices": [
            {"type": "flexible", "name": "g", "p_max_kw": 300, "cost_eur_mwh": 50}]},
        {"name": "pool", "devices": [
            {"type": "flexible", "name": "p", "p_min_kw": -100, "p_max_kw": 0,
             "cost_eur_mwh": 0, "absorb_price_eur_mwh": 5}]},
    ]
    model, summary = _run(_scenario([40.0, -10.0], sites, 2), tmp_path)
    day_ahead = summary["market"]["day_ahead"]
    # hour 0 at 40 EUR/MWh: the chp (asks 30) sells 0.2 MW, the gen (asks 50) does not,
    # the pool (buys up to -5) does not: +0.2 MW, 8 EUR.
    # hour 1 at -10 EUR/MWh: the pool buys 0.1 MW and is paid 1 EUR for it.
    assert day_ahead["hours"] == [
        {"hour": 0, "clearing_price_eur_mwh": 40.0, "sold_mw": pytest.approx(0.2),
         "bought_mw": 0.0, "cash_eur": pytest.approx(8.0)},
        {"hour": 1, "clearing_price_eur_mwh": -10.0, "sold_mw": 0.0,
         "bought_mw": pytest.approx(0.1), "cash_eur": pytest.approx(1.0)}]
    assert day_ahead["revenue_eur"] == pytest.approx(9.0)
    # the position is the target: 200 kW, then -100 kW, served by the same sites
    assert model.targets == pytest.approx([200.0, -100.0])
    first, second = model.aggregator.outcomes
    assert first.site_power_kw["sites/chp"] == pytest.approx(200.0)
    assert second.site_power_kw["sites/pool"] == pytest.approx(-100.0)
    assert summary["unserved_kwh"] == 0.0
    # dispatch cost as the merit order books it (pay-as-bid, the payment to the sites):
    # 200 kWh at 30 EUR/MWh, plus 100 kWh absorbed by the pool, which asks 5 EUR/MWh for
    # it = 6 + 0.5 = 6.5 EUR
    assert summary["cost_eur"] == pytest.approx(6.5)
    assert summary["net_revenue_eur"] == pytest.approx(9.0 - 6.5)


def test_a_battery_sells_only_what_its_charge_can_deliver(tmp_path):
    sites = [{"name": "store", "devices": [
        {"type": "battery", "name": "b", "capacity_kwh": 800, "p_charge_kw": 250,
         "p_discharge_kw": 250, "state_of_charge": 0.5, "eta_d": 0.95, "cost_eur_mwh": 20,
         "absorb_price_eur_mwh": 100}]}]
    model, summary = _run(_scenario([50.0] * 4, sites, 16, step_minutes=15), tmp_path)
    # 400 kWh stored, 380 kWh deliverable (eta_d 0.95), shared over 4 hours: 95 kW each
    hours = summary["market"]["day_ahead"]["hours"]
    assert [h["sold_mw"] for h in hours] == pytest.approx([0.095] * 4)
    assert summary["market"]["day_ahead"]["revenue_eur"] == pytest.approx(4 * 0.095 * 50)
    assert model.targets == pytest.approx([95.0] * 16)
    # ... and delivers it all: the battery ends empty, nothing unserved
    assert summary["unserved_kwh"] == pytest.approx(0.0, abs=1e-6)
    battery = model.sites[0].devices[0].model
    assert battery.energy_kwh == pytest.approx(0.0, abs=1e-6)
    assert battery.energy_discharged_kwh == pytest.approx(380.0)


def test_the_bundled_market_scenario_sells_at_the_real_prices_and_serves_its_position(tmp_path):
    model, summary = _run(load(MARKET_SCENARIO), tmp_path, MARKET_SCENARIO)
    day_ahead = summary["market"]["day_ahead"]
    prices = [h["clearing_price_eur_mwh"] for h in day_ahead["hours"]]
    # a price-taker: the clearing prices are the DE-LU prices of 2019-01-16 (SMARD)
    assert prices[5] == 17.33 and prices[18] == 64.99 and len(prices) == 24
    for h in day_ahead["hours"]:
        assert h["cash_eur"] == pytest.approx(
            (h["sold_mw"] - h["bought_mw"]) * h["clearing_price_eur_mwh"])
        net_kw = (h["sold_mw"] - h["bought_mw"]) * 1000.0
        assert model.targets[4 * h["hour"]: 4 * h["hour"] + 4] == pytest.approx([net_kw] * 4)
    assert day_ahead["revenue_eur"] == pytest.approx(sum(h["cash_eur"] for h in day_ahead["hours"]))
    # the chp (asks 62) sells only in the hours priced at 62 or more
    assert day_ahead["sold_mwh"] > 5 and day_ahead["bought_mwh"] > 2
    assert summary["unserved_kwh"] == pytest.approx(0.0, abs=1e-6)
    reserve = summary["market"]["ancillary"]
    # 100 kW of upward reserve for 24 h at 8 EUR/MW/h, held by the battery park
    assert reserve["awarded_mw"] == pytest.approx(0.1)
    assert reserve["payment_eur"] == pytest.approx(0.1 * 8.0 * 24)
    assert reserve["held_kw"] == {"battery-park/bess": pytest.approx(100.0)}
    assert summary["net_revenue_eur"] == pytest.approx(
        day_ahead["revenue_eur"] + reserve["payment_eur"] - summary["cost_eur"])
    # the battery kept the energy of a one-hour call (100 kWh delivered) at every step
    sites = pd.read_csv(tmp_path / "sites.csv")
    stored = sites[sites["site"] == "battery-park"]["stored_kwh"]
    assert stored.min() * 0.95 >= 100.0 - 1e-6
    assert json.loads((tmp_path / "summary.json").read_text())["market"] == summary["market"]
    reader = TraceReader(tmp_path)
    rounds = [r for r in reader.rounds() if r["protocol"] == "day-ahead"]
    bids = [m for m in reader.messages(kind="DayAheadBid") if m.direction == "send"]
    reader.close()
    assert len(rounds) == 24 and [r["price"] for r in rounds] == prices
    assert sorted(m.sender for m in bids) == ["agg/residual", "agg/trader"]


@pytest.mark.parametrize("edit, path, expected", [
    (lambda d: d["sites"][7]["devices"].append(
        {"type": "ev", "name": "van", "battery_kwh": 75, "p_max_kw": 11, "arrival_h": 0,
         "departure_h": 6, "energy_at_arrival_kwh": 10, "target_energy_kwh": 70}),
     "$.sites[7].devices[2]", "cannot be offered day-ahead"),
    (lambda d: d.update(target={"values_kw": [0.0] * 96}), "$.target", "leave `target` out"),
    (lambda d: d.update(coordination="admm"), "$.market", "coordination: merit_order"),
    (lambda d: d.update(step_minutes=45, steps=4), "$.step_minutes", "whole hours"),
    (lambda d: d["market"]["day_ahead"].update(prices={"values_eur_mwh": [5000.0] * 24}),
     "$.market.day_ahead.prices.values_eur_mwh[0]", "cap 4000"),
    (lambda d: d["market"]["day_ahead"].update(prices={"values_eur_mwh": [50.0]}),
     "$.market.day_ahead.prices.values_eur_mwh", "at least 24 values"),
    (lambda d: d.pop("market"), "$.target", "Expected a target"),
])
def test_market_errors_name_the_field(edit, path, expected):
    data = yaml.safe_load(MARKET_SCENARIO.read_text())
    edit(data)
    with pytest.raises(ScenarioError) as info:
        parse(data, "market.yaml")
    text = str(info.value)
    assert text.startswith("market.yaml: ") and expected in text, text
    assert f"at `{path}`" in text, text


def test_reserve_sold_first_is_kept_out_of_the_energy_sale_and_dispatch(tmp_path):
    sites = [{"name": "store", "devices": [
        {"type": "battery", "name": "b", "capacity_kwh": 800, "p_charge_kw": 250,
         "p_discharge_kw": 250, "state_of_charge": 0.5, "eta_d": 0.95, "cost_eur_mwh": 20,
         "absorb_price_eur_mwh": 100}]}]
    scenario = parse({
        "name": "reserve", "start": "2019-01-16T00:00:00Z", "step_minutes": 15, "steps": 16,
        "market": {"day_ahead": {"prices": {"values_eur_mwh": [50.0] * 4}},
                   "ancillary": {"requirement_mw": 0.1, "price_eur_mw_h": 10.0,
                                 "duration_h": 1.0}},
        "sites": sites}, "reserve.yaml")
    model, summary = _run(scenario, tmp_path)
    ancillary = summary["market"]["ancillary"]
    # it can hold min(250 kW, 400 kWh * 0.95 / 1 h) = 250 kW; the operator takes 100 kW
    # for 4 h at 10 EUR/MW/h, pay-as-bid: 4 EUR
    assert ancillary["offered_mw"] == pytest.approx(0.25)
    assert ancillary["awarded_mw"] == pytest.approx(0.1)
    assert ancillary["payment_eur"] == pytest.approx(0.1 * 10.0 * 4)
    # the energy for a one-hour call (100 kWh delivered) is kept: (380 - 100) / 4 h = 70 kW
    hours = summary["market"]["day_ahead"]["hours"]
    assert [h["sold_mw"] for h in hours] == pytest.approx([0.070] * 4)
    assert model.targets == pytest.approx([70.0] * 16)
    assert ancillary["held_kw"] == {"store/b": pytest.approx(100.0)}
    # dispatch serves the energy, and the battery never offers what it holds
    assert summary["unserved_kwh"] == pytest.approx(0.0, abs=1e-6)
    device = model.sites[0].devices[0]
    offer = device.offer(0.25)
    assert offer.p_max_kw == pytest.approx(0.0, abs=1e-6)  # all that is left is the reserve's
    # what is left can still deliver the 100 kW call for an hour
    assert device.model.energy_kwh * 0.95 == pytest.approx(100.0, abs=1e-6)
    revenue = 4 * 0.070 * 50.0
    assert summary["net_revenue_eur"] == pytest.approx(revenue + 4.0 - summary["cost_eur"])


def test_ancillary_errors_name_the_field():
    data = yaml.safe_load(MARKET_SCENARIO.read_text())
    data["market"]["ancillary"] = {"product": "fcr", "requirement_mw": 0.1,
                                   "price_eur_mw_h": 5.0}
    with pytest.raises(ScenarioError, match=r"upward reserve only - at `\$\.market\.ancillary\.product`"):
        parse(data, "market.yaml")
    data["market"]["ancillary"]["product"] = "reserve_up"
    data["sites"] = [s for s in data["sites"] if s["name"] != "battery-park"]
    with pytest.raises(ScenarioError, match=r"no battery - at `\$\.market\.ancillary`"):
        parse(data, "market.yaml")


def test_vpp_validate_and_run_the_market_scenario(tmp_path):
    from typer.testing import CliRunner
    from vpp.runs.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(MARKET_SCENARIO)])
    assert ok.exit_code == 0 and "selling at 17.33 to 64.99 EUR/MWh" in ok.output
    run = runner.invoke(app, ["run", str(MARKET_SCENARIO), "--out", str(tmp_path / "r"),
                              "--no-plot"])
    assert run.exit_code == 0, run.output
    assert "day-ahead revenue (EUR)" in run.output and "reserve payment (EUR)" in run.output
