"""The tree's drawing data (positions, energy per node) and its PNG."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.coordination.hierarchy.layout import tree_view
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology, topology_from_data
from vpp.runs.topology_plot import SERVED, UNSERVED, draw_topology

SITES = ["n1", "n2", "n3", "s1", "s2", "solo"]


def _topo():
    return topology_from_data({
        "regions": [{"name": "north", "sites": ["n1", "n2", "n3"]},
                    {"name": "south", "sites": ["s1"]},
                    {"name": "south-east", "parent": "south", "sites": ["s2"]}],
        "site_regions": {"solo": "portfolio"}}, SITES)


def test_positions_per_level_and_energy_added_up_from_the_sites():
    view = tree_view(_topo(), {"n1": 10.0, "n2": 20.0, "n3": 30.0, "s1": 5.0, "s2": 7.0,
                               "solo": 1.0},
                     {"n2": 4.0, "s2": 3.0}, node_unserved_kwh={"portfolio": 2.5,
                                                               "south": 1.0})
    at = {n.name: n for n in view.nodes}
    assert [n.name for n in view.nodes][:4] == ["portfolio", "north", "south", "solo"]
    # leaves in fleet order at x = 0, 1, ...; parents centred over first and last child
    assert [at[s].x for s in ("n1", "n2", "n3", "s1", "s2", "solo")] == [0, 1, 2, 3, 4, 5]
    assert at["south-east"].x == 4 and at["south"].x == 3.5 and at["north"].x == 1.0
    assert at["portfolio"].x == (1.0 + 5.0) / 2
    assert {n: at[n].y for n in ("portfolio", "north", "south-east", "s2")} == {
        "portfolio": 0.0, "north": -1.0, "south-east": -2.0, "s2": -3.0}
    assert (at["north"].served_kwh, at["north"].unserved_kwh) == (60.0, 4.0)
    assert (at["south"].served_kwh, at["south"].unserved_kwh) == (12.0, 4.0)  # 3 + 1 own
    assert (at["portfolio"].served_kwh, at["portfolio"].unserved_kwh) == (73.0, 10.5)
    assert at["south"].sites == 2 and at["portfolio"].sites == 6 and view.sites_shown
    assert ("south", "south-east") in view.edges and len(view.edges) == len(view.nodes) - 1


def test_a_large_fleet_is_drawn_down_to_its_regions():
    sites = [f"s{i}" for i in range(500)]
    view = tree_view(build_topology(TopologySpec(regions=5), sites),
                     {s: 2.0 for s in sites}, {"s0": 1.0}, max_sites=40)
    assert not view.sites_shown and len(view.nodes) == 6
    assert [n.x for n in view.nodes[1:]] == [0, 1, 2, 3, 4]
    assert view.node("region-1").unserved_kwh == 1.0
    assert view.node("portfolio").served_kwh == 1000.0


@pytest.mark.parametrize("served, unserved, extra, text", [
    ({"north": 1.0}, {}, {}, "served_kwh: 'north'"),
    ({"n1": -1.0}, {}, {}, "served_kwh\\['n1'\\]"),
    ({}, {"n1": float("nan")}, {}, "unserved_kwh\\['n1'\\]"),
    ({}, {}, {"n1": 1.0}, "node_unserved_kwh: 'n1'"),
])
def test_bad_energies_are_refused_by_key(served, unserved, extra, text):
    with pytest.raises(ValueError, match=text):
        tree_view(_topo(), served, unserved, node_unserved_kwh=extra)


def test_the_png_shows_the_tree_with_served_and_unserved(tmp_path):
    import matplotlib.image as mpimg
    from matplotlib.colors import to_rgb

    view = tree_view(_topo(), {s: 10.0 for s in SITES}, {"s2": 5.0})
    out = draw_topology(view, tmp_path / "topology.png", "a day")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(out)[..., :3]

    def share(color):
        return float(np.all(np.abs(pixels - np.array(to_rgb(color))) < 0.02, axis=-1).mean())

    served, unserved = share(SERVED), share(UNSERVED)
    no_gap = tree_view(_topo(), {s: 10.0 for s in SITES})
    pixels = mpimg.imread(draw_topology(no_gap, tmp_path / "clean.png"))[..., :3]
    # red: the legend's patch alone, or that and the unserved part of four bars (s2,
    # south-east, south, portfolio); green shrinks by as much
    assert unserved > 3 * share(UNSERVED) > 0.0
    assert share(SERVED) > served > 0.005
