"""``vpp trace plot RUN --topology``: the run's tree drawn from its record, each node's
served energy the sum over its sites of ``|power_kw| x step hours`` in ``sites.csv``, the
fleet's unserved energy (``steps.csv``) at the root."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import vpp.runs
from typer.testing import CliRunner
from vpp.runs import api
from vpp.runs.cli import app
from vpp.runs.modes.hierarchy.merit_figure import topology_view

SCENARIOS = Path(vpp.runs.__file__).parent / "scenarios"
REGIONS = {"region-1": ["chp-north", "chp-south", "biogas", "hydro", "diesel-backup"],
           "region-2": ["battery-park", "school-battery", "cold-store", "heat-pumps",
                        "ev-depot"],
           "region-3": ["paper-mill", "pv-farm", "wind-park", "bakery"]}


def _sums(run: Path, dt_h: float) -> tuple[dict[str, float], float]:
    served: dict[str, float] = {}
    with (run / "sites.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            served[row["site"]] = served.get(row["site"], 0.0) + abs(float(row["power_kw"])) * dt_h
    with (run / "steps.csv").open(newline="") as f:
        unserved = sum(float(row["unserved_kw"]) * dt_h for row in csv.DictReader(f))
    return served, unserved


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    changes = {"steps": 40, "target.profile.high_kw": 2600}  # the evening peak unserved
    api.run(SCENARIOS / "regions.yaml", out=out / "regions", changes=changes, plot=True)
    api.run(SCENARIOS / "default.yaml", out=out / "flat", changes=changes)
    return out


def test_the_tree_png_shows_the_sums_of_sites_csv(runs):
    run = runs / "regions"
    assert (run / "topology.png").stat().st_size > 10_000  # drawn by the run's plot too
    (run / "topology.png").unlink()
    result = CliRunner().invoke(app, ["trace", "plot", str(run), "--topology"])
    assert result.exit_code == 0, result.output
    assert (run / "topology.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    served, unserved = _sums(run, 0.25)
    assert unserved > 1.0  # a shortfall to book
    view = topology_view(run)
    for region, sites in REGIONS.items():
        node = view.node(region)
        assert node.served_kwh == pytest.approx(sum(served[s] for s in sites), rel=1e-12)
        assert node.unserved_kwh == 0.0 and node.sites == len(sites)
        for s in sites:
            assert view.node(s).served_kwh == pytest.approx(served[s], rel=1e-12)
            assert view.node(s).parent == region
    root = view.node("portfolio")
    assert root.served_kwh == pytest.approx(sum(served.values()), rel=1e-12)
    assert root.unserved_kwh == pytest.approx(unserved, rel=1e-12)


def test_a_flat_run_is_drawn_as_one_aggregator_over_its_sites(runs, tmp_path):
    out = tmp_path / "flat.png"
    result = CliRunner().invoke(app, ["trace", "plot", str(runs / "flat"), "--topology",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
    view = topology_view(runs / "flat")
    served, unserved = _sums(runs / "flat", 0.25)
    assert view.node("aggregator").unserved_kwh == pytest.approx(unserved, rel=1e-12)
    assert {n.name for n in view.nodes if n.kind == "site"} == set(served)
    # the same dispatch as through regions: the same energy per site
    regions_view = topology_view(runs / "regions")
    for s in served:
        assert regions_view.node(s).served_kwh == view.node(s).served_kwh


def test_a_directory_without_a_run_is_refused_clearly(tmp_path):
    result = CliRunner().invoke(app, ["trace", "plot", str(tmp_path), "--topology"])
    assert result.exit_code != 0
    assert "manifest" in result.output or "no run" in result.output
