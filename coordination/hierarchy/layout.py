"""The drawing data of a hierarchy: node positions per level, energy per node.

:func:`tree_view` places the tree for a plot (``runs/topology_plot.py``; later
``vpp trace plot RUN --topology``) and adds each node's served and unserved energy up from
its sites. No plotting library is imported here.

Layout: the root on level 0 at the top (``y = 0``), each level one unit lower
(``y = -level``). The drawn leaves sit at ``x = 0, 1, 2, ...`` in fleet order (children
ordered by their first site); a parent is centred over its first and last drawn child. A
fleet of more than ``max_sites`` sites is drawn down to its regions only (each region
then says how many sites it holds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from vpp.coordination.hierarchy.topology import SITE, Topology


@dataclass(frozen=True)
class NodeView:
    """One drawn node.

    Attributes:
        name: the node's name.
        kind: ``root``, ``region`` or ``site``.
        level: edges from the root.
        x, y: the node's position (see the module's doc).
        parent: the node above (None for the root).
        served_kwh: energy delivered by the sites below (and any the node books itself).
        unserved_kwh: energy asked of the sites below and not delivered (plus any the node
            books itself, e.g. the root's shortfall that no site is to blame for).
        sites: how many sites are below (1 for a site).
    """

    name: str
    kind: str
    level: int
    x: float
    y: float
    parent: str | None
    served_kwh: float
    unserved_kwh: float
    sites: int


@dataclass(frozen=True)
class TreeView:
    """A hierarchy placed for drawing: nodes level by level, and the drawn edges."""

    nodes: list[NodeView]
    edges: list[tuple[str, str]]
    sites_shown: bool

    def node(self, name: str) -> NodeView:
        """The drawn node ``name`` (KeyError if it is not drawn)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def width(self) -> int:
        """How many drawn leaves (columns) there are."""
        return 1 + int(max(n.x for n in self.nodes))


def _check(values: Mapping[str, float], allowed: set[str], what: str) -> None:
    for key, value in values.items():
        if key not in allowed:
            raise ValueError(f"{what}: {key!r} is not a node it may name")
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise ValueError(f"{what}[{key!r}] must be a finite energy >= 0 kWh, got {value!r}")


def tree_view(topology: Topology, served_kwh: Mapping[str, float],
              unserved_kwh: Mapping[str, float] | None = None, *,
              node_unserved_kwh: Mapping[str, float] | None = None,
              max_sites: int = 40) -> TreeView:
    """Place ``topology`` and add each node's energy up from its sites.

    Args:
        topology: the hierarchy.
        served_kwh: per site, the energy it delivered (a magnitude; missing = 0).
        unserved_kwh: per site, the energy asked of it and not delivered (missing = 0).
        node_unserved_kwh: per root or region, unserved energy booked at that node and at
            no site (a lost region's share when its sites are unknown, the fleet's
            shortfall).
        max_sites: the most sites drawn; a larger fleet is drawn down to its regions.

    Raises ``ValueError`` naming the key for a node that is not a site (or not an
    aggregator, for ``node_unserved_kwh``) or an energy that is negative or not finite.
    """
    unserved_kwh = unserved_kwh or {}
    node_unserved_kwh = node_unserved_kwh or {}
    sites = set(topology.sites)
    _check(served_kwh, sites, "served_kwh")
    _check(unserved_kwh, sites, "unserved_kwh")
    _check(node_unserved_kwh, {topology.root, *topology.regions}, "node_unserved_kwh")
    show_sites = len(sites) <= max_sites
    levels = topology.levels()
    served: dict[str, float] = {}
    unserved: dict[str, float] = {}
    for level in reversed(levels):
        for n in level:
            kids = topology.children(n)
            served[n] = (float(served_kwh.get(n, 0.0)) if not kids
                         else sum(served[c] for c in kids))
            unserved[n] = (float(unserved_kwh.get(n, 0.0)) if not kids
                           else sum(unserved[c] for c in kids)
                           + float(node_unserved_kwh.get(n, 0.0)))

    def drawn_children(n: str) -> tuple[str, ...]:
        return tuple(c for c in topology.children(n)
                     if show_sites or topology.kind(c) != SITE)

    x: dict[str, float] = {}
    column = 0

    def place(n: str) -> None:
        nonlocal column
        kids = drawn_children(n)
        if not kids:
            x[n] = float(column)
            column += 1
            return
        for c in kids:
            place(c)
        x[n] = (x[kids[0]] + x[kids[-1]]) / 2.0

    place(topology.root)
    nodes = [NodeView(n, topology.kind(n), d, x[n], -float(d), topology.parent(n), served[n],
                      unserved[n], len(topology.sites_under(n)))
             for d, level in enumerate(levels) for n in level if n in x]
    edges = [(n.parent, n.name) for n in nodes if n.parent is not None]
    return TreeView(nodes, edges, show_sites)
