"""An ADMM scenario with a `topology:` runs through regional aggregators (mode
admm_regions): the same iterations, cost and delivered dispatch as the flat run of the
same fleet, and both the centralized optimum within the ADMM tolerance."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.admm.reference import solve_centralized
from vpp.runs import modes
from vpp.runs.bench.admm import cost_gap_rel
from vpp.runs.modes.admm.mode import AdmmRun
from vpp.runs.modes.admm.sites import coupling_for
from vpp.runs.modes.base import RunContext
from vpp.runs.modes.hierarchy.admm import HierarchyAdmmRun
from vpp.runs.placement.local import LocalPlacement
from vpp.runs.runner import Runner
from vpp.runs.scenario import BUNDLED, ScenarioError, load, parse

REGIONS = BUNDLED / "admm-regions.yaml"
FLAT = BUNDLED / "admm.yaml"


def _run(scenario, out, path):
    models = []

    def built(run):
        models.extend(s.plan.model for s in run.sites)  # before the devices move

    context = RunContext(out, scenario.seed, path, LocalPlacement())
    result = Runner(modes.select(scenario), scenario, context, on_built=built).run()
    return result.run, models, result.summary


def _twelve_sites(topology):
    """admm.yaml's eight sites and four more alike (12), with ``topology`` (or none)."""
    data = yaml.safe_load(FLAT.read_text())
    extra = []
    for site in data["sites"][:4]:
        twin = copy.deepcopy(site)
        twin["name"] += "-2"
        extra.append(twin)
    data["sites"] += extra
    data["target"]["profile"]["high_kw"] = 600
    if topology is not None:
        data["topology"] = topology
    return parse(data, "twelve.yaml")


def _assert_equal_runs(hier, flat, hier_summary, flat_summary, models):
    assert isinstance(hier, HierarchyAdmmRun) and type(flat) is AdmmRun
    assert hier_summary["converged"] and flat_summary["converged"]
    assert hier_summary["iterations"] == flat_summary["iterations"]
    h, f = hier.negotiations[0][2], flat.negotiations[0][2]
    assert h.cost_eur == pytest.approx(f.cost_eur, rel=1e-9)
    assert set(h.schedules_kw) == set(f.schedules_kw)
    for site, x in f.schedules_kw.items():
        np.testing.assert_allclose(h.schedules_kw[site], x, atol=1e-6)
    # the delivered dispatch, step by step
    for a, b in zip(hier.records, flat.records):
        assert a["served_kw"] == pytest.approx(b["served_kw"], abs=1e-6)
        assert a["cost_eur"] == pytest.approx(b["cost_eur"], abs=1e-6)
    assert hier_summary["cost_eur"] == pytest.approx(flat_summary["cost_eur"], rel=1e-9)
    assert hier_summary["unserved_kwh"] == flat_summary["unserved_kwh"] == 0.0
    assert set(hier_summary) == set(flat_summary)  # the flat run's record
    # both within the ADMM tolerance of the centralized solve of the same problem
    coupling = coupling_for(hier.scenario, 0, hier.scenario.steps, hier.targets, None)
    reference = solve_centralized(models, coupling)
    assert cost_gap_rel(h, reference) <= 1e-4 and cost_gap_rel(f, reference) <= 1e-4


def test_the_bundled_scenario_through_two_regions_equals_the_flat_run(tmp_path):
    scenario = load(REGIONS)
    assert modes.select(scenario).name == "admm_regions"
    hier, models, hier_summary = _run(scenario, tmp_path / "regions", REGIONS)
    flat, _, flat_summary = _run(load(FLAT), tmp_path / "flat", FLAT)
    _assert_equal_runs(hier, flat, hier_summary, flat_summary, models)
    # the portfolio calls two regions and the bakery; the regions their own sites
    assert set(hier.aggregator.addresses) == {"storage", "generation", "bakery"}
    assert hier.regions["storage"].negotiations == 1
    # the run's record has the flat run's columns
    head = (tmp_path / "regions" / "steps.csv").read_text().splitlines()[0]
    assert head == (tmp_path / "flat" / "steps.csv").read_text().splitlines()[0]
    # the trace: one rounds row per iteration (the flat run's residuals), and per
    # iteration 2 RegionalRound and RegionalSums, 8 AdmmRound and AdmmSchedule
    reader = TraceReader(tmp_path / "regions")
    rounds = [r for r in reader.rounds() if r["protocol"] == "admm"]
    kinds = reader.message_counts()
    reader.close()
    reader = TraceReader(tmp_path / "flat")
    flat_rounds = [r for r in reader.rounds() if r["protocol"] == "admm"]
    reader.close()
    n = hier_summary["iterations"]
    assert len(rounds) == n
    assert [r["primal_residual"] for r in rounds] == pytest.approx(
        [r["primal_residual"] for r in flat_rounds], rel=1e-9, abs=1e-9)
    assert kinds[("RegionalRound", "recv")] == kinds[("RegionalSums", "recv")] == 2 * n
    assert kinds[("AdmmSchedule", "recv")] == 8 * n
    assert kinds[("AdmmDone", "recv")] == 8 and kinds[("RegionalDone", "recv")] == 2


