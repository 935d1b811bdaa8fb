"""The local swarm end to end: the default scenario, balances, reproducibility, traces."""

from __future__ import annotations

import pytest
import yaml
from vpp.agents.runtime.trace_reader import TraceReader
import vpp
from vpp.runs.runner import build_run, run_scenario
from vpp.runs.scenario import DEFAULT_SCENARIO, load, parse
from vpp.runs.scenario.devices import BatterySpec


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    result = run_scenario(load(DEFAULT_SCENARIO), out, scenario_path=DEFAULT_SCENARIO)
    return result.run, result.summary, out


def test_every_step_balances(default_run):
    model, summary, run_dir = default_run
    assert summary["steps"] == 96 and summary["sites"] >= 10
    for out, target in zip(model.aggregator.outcomes, model.targets):
        assert out.target_kw == target
        assert out.served_kw == pytest.approx(sum(out.site_power_kw.values()), abs=1e-6)
        assert abs(out.served_kw) + out.unserved_kw == pytest.approx(abs(target), abs=1e-6)
        if out.served_kw:
            assert (out.served_kw > 0) == (target > 0)  # never the wrong direction
    frame = vpp.open_run(run_dir).sites
    # what the sites ran equals what they accepted, step by step
    ran = frame.groupby("step")["power_kw"].sum().to_numpy()
    served = [o.served_kw for o in model.aggregator.outcomes]
    assert ran == pytest.approx(served, abs=1e-6)


def test_batteries_never_create_energy(default_run):
    model, _, _ = default_run
    checked = 0
    for site, spec in zip(model.sites, model.scenario.sites):
        for device, dspec in zip(site.devices, spec.devices):
            if not isinstance(dspec, BatterySpec):
                continue
            checked += 1
            bat = device.model
            initial = dspec.state_of_charge * dspec.capacity_kwh
            # stored now = initial + eta_c * charged - discharged / eta_d, exactly
            expected = (initial + dspec.eta_c * bat.energy_charged_kwh
                        - bat.energy_discharged_kwh / dspec.eta_d)
            assert bat.energy_kwh == pytest.approx(expected, abs=1e-6)
            assert bat.energy_discharged_kwh <= dspec.eta_d * (
                initial + dspec.eta_c * bat.energy_charged_kwh) + 1e-6
            assert -1e-9 <= bat.energy_kwh <= dspec.capacity_kwh + 1e-9
            # the site's books agree with the model's
            assert device.energy_out_kwh == pytest.approx(bat.energy_discharged_kwh)
            assert device.energy_in_kwh == pytest.approx(bat.energy_charged_kwh)
    assert checked >= 3


def test_the_trace_lists_every_aggregator_site_message(default_run):
    model, summary, out = default_run
    reader = TraceReader(out)
    rows = reader.messages()
    sends = [r for r in rows if r.direction == "send"]
    recvs = [r for r in rows if r.direction == "recv"]
    assert len(sends) == summary["messages"]
    site_addresses = {s.address for s in model.sites}
    for r in sends:
        assert r.sender and r.receiver and r.kind and r.round is not None
    # each addressed message was received once, with the same sender, receiver, kind, round
    key = lambda r: (r.sender, r.receiver, r.kind, r.round, r.conversation)  # noqa: E731
    addressed = sorted(map(key, (r for r in sends if not r.receiver.startswith("*"))))
    received = sorted(map(key, (r for r in recvs if r.kind != "StepCleared")))
    assert addressed == received
    # one call for bids per site per step
    calls = [r for r in sends if r.kind == "CallForBids"]
    assert len(calls) == 96 * len(site_addresses)
    assert {r.receiver for r in calls} == site_addresses
    # the per-site pay-as-bid costs add up to the run's cost
    assert sum(d["cost_eur"] for d in reader.dispatch()) == pytest.approx(summary["cost_eur"])
    assert summary["cost_eur"] > 0
    # the rounds table has a bids round and at least one award round per step
    rounds = reader.rounds()
    assert {r["step"] for r in rounds} == set(range(96))
    assert sum(1 for r in rounds if r["round"] == 0) == 96
    reader.close()


def test_same_seed_same_trace(tmp_path):
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    for site in data["sites"]:
        site["outage_probability"] = 0.1  # so that re-awards happen in a short run
    scenario = parse(data)
    traces = []
    for name in ("one", "two"):
        _, run = build_run(scenario, tmp_path / name, scenario_path=DEFAULT_SCENARIO, seed=11)
        for k in range(30):
            run.step(k)
        run.close()
        reader = TraceReader(tmp_path / name)
        traces.append([(r.sim_time, r.direction, r.kind, r.sender, r.receiver, r.round,
                        r.body, r.error) for r in reader.messages()])
        reader.close()
    assert traces[0] == traces[1]
    declines = [t for t in traces[0] if t[2] == "Decline"]
    assert len(declines) >= 10  # outages were exercised, and reproduced exactly


def test_targets_above_capacity_and_negative_targets(tmp_path):
    scenario = parse({
        "name": "limits", "start": "2019-01-16T00:00:00Z", "steps": 3,
        "target": {"values_kw": [500.0, -80.0, -500.0]}, "reserve_kw": 50.0,
        "sites": [
            {"name": "gen", "devices": [
                {"type": "flexible", "name": "g", "p_max_kw": 200, "cost_eur_mwh": 50}]},
            {"name": "store", "devices": [
                {"type": "battery", "name": "b", "capacity_kwh": 100, "p_charge_kw": 100,
                 "p_discharge_kw": 100, "state_of_charge": 0.5, "eta_c": 0.9, "eta_d": 0.9}]},
        ]})
    model = run_scenario(scenario, tmp_path / "run").run
    up, down, deep = model.aggregator.outcomes
    assert up.served_kw == 300.0 and up.unserved_kw == 200.0  # never reported as met
    assert up.reserve_served_kw == 0.0  # no headroom left, no reserve
    assert down.site_power_kw["sites/store"] == -80.0 and down.unserved_kw == 0.0
    # the store (now fuller) can take at most 100 kW: the rest is unserved
    assert deep.served_kw == -100.0 and deep.unserved_kw == 400.0
    assert down.reserve_served_kw == 50.0  # the generator's headroom holds the reserve
    assert down.site_reserve_kw["sites/gen"] == 50.0


def test_a_built_fleet_is_frozen_for_the_collector_until_the_last_one_closes(tmp_path):
    import gc

    scenario = load(DEFAULT_SCENARIO)
    before = gc.get_freeze_count()
    _, one = build_run(scenario, tmp_path / "one", scenario_path=DEFAULT_SCENARIO)
    _, two = build_run(scenario, tmp_path / "two", scenario_path=DEFAULT_SCENARIO)
    assert gc.get_freeze_count() > before
    one.close()
    assert gc.get_freeze_count() > 0  # the other fleet is still open
    two.close()
    assert gc.get_freeze_count() == 0  # given back: its garbage is collected as usual
