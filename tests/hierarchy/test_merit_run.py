"""A scenario with ``topology:`` runs merit order through its regional aggregators (the
``merit_hierarchy`` mode): its ``steps.csv`` and ``sites.csv`` are byte for byte those of
the same scenario without ``topology:`` (the flat aggregator), with declining sites, a
site that is silent every fourth step, nested regions and a site right under the root."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest
import vpp.runs
import yaml
from vpp.runs import api

SCENARIOS = Path(vpp.runs.__file__).parent / "scenarios"
PROFILE_CSV = "bundled:de_lu_2019_hourly_price_load_wind_solar.csv"

PLUGIN = '''
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.strategies import MarginalCostBidder


class MuteBidder(MarginalCostBidder):
    """Never answers the call of every ``every``-th step (a silent site)."""

    def __init__(self, every):
        super().__init__()
        self.every = every

    def bid(self, call, offers):
        if call.step % self.every == 0:
            raise ProtocolError(f"mute at step {call.step}")
        return super().bid(call, offers)
'''


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _same_tables(hier: Path, flat: Path) -> None:
    for name in ("steps.csv", "sites.csv"):
        assert (hier / name).read_bytes() == (flat / name).read_bytes(), name


def test_the_bundled_regions_scenario_dispatches_as_the_default_one(tmp_path):
    hier = api.run(SCENARIOS / "regions.yaml", out=tmp_path / "regions")
    flat = api.run(SCENARIOS / "default.yaml", out=tmp_path / "default")
    assert (hier.mode, flat.mode) == ("merit_hierarchy", "merit_order")
    _same_tables(tmp_path / "regions", tmp_path / "default")
    manifest = json.loads((tmp_path / "regions" / "manifest.json").read_text())
    assert manifest["mode"] == "merit_hierarchy"
    assert manifest["scenario"]["topology"]["regions"] == 3
    s_h, s_f = hier.summary, flat.summary
    for key in ("served_kwh", "unserved_kwh", "cost_eur", "declines", "rounds",
                "reserve_shortfall_kwh", "steps_with_unserved"):
        assert s_h[key] == s_f[key], key
    assert s_h["regions"] == 3 and s_h["dropped"] == 0
    assert s_h["declines"] >= 1  # the forced outages were exercised
    # the regions really were in the path: each region's sites answered it, not the root
    run = hier.run
    assert [r.steps for r in run.regions] == [96, 96, 96]
    assert all(r.messages_in > 0 for r in run.regions)


def _hostile_fleet(tmp_path: Path) -> dict:
    data = yaml.safe_load((SCENARIOS / "default.yaml").read_text())
    data["name"] = "regions-silent"
    data["target"]["profile"]["csv"] = PROFILE_CSV
    data.pop("data", None)
    data["steps"] = 24
    data["negotiation"]["deadline_ms"] = 50
    by_name = {s["name"]: s for s in data["sites"]}
    by_name["biogas"]["strategy"] = {"use": "mute_bidders:MuteBidder", "params": {"every": 4}}
    for site in ("chp-north", "hydro", "battery-park", "cold-store"):
        by_name[site]["outage_probability"] = 0.25
    return data


@pytest.mark.parametrize("topology", [
    {"regions": 4, "assign": "round-robin"},
    {"regions": [{"name": "north", "match": ["chp-*", "biogas"]},
                 {"name": "north-east", "parent": "north", "sites": ["hydro"]},
                 {"name": "storage", "match": ["*battery*", "ev-depot", "cold-store"]},
                 {"name": "rest", "match": ["heat-pumps", "paper-mill", "pv-farm",
                                            "wind-park", "diesel-backup"]}],
     "site_regions": {"bakery": "portfolio"}},
], ids=["round-robin", "nested-with-direct-site"])
def test_declines_and_silence_through_regions_equal_the_flat_run(tmp_path, monkeypatch,
                                                                 topology):
    (tmp_path / "mute_bidders.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    flat_data = _hostile_fleet(tmp_path)
    hier_data = copy.deepcopy(flat_data)
    hier_data["topology"] = topology
    paths = {}
    for name, data in (("flat", flat_data), ("hier", hier_data)):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(data))
    flat = api.run(paths["flat"], out=tmp_path / "out-flat", allow_plugins=True)
    hier = api.run(paths["hier"], out=tmp_path / "out-hier", allow_plugins=True)
    assert (hier.mode, flat.mode) == ("merit_hierarchy", "merit_order")
    _same_tables(tmp_path / "out-hier", tmp_path / "out-flat")
    steps = _rows(tmp_path / "out-flat" / "steps.csv")
    silent = [k for k, row in enumerate(steps) if row["silent"]]
    assert silent == list(range(0, 24, 4))  # the mute site, every fourth step
    assert all(steps[k]["silent"] == "sites/biogas" for k in silent)
    assert sum(int(row["declined"]) for row in steps) > len(silent)  # declines too
    assert any(int(row["rounds"]) > 1 for row in steps)  # re-awards after declines
    assert hier.summary["silent_regions"] == []  # the regions themselves always answered


def test_a_market_section_with_a_topology_is_refused_naming_the_field():
    from vpp.runs import modes  # (imported: registers the modes' checks)
    from vpp.runs.scenario import ScenarioError, parse

    data = yaml.safe_load((SCENARIOS / "market.yaml").read_text())
    data["topology"] = {"regions": 2}
    with pytest.raises(ScenarioError, match=r"regional aggregators .* at `\$\.market`"):
        parse(data, "market.yaml")
    del data["market"]
    data["target"] = {"values_kw": [100.0] * data["steps"]}
    assert modes.select(parse(data, "market.yaml")).name == "merit_hierarchy"
