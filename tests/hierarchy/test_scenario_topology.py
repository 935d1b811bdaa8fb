"""The scenario's ``topology:`` section: checked by the one scenario check, errors naming
the node and the field."""

from __future__ import annotations

import copy

import msgspec
import pytest
import yaml
from vpp.runs.scenario import DEFAULT_SCENARIO, ScenarioError, check_scenario
from vpp.runs.scenario.checks import scenario_problems
from vpp.runs.scenario.schema import Scenario


def _scenario(topology: dict) -> Scenario:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_SCENARIO.read_text()))
    data["topology"] = topology
    return msgspec.convert(data, Scenario, strict=False)


def test_generated_regions_build_a_tree_over_the_fleet() -> None:
    scenario = _scenario({"regions": 2})
    assert scenario_problems(scenario) == []
    from vpp.coordination.hierarchy.topology import build_topology

    tree = build_topology(scenario.topology, scenario.site_names())
    sites = scenario.site_names()
    half = (len(sites) + 1) // 2
    assert tree.sites_under("region-1") == tuple(sites[:half])
    assert tree.sites_under("region-2") == tuple(sites[half:])


def test_a_cycle_is_refused_naming_its_regions_and_field() -> None:
    scenario = _scenario({"regions": [{"name": "a", "parent": "b", "match": ["*"]},
                                      {"name": "b", "parent": "a"}]})
    [problem] = scenario_problems(scenario)
    assert problem.path == "topology.regions[0].parent"
    assert "a -> b -> a" in problem.message


def test_an_orphan_site_is_refused_by_name() -> None:
    scenario = _scenario({"regions": [{"name": "north", "sites": ["chp-north"]}]})
    with pytest.raises(ScenarioError) as info:
        check_scenario(scenario, "default.yaml")
    text = str(info.value)
    assert "chp-south" in text and "topology" in text
