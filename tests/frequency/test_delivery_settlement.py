"""Settling what the sites sold after a grid event (issue 7, item 3): each provider's
metered response against its sold capacity and the service's expected response at the
event's frequency, with the stated penalty rule; hand-worked on a replayed recording."""

from __future__ import annotations

import csv
import json

import msgspec
import pytest
from vpp.runs.modes.grid_event.delivery import settle
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import ScenarioError, parse

H = 3600.0


def _battery(name: str, *, soc: float = 0.5, p_discharge: float = 2000.0) -> dict:
    return {"type": "battery", "name": name, "capacity_kwh": 2000.0, "p_charge_kw": 2000.0,
            "p_discharge_kw": p_discharge, "state_of_charge": soc, "soc_min": 0.05,
            "soc_max": 0.95}


def _scenario(tmp_path, **penalty) -> dict:
    # 0-4 s at 49.8 Hz (Dynamic Containment's knee: 5 % called), 5-10 s at 49.5 Hz (100 %)
    rows = [(t, 49.8 if t <= 4 else 49.5) for t in range(11)]
    with (tmp_path / "f.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("time", "f"))
        w.writerows((f"2025-01-01 00:00:{t:02d}", f) for t, f in rows)
    sold = {"product": "fcr", "mw": 2.0, "price_eur_mw_h": 10.0, "hours": 4.0}
    return {
        "name": "settle", "start": "2025-01-01T00:00:00Z", "steps": 1,
        "target": {"values_kw": [0]},
        "sites": [{"name": "full", "devices": [_battery("b")]},
                  {"name": "empty", "devices": [_battery("b", soc=0.05)]},
                  {"name": "weak", "devices": [_battery("b", p_discharge=1500.0)]},
                  {"name": "free", "devices": [_battery("b")]}],
        "grid": {"f0_hz": 50, "sample_period_s": 1.0, "duration_s": 10,
                 "replay": {"csv": str(tmp_path / "f.csv"), "frequency_column": "f",
                            "time_format": "%Y-%m-%d %H:%M:%S"},
                 "penalty": {"penalty_eur_mwh": 100.0, **penalty},
                 "response": [{"sites": ["full", "empty", "weak"], "service": "gb-dc",
                               "sold": sold},
                              {"sites": ["free"], "service": "gb-dc"}]}}


@pytest.fixture(scope="module")
def settled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("settle")
    scenario = parse(_scenario(tmp))
    summary = run_scenario(scenario, tmp / "run", scenario_path=tmp / "s.yaml").summary
    return scenario, summary, tmp / "run"


def test_each_provider_is_paid_or_penalized_by_the_rule(settled):
    _, summary, _ = settled
    s = summary["settlement"]
    by = {p["site"]: p for p in s["providers"]}
    assert set(by) == {"full", "empty", "weak"}          # "free" sold nothing
    # sold 2 MW of FCR at 10 EUR/MW/h for 4 h: a capacity payment of 80 EUR each.
    # Called: 5 samples of 1 s at 5 % (0.1 MW) and 6 at 100 % (2 MW):
    # required (5 x 0.1 + 6 x 2) MW s = 12.5 / 3600 MWh.
    for p in by.values():
        assert p["capacity_payment_eur"] == 80.0
        assert p["required_mwh"] == pytest.approx(12.5 / H, abs=1e-9)
    # full: delivered what was called: no shortfall, keeps 80 EUR
    assert by["full"]["shortfall_mwh"] == pytest.approx(0.0, abs=1e-9)
    assert by["full"]["net_payment_eur"] == pytest.approx(80.0)
    # empty (its battery at soc_min): delivered nothing. Withheld all 80 EUR, and
    # 100 EUR/MWh x 12.5/3600 MWh = 0.3472 EUR of penalty: net -0.3472 EUR
    e = by["empty"]
    assert e["shortfall_mwh"] == pytest.approx(12.5 / H, abs=1e-9) and e["performance"] == 0.0
    assert e["withheld_eur"] == pytest.approx(80.0)
    assert e["penalty_eur"] == pytest.approx(100 * 12.5 / H, abs=1e-4)
    assert e["net_payment_eur"] == pytest.approx(-100 * 12.5 / H, abs=1e-4)
    # weak (rated 1.5 MW, sold 2 MW): full at 5 %, 0.5 MW short for 6 s at 100 %:
    # shortfall 3/3600 MWh = 24 % of the required energy -> 19.20 EUR withheld,
    # 100 x 3/3600 = 0.0833 EUR penalty, net 80 - 19.2 - 0.0833 = 60.7167 EUR
    w = by["weak"]
    assert w["shortfall_mwh"] == pytest.approx(3.0 / H, abs=1e-9)
    assert w["max_shortfall_mw"] == pytest.approx(0.5)
    assert w["performance"] == pytest.approx(0.76)
    assert w["withheld_eur"] == pytest.approx(19.2, abs=1e-4)
    assert w["penalty_eur"] == pytest.approx(100 * 3.0 / H, abs=1e-4)
    assert w["net_payment_eur"] == pytest.approx(80 - 19.2 - 100 * 3.0 / H, abs=1e-4)
    assert sorted(s["penalized"]) == ["empty", "weak"]
    assert s["net_payment_eur"] == pytest.approx(
        sum(p["net_payment_eur"] for p in by.values()), abs=1e-3)


def test_delivery_csv_holds_the_metered_series(settled):
    _, summary, run = settled
    with (run / "delivery.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 11
    weak = [r for r in rows if r["site"] == "weak"]
    assert [float(r["delivered_mw"]) for r in weak] == pytest.approx([0.1] * 5 + [1.5] * 6)
    assert [float(r["required_mw"]) for r in weak] == pytest.approx([0.1] * 5 + [2.0] * 6)
    assert json.loads((run / "summary.json").read_text())["settlement"] == summary["settlement"]


def test_the_tolerance_of_the_rule_forgives_a_small_shortfall(settled, tmp_path):
    scenario, _, run = settled
    # a 25 % tolerance (0.5 MW of 2 MW) covers the weak site's 0.5 MW shortfall
    lenient = msgspec.structs.replace(scenario, grid=msgspec.structs.replace(
        scenario.grid, penalty=msgspec.structs.replace(scenario.grid.penalty,
                                                       tolerance_share=0.25)))
    with (run / "delivery.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    from vpp.agents.frequency.grid import TimelineRow

    timeline = [TimelineRow(int(r["seq"]), float(r["t_s"]), float(r["f_hz"]), 0.0)
                for r in rows if r["site"] == "weak"]
    metered = {site: [1000 * float(r["delivered_mw"]) for r in rows if r["site"] == site]
               for site in ("full", "empty", "weak")}
    again = {p["site"]: p for p in settle(lenient, timeline, metered)["providers"]}
    assert again["weak"]["net_payment_eur"] == pytest.approx(80.0)
    # the empty site: 5 samples of 0.1 MW fall within the tolerance, 6 x 1.5 MW do not
    assert again["empty"]["shortfall_mwh"] == pytest.approx(9.0 / H, abs=1e-9)


def test_a_sale_must_fit_its_service(tmp_path):
    data = _scenario(tmp_path)
    data["grid"]["response"][0]["service"] = None
    with pytest.raises(ScenarioError, match=r"sold.*no service.*\$\.grid"):
        parse(data)
    data = _scenario(tmp_path)
    data["grid"]["response"][0]["service"] = {
        "type": "droop", "f0_hz": 50, "deadband_hz": 0.015, "full_hz": 0.5, "sides": "low"}
    with pytest.raises(ScenarioError, match=r"response\[0\]\.sold\.product: 'fcr'"):
        parse(data)
    data = _scenario(tmp_path)
    data["grid"]["response"][0]["sold"]["product"] = "balancing"
    with pytest.raises(ScenarioError, match=r"\$\.grid\.response\[0\]\.sold\.product"):
        parse(data)


def test_directions_of_the_products_on_over_frequency(tmp_path):
    """At 50.5 Hz (DC fully called downward): `reserve_down` asks the sold MW absorbed,
    `reserve_up` asks nothing, `fcr` asks the sold MW absorbed (activation -1)."""
    from vpp.agents.frequency.grid import TimelineRow

    data = _scenario(tmp_path)
    sold = {"mw": 2.0, "price_eur_mw_h": 10.0, "hours": 1.0}
    data["grid"]["response"] = [
        {"sites": ["full"], "service": "gb-dc", "sold": {"product": "reserve_down", **sold}},
        {"sites": ["empty"], "service": "gb-dc", "sold": {"product": "reserve_up", **sold}},
        {"sites": ["weak"], "service": "gb-dc", "sold": {"product": "fcr", **sold}}]
    scenario = parse(data)
    timeline = [TimelineRow(k, float(k), 50.5, 0.0) for k in range(4)]
    # full absorbed 2 MW (response -2000 kW); weak absorbed only 1.5 MW; empty did nothing
    metered = {"full": [-2000.0] * 4, "empty": [0.0] * 4, "weak": [-1500.0] * 4}
    by = {p["site"]: p for p in settle(scenario, timeline, metered)["providers"]}
    assert by["full"]["required_mwh"] == pytest.approx(8.0 / H)
    assert by["full"]["shortfall_mwh"] == 0.0 and by["full"]["net_payment_eur"] == 20.0
    assert by["empty"]["required_mwh"] == 0.0 and by["empty"]["net_payment_eur"] == 20.0
    # fcr: 0.5 MW short of -2 MW for 4 s: 2/8 of the energy -> 5 EUR withheld, 100 x 2/3600
    assert by["weak"]["shortfall_mwh"] == pytest.approx(2.0 / H)
    assert by["weak"]["net_payment_eur"] == pytest.approx(20.0 - 5.0 - 100 * 2.0 / H, abs=1e-4)