def test_twelve_sites_under_three_regions_equal_the_flat_run_and_the_central_solve(tmp_path):
    flat_scenario = _twelve_sites(None)
    scenario = _twelve_sites({"regions": 3, "assign": "round-robin"})
    hier, models, hier_summary = _run(scenario, tmp_path / "regions", None)
    flat, _, flat_summary = _run(flat_scenario, tmp_path / "flat", None)
    assert len(models) == 12 and len(hier.regions) == 3
    _assert_equal_runs(hier, flat, hier_summary, flat_summary, models)


def test_the_regions_mode_runs_locally_or_in_processes_and_a_bad_topology_names_its_node():
    mode = modes.get("admm_regions")
    assert mode.placement_problem(load(REGIONS), "processes") is None
    assert mode.placement_problem(load(REGIONS), "remote") is not None
    data = yaml.safe_load(REGIONS.read_text())
    data["topology"]["regions"][1]["match"] = ["pv-farm", "wind-park", "chp"]  # no hydro
    with pytest.raises(ScenarioError, match="hydro"):
        parse(data, "orphan.yaml")


def test_windows_replanned_through_the_regions_equal_the_flat_windows(tmp_path):
    # three negotiations (admm/0, admm/8, admm/16): each region starts each one afresh
    summaries = {}
    for path in (REGIONS, FLAT):
        data = yaml.safe_load(path.read_text())
        data["admm"]["window_steps"] = 8
        scenario = parse(data, path.name)
        _, _, summaries[path] = _run(scenario, tmp_path / path.stem, path)
    hier, flat = summaries[REGIONS], summaries[FLAT]
    assert [n["step"] for n in hier["negotiations"]] == [0, 8, 16]
    for a, b in zip(hier["negotiations"], flat["negotiations"]):
        assert a["converged"] and a["iterations"] == b["iterations"]
        assert a["cost_eur"] == pytest.approx(b["cost_eur"], rel=1e-9)
    assert hier["served_kwh"] == pytest.approx(flat["served_kwh"], rel=1e-9)
    assert hier["cost_eur"] == pytest.approx(flat["cost_eur"], rel=1e-9)


def test_a_market_coupling_through_the_regions_equals_the_flat_run(tmp_path):
    prices = [round(30.0 + 40.0 * math.sin(math.pi * h / 12.0), 2) for h in range(24)]
    summaries = {}
    for path in (REGIONS, FLAT):
        data = yaml.safe_load(path.read_text())
        data.pop("target")
        data["admm"].update(coupling="market", prices={"values_eur_mwh": prices},
                            import_max_kw=300, export_max_kw=500, rho=0.0005)
        _, _, summaries[path] = _run(parse(data, path.name), tmp_path / path.stem, path)
    hier, flat = summaries[REGIONS], summaries[FLAT]
    assert hier["coupling"] == "market" and hier["converged"]
    assert hier["iterations"] == flat["iterations"]
    # the sites' private costs less what the portfolio earned at the prices
    assert hier["negotiations"][0]["cost_eur"] == pytest.approx(
        flat["negotiations"][0]["cost_eur"], rel=1e-9)
    assert hier["served_kwh"] == pytest.approx(flat["served_kwh"], rel=1e-9)
    assert hier["cost_eur"] == pytest.approx(flat["cost_eur"], rel=1e-9)
