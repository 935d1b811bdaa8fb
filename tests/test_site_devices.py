"""Scenario device types on the physics models, dispatched through the contract net."""

from __future__ import annotations

import pytest
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import ScenarioError, parse


def _run(tmp_path, sites, targets, reserve=0.0):
    scenario = parse({"name": "devices", "start": "2019-06-21T00:00:00Z", "steps": len(targets),
                      "target": {"values_kw": targets}, "reserve_kw": reserve, "sites": sites})
    return run_scenario(scenario, tmp_path / "run").run


def test_a_fixed_load_is_a_baseline_the_generator_must_cover(tmp_path):
    model = _run(tmp_path, [
        {"name": "factory", "devices": [{"type": "load", "name": "line", "demand_kw": 100}]},
        {"name": "gen", "devices": [
            {"type": "flexible", "name": "g", "p_max_kw": 200, "cost_eur_mwh": 50}]},
    ], [0.0, 50.0, 150.0])
    zero, fifty, over = model.aggregator.outcomes
    # net 0 with a 100 kW load: the generator runs 100 kW
    assert zero.site_power_kw == {"sites/factory": -100.0, "sites/gen": 100.0}
    assert fifty.site_power_kw["sites/gen"] == 150.0 and fifty.unserved_kw == 0.0
    # 150 net needs 250 from a 200 kW generator: 50 kW unserved, never hidden
    assert over.served_kw == 100.0 and over.unserved_kw == 50.0


def test_curtailment_is_bought_in_price_order(tmp_path):
    model = _run(tmp_path, [
        {"name": "bakery", "devices": [
            {"type": "curtailable-load", "name": "ovens", "demand_kw": 80,
             "max_curtail_fraction": 0.5, "cost_eur_mwh": 140}]},
        {"name": "gen", "devices": [
            {"type": "flexible", "name": "g", "p_max_kw": 100, "cost_eur_mwh": 90}]},
    ], [-80.0, 10.0, 50.0])
    calm, some, most = model.aggregator.outcomes
    assert calm.site_power_kw == {"sites/bakery": -80.0, "sites/gen": 0.0}
    # +90 kW over the baseline: the generator (90 EUR/MWh) before shedding (140)
    assert some.site_power_kw == {"sites/bakery": -80.0, "sites/gen": 90.0}
    # +130: generator full, then 30 kW of the ovens shed
    assert most.site_power_kw == {"sites/bakery": -50.0, "sites/gen": 100.0}
    assert most.marginal_price_eur_mwh == 140.0
    ovens = model.sites[0].devices[0].model
    assert ovens.curtailed_kwh == pytest.approx(30 * 0.25)


def test_an_ev_meets_its_deadline_and_charges_when_absorption_is_wanted(tmp_path):
    ev = {"type": "ev", "name": "van", "battery_kwh": 60, "p_max_kw": 10, "arrival_h": 0,
          "departure_h": 2, "energy_at_arrival_kwh": 10, "target_energy_kwh": 20, "eta_c": 0.9}
    # 8 steps of 15 min; the VPP wants absorption only in the last two steps
    model = _run(tmp_path, [{"name": "depot", "devices": [ev]}], [0.0] * 6 + [-10.0, -10.0])
    van = model.sites[0].devices[0].model
    assert van.shortfall_kwh == 0.0
    assert van.energy_kwh == pytest.approx(20.0)
    power = [o.site_power_kw["sites/depot"] for o in model.aggregator.outcomes]
    # it needs 10/0.9 = 11.1 kWh from the grid and 2 h at 10 kW would give 20 kWh, so it
    # waits while the target is 0, until the deadline forces it: in step 3 it must draw
    # 11.1 - 10 * 1 h = 1.1 kWh (4.44 kW), then 10 kW to the end, where absorption is wanted
    assert power == pytest.approx([0, 0, 0, -40 / 9, -10, -10, -10, -10])
    assert [o.unserved_kw for o in model.aggregator.outcomes][3:6] == pytest.approx(
        [40 / 9, 10, 10])


def test_pv_on_a_clear_june_day_is_dispatched_and_curtailed(tmp_path):
    targets = [0.0] * 48 + [5.0] * 4 + [0.0] * 44  # 12:00-13:00 UTC, 5 kW wanted
    model = _run(tmp_path, [
        {"name": "roof", "devices": [{"type": "pv", "name": "array", "latitude": 48.1,
                                      "longitude": 11.6, "weather": "clear-sky"}]},
    ], targets)
    pv = model.sites[0].devices[0].model
    noon = pv.available_at(12.0)
    assert 2.0 < noon < 3.2  # one ~3 kW inverter under a clear June sky
    served = [o.served_kw for o in model.aggregator.outcomes]
    # it delivers what is available at noon and no more; at night it is curtailed to 0
    assert served[48] == pytest.approx(noon)
    assert model.aggregator.outcomes[48].unserved_kw == pytest.approx(5.0 - noon)
    assert served[:20] == [0.0] * 20
    assert pv.curtailed_kwh > 10.0  # the morning and afternoon sun was not wanted


def test_device_errors_name_the_field(tmp_path):
    # the loader's one check catches it (vpp validate and vpp run alike), before any build
    with pytest.raises(ScenarioError, match=r"soc_min.*\$\.sites\[0\]\.devices\[0\]"):
        parse({"name": "bad", "start": "2019-06-21T00:00:00Z", "steps": 2,
               "target": {"values_kw": [0.0, 0.0]},
               "sites": [{"name": "s", "devices": [
                   {"type": "battery", "name": "b", "capacity_kwh": 10, "p_charge_kw": 1,
                    "p_discharge_kw": 1, "soc_min": 0.5, "soc_max": 0.4}]}]})
