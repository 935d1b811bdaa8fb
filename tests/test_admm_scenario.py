"""Scenarios with `coordination: admm`: planned by ADMM over ZeroMQ, checked against the
central solve of the same problem, delivered through the physics models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.admm.feasibility import VOLL_EUR_MWH, net_bounds_kw
from vpp.coordination.admm.reference import solve_centralized
from vpp.runs.bench.admm import cost_gap_rel
from vpp.runs.cli import app
from vpp.runs.modes.admm.sites import coupling_for
from vpp.runs import modes
from vpp.runs.modes.admm.mode import AdmmRun
from vpp.runs.modes.base import RunContext
from vpp.runs.placement.local import LocalPlacement
from vpp.runs.runner import Runner
from vpp.runs.scenario import BUNDLED, ScenarioError, load, parse
from vpp.runs.scenario.devices import BatterySpec

ADMM_SCENARIO = BUNDLED / "admm.yaml"


def _data():
    return yaml.safe_load(ADMM_SCENARIO.read_text())


def _run(scenario, out, seed=None):
    models = []

    def built(run):
        assert isinstance(run, AdmmRun)
        # the models the sites negotiated with, before the run moves their devices
        models.extend(s.plan.model for s in run.sites)

    context = RunContext(out, scenario.seed if seed is None else seed, ADMM_SCENARIO,
                         LocalPlacement())
    result = Runner(modes.select(scenario), scenario, context, on_built=built).run()
    return result.run, models, result.summary


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    out = tmp_path_factory.mktemp("admm")
    model, models, summary = _run(load(ADMM_SCENARIO), out)
    return model, models, summary, out


def test_the_plan_matches_the_central_solve_of_the_same_problem(bundled):
    model, models, summary, _ = bundled
    assert summary["coordination"] == "admm" and summary["converged"]
    assert [n["step"] for n in summary["negotiations"]] == [0]
    result = model.negotiations[0][2]
    coupling = coupling_for(model.scenario, 0, model.scenario.steps, model.targets, None)
    reference = solve_centralized(models, coupling)
    assert cost_gap_rel(result, reference) <= 1e-3
    assert result.cost_eur == pytest.approx(reference.cost_eur, rel=1e-3)
    # the negotiated price is the coupling constraint's dual
    assert np.abs(result.price_eur_mwh - reference.price_eur_mwh).max() < 0.5
    # each site's step costs add up to its share of the optimum
    assert summary["cost_eur"] == pytest.approx(reference.cost_eur, rel=1e-3)


def test_the_delivered_dispatch_meets_the_target(bundled):
    model, _, summary, out = bundled
    served = np.array([r["served_kw"] for r in model.records])
    target = np.array(model.targets)
    assert len(served) == 24 and np.abs(target).max() > 100
    assert np.abs(served - target).max() < 0.05  # kW, on a target of hundreds of kW
    assert summary["unserved_kwh"] == 0.0 and summary["steps_with_unserved"] == 0
    # the devices did what the sites planned: the physics limits were kept by the plan
    assert summary["max_plan_deviation_kw"] < 1e-6
    # the site table's power adds up to the step's delivery
    sites = np.loadtxt(out / "sites.csv", delimiter=",", skiprows=1, usecols=(0, 3))
    per_step = [sites[sites[:, 0] == k, 1].sum() for k in range(24)]
    assert per_step == pytest.approx(served.tolist(), abs=1e-9)


def test_batteries_follow_the_plan_through_the_battery_model(bundled):
    model, models, summary, _ = bundled
    checked, throughput = 0, []
    for site, site_model, spec in zip(model.sites, models, model.scenario.sites):
        for device, dspec in zip(site.devices, spec.devices):
            if not isinstance(dspec, BatterySpec):
                continue
            checked += 1
            bat = device.model
            initial = dspec.state_of_charge * dspec.capacity_kwh
            # stored now = initial + eta_c * charged - discharged / eta_d: no energy created
            assert bat.energy_kwh == pytest.approx(
                initial + dspec.eta_c * bat.energy_charged_kwh
                - bat.energy_discharged_kwh / dspec.eta_d, abs=1e-6)
            # it ends where the plan said, and no emptier than it began (keep_state_of_charge)
            planned_end = site.solver.last_solution.parts["energy"][-1]
            assert bat.energy_kwh == pytest.approx(planned_end, abs=1e-3)
            assert bat.energy_kwh >= initial - 1e-3
            assert site_model.battery.soc_init == pytest.approx(dspec.state_of_charge)
            throughput.append(bat.energy_charged_kwh + bat.energy_discharged_kwh)
    assert checked == 3
    assert max(throughput) > 100.0  # the plan did cycle a battery
    assert summary["max_battery_energy_gap_kwh"] < 1e-3


def test_the_run_writes_the_outputs_and_its_rounds_can_be_inspected(bundled):
    model, _, summary, out = bundled
    assert json.loads((out / "summary.json").read_text())["iterations"] == summary["iterations"]
    assert (out / "steps.csv").read_text().count("\n") == 25
    reader = TraceReader(out)
    rounds = [r for r in reader.rounds() if r["protocol"] == "admm"]
    steps, dispatch = reader.steps(), reader.dispatch()
    kinds = reader.message_counts()
    reader.close()
    assert len(rounds) == summary["iterations"]
    assert len(steps) == 24 and len(dispatch) == 24 * len(model.sites)
    assert sum(d["cost_eur"] for d in dispatch) == pytest.approx(summary["cost_eur"])
    assert kinds[("StepCleared", "send")] == 24
    assert kinds[("AdmmSchedule", "recv")] == summary["iterations"] * len(model.sites)
    runner = CliRunner()
    rows = json.loads(runner.invoke(app, ["trace", "rounds", str(out), "--json"]).output)
    assert [r["round"] for r in rows if r["protocol"] == "admm"] == list(
        range(summary["iterations"]))
    plot = runner.invoke(app, ["trace", "plot", str(out), "--rounds"])
    assert plot.exit_code == 0, plot.output
    assert (out / "rounds.png").stat().st_size > 10_000


def test_a_site_in_outage_is_dropped_named_and_runs_at_its_baselines(tmp_path):
    data = _data()
    data["sites"][5]["outage_probability"] = 1.0  # hydro trips in every negotiation
    data["admm"]["deadline_ms"] = 200
    model, _, summary = _run(parse(data), tmp_path)
    assert summary["dropped_sites"] == {
        "sites/hydro": "step 0: missed the deadline of round 0"}
    assert summary["negotiations"][0]["dropped"] == {
        "sites/hydro": "missed the deadline of round 0"}
    assert summary["converged"]  # the others still meet the whole target
    hydro = next(s for s in model.sites if s.name == "hydro")
    assert hydro.planned_kw is None and hydro.power_kw == 0.0  # idle, its baseline
    served = np.array([r["served_kw"] for r in model.records])
    assert np.abs(served - np.array(model.targets)).max() < 0.05


def test_a_target_the_fleet_cannot_meet_is_reported_not_hidden(tmp_path):
    data = _data()
    data["target"] = {"values_kw": [5000.0] * 24}  # far above what the fleet can inject
    model, models, summary = _run(parse(data), tmp_path)
    # found by the sites' capacity bounds before the first update; the servable part is
    # still beyond the batteries' energy, so the primal residual stagnates: the run stops
    # early and says so
    negotiation = summary["negotiations"][0]
    assert summary["infeasible"] and negotiation["infeasible"]
    assert negotiation["reason"].startswith("infeasible: the target is beyond the sites' "
                                            "capacity in 24 step(s)")
    assert "the primal residual stayed at" in negotiation["reason"]
    assert negotiation["iterations"] < 200
    dt_h = model.scenario.dt_h
    planned = np.array([r["planned_kw"] for r in model.records])
    unserved = np.array(negotiation["unserved_kwh_by_step"])
    assert unserved == pytest.approx((5000.0 - planned) * dt_h, rel=1e-9)
    high = np.sum([net_bounds_kw(m)[1] for m in models], axis=0)
    assert np.all(unserved >= (5000.0 - high) * dt_h - 1e-9)
    assert summary["steps_with_unserved"] == 24
    served = np.array([r["served_kw"] for r in model.records])
    assert summary["unserved_kwh"] == pytest.approx(
        float(np.sum(5000.0 - served)) * model.scenario.dt_h)
    # the price of a step with unserved energy is the value of lost load, not 4e5
    assert [r["price_eur_mwh"] for r in model.records] == [VOLL_EUR_MWH] * 24
    # the last iterate is still each site's own feasible plan: the devices deliver it (to
    # the local solver's tolerance), and nothing above their limits
    assert summary["max_plan_deviation_kw"] < 1e-3 and served.max() < 1500


def test_windows_replan_from_the_devices_state(tmp_path):
    data = _data()
    data["admm"]["window_steps"] = 12
    model, _, summary = _run(parse(data), tmp_path)
    assert [(n["step"], n["horizon"], n["converged"]) for n in summary["negotiations"]] == [
        (0, 12, True), (12, 12, True)]
    assert summary["iterations"] == sum(n["iterations"] for n in summary["negotiations"])
    park = model.sites[0]
    # the second window started from the battery's state after step 11
    assert park.plan.model.horizon == 12
    stored = park.devices[0].model
    assert park.solver.last_solution.parts["energy"][-1] == pytest.approx(
        stored.energy_kwh, abs=1e-3)
    served = np.array([r["served_kw"] for r in model.records])
    assert np.abs(served - np.array(model.targets)).max() < 0.05


def test_market_coupling_sells_at_the_scenario_prices(tmp_path):
    data = _data()
    prices = [round(30.0 + 40.0 * math.sin(math.pi * h / 12.0), 2) for h in range(24)]
    data["admm"].update(coupling="market", prices={"values_eur_mwh": prices},
                        import_max_kw=300, export_max_kw=500, rho=0.0005)
    with pytest.raises(ScenarioError, match=r"leave `target` out - at `\$\.target`"):
        parse(data)
    del data["target"]
    model, models, summary = _run(parse(data), tmp_path)
    assert summary["coupling"] == "market" and summary["converged"]
    result = model.negotiations[0][2]
    reference = solve_centralized(models, coupling_for(model.scenario, 0, 24, None, prices))
    assert cost_gap_rel(result, reference) <= 1e-3
    served = np.array([r["served_kw"] for r in model.records])
    # the grid limits hold to the primal tolerance (a few W on 500 kW)
    assert served.max() <= 500 + 1e-2 and served.min() >= -300 - 1e-2
    assert served @ np.array(prices) > 0  # it sells more when the price is high
    # the run's cost = the sites' private costs - what the portfolio earned at the prices
    reader = TraceReader(tmp_path)
    private = sum(d["cost_eur"] for d in reader.dispatch())
    reader.close()
    revenue = float(np.dot(prices, served)) * model.scenario.dt_h / 1000.0
    assert summary["cost_eur"] == pytest.approx(private - revenue)
    assert summary["cost_eur"] == pytest.approx(reference.cost_eur, rel=1e-3)


@pytest.mark.parametrize("edit, path, expected", [
    (lambda d: d["sites"][4]["devices"][0].update(p_min_kw=-50),
     r"$.sites[4].devices[0]", "absorbs (p_min_kw < 0) has no ADMM model"),
    (lambda d: d["sites"][1]["devices"].append(dict(d["sites"][0]["devices"][0], name="b2")),
     r"$.sites[1].devices[3]", "holds one battery; this site has one already (devices[0])"),
    (lambda d: d["sites"][2]["devices"].append(
        {"type": "wind", "name": "w", "turbine_type": "E-53/800"}),
     r"$.sites[2].devices[1]", "one generator-like device"),
    (lambda d: d["sites"][7]["devices"].append(
        {"type": "ev", "name": "car", "battery_kwh": 50, "p_max_kw": 7, "arrival_h": 0,
         "departure_h": 8, "energy_at_arrival_kwh": 5, "target_energy_kwh": 40}),
     r"$.sites[7].devices[2]", "one shifting load"),
    (lambda d: d.update(reserve_kw=50), r"$.reserve_kw", "holds no reserve"),
    (lambda d: d["sites"][0].update(strategy="markup"), r"$.sites[0].strategy",
     "no role in ADMM"),
    (lambda d: (d["admm"].update(coupling="market"), d.pop("target")), r"$.admm.prices",
     "Expected prices"),
    (lambda d: d["admm"].update(rho=0), r"$.admm.rho", "> 0"),
    (lambda d: d.update(coordination="merit_order"), r"$.admm", "`coordination` is"),
    (lambda d: d.update(coordination="consensus"), r"$.coordination", "Invalid enum value 'consensus'"),
])
def test_what_admm_cannot_model_is_an_error_naming_the_field(edit, path, expected):
    data = _data()
    edit(data)
    with pytest.raises(ScenarioError) as info:
        parse(data, "admm.yaml")
    text = str(info.value)
    assert text.startswith("admm.yaml: ") and expected in text
    assert f"at `{path}`" in text, text


def test_scenario_devices_map_onto_the_site_model_by_hand():
    from vpp.runs.fleet.devices import build_devices
    from vpp.runs.modes.admm.sites import SitePlanner
    from vpp.runs.scenario import step_times

    scenario = load(ADMM_SCENARIO)
    times = step_times(scenario)
    devices = [build_devices(scenario, i, times, "admm.yaml")
               for i, spec in enumerate(scenario.sites) for _ in range(spec.count)]
    school = SitePlanner("school", scenario.sites[1].devices, devices[1], 1.0,
                         scenario.admm)(24).model
    assert school.battery.capacity_kwh == 200 and school.battery.p_charge_max_kw == 60
    assert school.battery.soc_init == school.battery.soc_final_min == pytest.approx(0.6)
    assert school.battery.degradation_eur_kwh == pytest.approx(0.030)  # 30 EUR/MWh
    assert school.generator.curtail_eur_mwh == 15 and max(school.generator.available_kw) > 1
    assert school.load.min_kw == school.load.max_kw == school.load.baseline_kw == (25.0,) * 24
    plan = SitePlanner("bakery", scenario.sites[6].devices, devices[6], 1.0, scenario.admm)(24)
    bakery = plan.model
    # the ovens: 80 kW pinned, 40 kW of it sheddable at 140 EUR/MWh (a generator slot)
    assert bakery.generator.available_kw == (40.0,) * 24
    assert bakery.generator.fuel_eur_mwh == 140
    # the van: up to 11 kW for 7 h, (60 - 10) / 0.92 kWh from the grid in all
    assert bakery.load.min_kw == (80.0,) * 24
    assert bakery.load.max_kw == (91.0,) * 7 + (80.0,) * 17
    assert sum(bakery.load.baseline_kw) - 80 * 24 == pytest.approx(50 / 0.92)
    # set-points: shed 10 kW and charge 8 kW -> ovens at -70 kW, van at -8 kW
    parts = {"generation": np.full(24, 10.0), "load": np.full(24, 88.0)}
    assert plan.setpoints(parts, 3) == {"ovens": -70.0, "van": -8.0}


def test_step_costs_add_up_to_the_local_cost():
    from vpp.coordination.admm.costs import step_costs_eur
    from vpp.coordination.admm.instances import random_sites
    from vpp.coordination.admm.qp import DirectLocalProblem

    rng = np.random.default_rng(3)
    for site in random_sites(6, 8, 0.5, seed=5):
        local = DirectLocalProblem(site)
        solution = local.solve(0.01, rng.normal(0.0, 30.0, 8), exact=True)
        steps = step_costs_eur(site, solution.parts, solution.schedule_kw)
        assert steps.shape == (8,)
        assert steps.sum() == pytest.approx(solution.cost_eur, rel=1e-9, abs=1e-9)


def test_vpp_validate_and_run_an_admm_scenario(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(ADMM_SCENARIO)])
    assert ok.exit_code == 0 and "8 sites, 24 steps of 60 min" in ok.output
    run = runner.invoke(app, ["run", str(ADMM_SCENARIO), "--out", str(tmp_path / "r"),
                              "--no-plot"])
    assert run.exit_code == 0, run.output
    assert "admm (target)" in run.output and "1 of 1" in run.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["coordination"] == "admm" and summary["converged"]
    bad = tmp_path / "bad.yaml"
    data = _data()
    data["sites"][4]["devices"][0]["p_min_kw"] = -10
    bad.write_text(yaml.safe_dump(data))
    refused = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "b")])
    assert refused.exit_code == 1
    assert "at `$.sites[4].devices[0]`" in refused.output
