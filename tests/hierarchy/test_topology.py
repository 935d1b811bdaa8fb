"""The fleet's hierarchy: built from a spec or a generator, refused by node and field."""

from __future__ import annotations

import networkx as nx
import pytest

from vpp.coordination.hierarchy.spec import RegionSpec, TopologySpec
from vpp.coordination.hierarchy.topology import (
    Topology,
    TopologyError,
    build_topology,
    check_tree,
    topology_from_data,
)

SITES = [f"north-{i}" for i in range(1, 5)] + [f"south-{i}" for i in range(1, 4)] + ["solo"]


def test_explicit_regions_with_parents_sites_patterns_and_site_regions():
    topo = topology_from_data({
        "root": "vpp",
        "regions": [
            {"name": "north", "match": ["north-*"]},
            {"name": "south", "sites": ["south-1", "south-2"]},
            {"name": "south-east", "parent": "south", "sites": ["south-3"]},
        ],
        "site_regions": {"solo": "vpp"},
    }, SITES)
    assert topo.root == "vpp"
    assert topo.regions == ("north", "south", "south-east")
    assert topo.children("vpp") == ("north", "south", "solo")
    assert topo.children("south") == ("south-1", "south-2", "south-east")
    assert topo.sites_under("south") == ("south-1", "south-2", "south-3")
    assert topo.sites == tuple(SITES)
    assert [topo.order(s) for s in topo.sites] == list(range(len(SITES)))
    assert topo.parent("south-3") == "south-east" and topo.parent("vpp") is None
    assert topo.depth("south-3") == 3 and topo.depth("solo") == 1
    assert topo.levels()[1] == ["north", "south", "solo"]
    assert nx.is_arborescence(topo.graph)


@pytest.mark.parametrize("rule, expected", [
    ("blocks", {"region-1": SITES[0:3], "region-2": SITES[3:6], "region-3": SITES[6:8]}),
    ("round-robin", {"region-1": SITES[0::3], "region-2": SITES[1::3],
                     "region-3": SITES[2::3]}),
])
def test_generated_regions_by_rule(rule, expected):
    topo = build_topology(TopologySpec(regions=3, assign=rule), SITES)
    assert {r: list(topo.sites_under(r)) for r in topo.regions} == expected
    assert all(topo.parent(r) == "portfolio" for r in topo.regions)


def test_generated_names_are_zero_padded_and_blocks_differ_by_at_most_one():
    sites = [f"s{i}" for i in range(205)]
    topo = build_topology(TopologySpec(regions=20), sites)
    assert topo.regions[0] == "region-01" and topo.regions[-1] == "region-20"
    sizes = [len(topo.sites_under(r)) for r in topo.regions]
    assert sizes == [11] * 5 + [10] * 15 and sum(sizes) == 205


def test_prefix_rule_groups_by_the_name_without_its_last_field():
    sites = ["north-house-1", "north-house-2", "south-pv-1", "south-pv-2", "south-pv-3"]
    topo = build_topology(TopologySpec(regions=2, assign="prefix"), sites)
    assert {r: topo.sites_under(r) for r in topo.regions} == {
        "north-house": tuple(sites[:2]), "south-pv": tuple(sites[2:])}
    with pytest.raises(TopologyError, match="gives 2 regions, regions says 3") as err:
        build_topology(TopologySpec(regions=3, assign="prefix"), sites)
    assert err.value.path == "$.topology.regions"
    with pytest.raises(TopologyError, match="'solo' has no '-'") as err:
        build_topology(TopologySpec(regions=1, assign="prefix"), ["solo"])
    assert err.value.node == "solo"


def _refused(data, sites=SITES):
    with pytest.raises(TopologyError) as err:
        topology_from_data(data, sites)
    return err.value


def test_a_cycle_is_refused_naming_the_nodes_and_the_field():
    err = _refused({"regions": [
        {"name": "a", "parent": "c", "sites": SITES[:3]},
        {"name": "b", "parent": "a", "sites": SITES[3:6]},
        {"name": "c", "parent": "b", "sites": SITES[6:]},
    ]})
    assert "cycle" in str(err) and {"a", "b", "c"} <= set(str(err).replace("'", " ").split())
    assert err.node == "a" and err.path == "$.topology.regions[0].parent"
    assert "$.topology.regions[0].parent" in str(err)


def test_an_orphan_site_is_refused_by_name():
    err = _refused({"regions": [{"name": "north", "match": ["north-*"]},
                                {"name": "south", "match": ["south-*"]}]})
    assert err.node == "solo" and "orphan" in str(err)


def test_a_site_in_two_regions_is_refused_naming_both():
    err = _refused({"regions": [{"name": "north", "match": ["north-*"], "sites": ["solo"]},
                                {"name": "south", "match": ["south-*", "sol?"]}]})
    assert err.node == "solo"
    assert "two regions: 'north'" in str(err) and "'south'" in str(err)
    assert err.path == "$.topology.regions[1].match[1]"


@pytest.mark.parametrize("data, node, path, text", [
    ({"regions": [{"name": "north", "parent": "nowhere", "sites": SITES}]},
     "north", "$.topology.regions[0].parent", "neither a region nor the root"),
    ({"regions": [{"name": "solo", "sites": SITES[:-1]}], "site_regions": {"solo": "solo"}},
     "solo", "$.topology.site_regions.solo", "both a site and a region"),
    ({"regions": [{"name": "a", "sites": SITES}, {"name": "a"}]},
     "a", "$.topology.regions[1].name", "defined twice"),
    ({"regions": [{"name": "a", "sites": SITES}, {"name": "empty"}]},
     "empty", "$.topology.regions[1]", "no sites and no regions"),
    ({"regions": [{"name": "a", "sites": SITES + ["ghost"]}]},
     "ghost", "$.topology.regions[0].sites[8]", "not in the fleet"),
    ({"regions": [{"name": "a", "sites": SITES, "match": ["east-*"]}]},
     "a", "$.topology.regions[0].match[0]", "matches no site"),
    ({"regions": [{"name": "portfolio", "sites": SITES}]},
     "portfolio", "$.topology.regions[0].name", "root's name"),
    ({"regions": [{"name": "a", "sites": SITES}], "site_regions": {"solo": "b"}},
     "solo", "$.topology.site_regions.solo", "neither a region nor the root"),
])
def test_bad_explicit_topologies_name_the_node_and_the_field(data, node, path, text):
    err = _refused(data)
    assert (err.node, err.path) == (node, path) and text in str(err)


def test_schema_errors_carry_the_path_under_topology():
    err = _refused({"regions": [{"name": "a", "sites": SITES, "parnet": "x"}]})
    assert err.path == "$.topology.regions[0]" and "parnet" in str(err)
    err = _refused({"regions": 0})
    assert err.path == "$.topology.regions"
    err = _refused({"regions": [{"name": "a", "sites": SITES}], "assign": "blocks"})
    assert err.path == "$.topology.assign"
    err = _refused({"regions": 9})
    assert err.path == "$.topology.regions" and "empty" in str(err)


def test_without_a_fleet_the_spec_names_the_sites_in_order():
    spec = TopologySpec(regions=[RegionSpec(name="r", sites=["b", "a"])])
    topo = build_topology(spec)
    assert topo.sites == ("b", "a") and topo.order("a") == 1


def _graph(edges, kinds):
    g = nx.DiGraph()
    for n, k in kinds.items():
        g.add_node(n, kind=k, **({"order": len(g)} if k == "site" else {}))
    g.add_edges_from(edges)
    return g


def test_check_tree_refuses_bad_graphs_by_node():
    kinds = {"root": "root", "r": "region", "a": "site", "b": "site"}
    assert check_tree(_graph([("root", "r"), ("r", "a"), ("root", "b")], kinds)) == "root"
    cases = [
        ([("root", "r"), ("r", "a"), ("root", "a"), ("r", "b")], "a", "more than one parent"),
        ([("root", "r"), ("r", "a")], "b", "one root"),
        ([("root", "a"), ("root", "b")], "r", "one root"),
        ([("root", "r"), ("r", "a"), ("a", "b")], "a", "has children"),
    ]
    for edges, node, text in cases:
        with pytest.raises(TopologyError, match=text) as err:
            check_tree(_graph(edges, kinds))
        assert err.value.node == node
    cyclic = _graph([("root", "a"), ("r", "x"), ("x", "r")],
                    {"root": "root", "a": "site", "r": "region", "x": "region"})
    with pytest.raises(TopologyError, match="cycle") as err:
        check_tree(cyclic)
    assert err.value.node in ("r", "x")


def test_flat_topology_is_one_level():
    topo = Topology.flat(["a", "b"])
    assert topo.regions == () and topo.children("portfolio") == ("a", "b")
