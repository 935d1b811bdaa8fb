"""A fleet's hierarchy as a validated ``networkx`` directed tree.

Edges run parent -> child. Every node has a ``kind``: ``root`` (the portfolio aggregator,
exactly one), ``region`` (a regional aggregator: it has children) or ``site`` (a leaf).
Each site also has an ``order``: its position in the fleet (the scenario's site order),
the tie-break key of the merit order at every level (``docs/protocols/hierarchy.md``).

:func:`build_topology` builds a tree from a :class:`~.spec.TopologySpec` and the fleet's
site names; :func:`check_tree` validates any graph. Every error is a
:class:`TopologyError` naming the node and, when the spec is known, the field's path
(``$.topology.regions[3].parent``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence

import msgspec
import networkx as nx
from vpp.coordination.hierarchy.spec import RegionSpec, TopologySpec

ROOT, REGION, SITE = "root", "region", "site"
KINDS = (ROOT, REGION, SITE)


class TopologyError(ValueError):
    """A hierarchy that cannot be used; the message names the node and the field.

    Attributes:
        node: the node at fault (None when the fault is not one node's).
        path: the field's path in the scenario (``$.topology.regions[3].parent``), or None.
    """

    def __init__(self, message: str, *, node: str | None = None,
                 path: str | None = None) -> None:
        text = f"{message} - at `{path}`" if path else message
        super().__init__(text)
        self.node = node
        self.path = path


def _few(names: Iterable[str], limit: int = 5) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_tree(graph: nx.DiGraph) -> str:
    """Validate ``graph`` as a hierarchy; return the root's name.

    One root (kind ``root``, no parent), no cycles, one parent per node, every node
    reachable from the root, sites are leaves with distinct integer ``order``, regions
    have children. Raises :class:`TopologyError` naming the node.
    """
    if graph.number_of_nodes() == 0:
        raise TopologyError("the topology has no nodes")
    kinds = dict(graph.nodes(data="kind"))
    for node, kind in kinds.items():
        if kind not in KINDS:
            raise TopologyError(f"node {node!r} has kind {kind!r}, expected one of {KINDS}",
                                node=node)
    roots = []
    for node, preds in graph.pred.items():
        if len(preds) > 1:
            raise TopologyError(f"node {node!r} has more than one parent: "
                                f"{_few(preds)}", node=node)
        if not preds:
            roots.append(node)
    if not roots:  # every node has a parent: the graph is a cycle (or several)
        cycle = [u for u, _ in nx.find_cycle(graph)]
        raise TopologyError(f"the topology has a cycle: {' -> '.join(cycle + cycle[:1])}",
                            node=cycle[0])
    if len(roots) != 1:
        raise TopologyError(f"the topology must have one root, found {len(roots)}: "
                            f"{_few(roots)} (a node without a parent is a root)",
                            node=roots[1])
    root = roots[0]
    if kinds[root] != ROOT:
        raise TopologyError(f"node {root!r} has no parent but is a {kinds[root]}", node=root)
    # one parent per node: whatever the root does not reach hangs in a cycle
    succ = graph.succ
    reached = {root}
    frontier = [root]
    while frontier:
        frontier = [c for n in frontier for c in succ[n]]
        reached.update(frontier)
    if len(reached) != len(kinds):
        lost = next(n for n in kinds if n != root and n not in reached)
        cycle = [u for u, _ in nx.find_cycle(graph, lost)]
        raise TopologyError(f"the topology has a cycle: {' -> '.join(cycle + cycle[:1])} "
                            f"(it never reaches the root {root!r})", node=cycle[0])
    orders: dict[int, str] = {}
    site_order = dict(graph.nodes(data="order"))
    for node, kids in succ.items():
        degree = len(kids)
        kind = kinds[node]
        if kind == ROOT and node != root:
            raise TopologyError(f"node {node!r} is a root below {root!r}", node=node)
        if kind == SITE:
            if degree:
                raise TopologyError(f"site {node!r} has children: "
                                    f"{_few(graph.successors(node))}", node=node)
            order = site_order[node]
            if not isinstance(order, int) or isinstance(order, bool):
                raise TopologyError(f"site {node!r} has no integer fleet order", node=node)
            if order in orders:
                raise TopologyError(f"sites {orders[order]!r} and {node!r} share the fleet "
                                    f"order {order}", node=node)
            orders[order] = node
        elif not degree:
            raise TopologyError(f"{kind} {node!r} has no sites and no regions below it",
                                node=node)
    return root


class Topology:
    """A validated hierarchy, with the look-ups the aggregators need.

    Args:
        graph: the tree (checked by :func:`check_tree`; not copied, do not change it).
    """

    def __init__(self, graph: nx.DiGraph) -> None:
        self.root = check_tree(graph)
        self.graph = graph
        self._kind: dict[str, str] = dict(graph.nodes(data="kind"))
        self._order: dict[str, int] = {n: o for n, o in graph.nodes(data="order")
                                       if self._kind[n] == SITE}
        self._parent: dict[str, str | None] = {self.root: None}
        self._children: dict[str, tuple[str, ...]] = {}
        self._sites_under: dict[str, tuple[str, ...]] = {}
        self._depth: dict[str, int] = {self.root: 0}
        succ = graph.succ
        levels = [[self.root]]
        while True:  # breadth first: parents before children
            below = []
            for node in levels[-1]:
                kids = list(succ[node])
                for k in kids:
                    self._parent[k] = node
                    self._depth[k] = len(levels)
                below += kids
            if not below:
                break
            levels.append(below)
        first: dict[str, int] = dict(self._order)
        for level in reversed(levels):  # deepest first: children before parents
            for node in level:
                if self._kind[node] == SITE:
                    continue
                kids = sorted(succ[node], key=first.__getitem__)
                self._children[node] = tuple(kids)
                first[node] = first[kids[0]]
                under = [s for k in kids for s in
                         ((k,) if self._kind[k] == SITE else self._sites_under[k])]
                under.sort(key=self._order.__getitem__)
                self._sites_under[node] = tuple(under)
        self.sites: tuple[str, ...] = self._sites_under[self.root]
        """Every site, in fleet order."""
        self.regions: tuple[str, ...] = tuple(
            n for level in self.levels() for n in level if self._kind[n] == REGION)
        """Every regional aggregator, level by level (parents before children)."""

    @classmethod
    def flat(cls, sites: Sequence[str], root: str = "portfolio") -> Topology:
        """Every site directly under the root (the flat run's shape)."""
        graph = nx.DiGraph()
        graph.add_node(root, kind=ROOT)
        graph.add_nodes_from((s, {"kind": SITE, "order": i}) for i, s in enumerate(sites))
        graph.add_edges_from((root, s) for s in sites)
        return cls(graph)

    def kind(self, node: str) -> str:
        """``root``, ``region`` or ``site``."""
        return self._kind[node]

    def order(self, site: str) -> int:
        """A site's position in the fleet."""
        return self._order[site]

    def parent(self, node: str) -> str | None:
        """The node above ``node`` (None for the root)."""
        return self._parent[node]

    def children(self, node: str) -> tuple[str, ...]:
        """The nodes right below ``node``, ordered by their first site in the fleet."""
        return self._children.get(node, ())

    def sites_under(self, node: str) -> tuple[str, ...]:
        """The sites in ``node``'s subtree, in fleet order (a site: itself)."""
        if self._kind[node] == SITE:
            return (node,)
        return self._sites_under[node]

    def depth(self, node: str) -> int:
        """Edges from the root (root 0, its children 1, ...)."""
        return self._depth[node]

    def levels(self) -> list[list[str]]:
        """The nodes level by level from the root, each level in fleet order."""
        out: list[list[str]] = []
        frontier = [self.root]
        while frontier:
            out.append(frontier)
            frontier = [c for n in frontier for c in self._children.get(n, ())]
        return out

    def region_of(self, site: str) -> str:
        """The aggregator right above ``site`` (a region, or the root)."""
        parent = self.parent(site)
        assert parent is not None
        return parent


# -- building from a spec ----------------------------------------------------------------

def topology_from_data(data: object, sites: Sequence[str] | None = None, *,
                       path: str = "$.topology") -> Topology:
    """Decode ``data`` (a parsed YAML mapping) as a :class:`TopologySpec` and build it.

    msgspec's own errors (an unknown field, a wrong type) become :class:`TopologyError`
    with the path under ``path``.
    """
    try:
        spec = msgspec.convert(data, TopologySpec)
    except msgspec.ValidationError as exc:
        text = str(exc)
        field = None
        marker = " - at `$"
        if marker in text:
            text, _, rest = text.partition(marker)
            field = path + rest.rstrip("`")
        raise TopologyError(text, path=field or path) from None
    return build_topology(spec, sites, path=path)


def build_topology(spec: TopologySpec, sites: Sequence[str] | None = None, *,
                   path: str = "$.topology") -> Topology:
    """Build and validate the tree described by ``spec`` for the fleet ``sites``.

    ``sites`` is the fleet in its order (the order is every level's tie-break); without
    it (explicit form only) the fleet is the sites the spec names, in the order named.
    Every fleet site must be placed exactly once and every site named must be in the
    fleet. Raises :class:`TopologyError` naming the node and the field's path.
    """
    if not spec.root or "/" in spec.root:
        raise TopologyError(f"the root's name {spec.root!r} must be non-empty, without '/'",
                            node=spec.root, path=f"{path}.root")
    if sites is not None:
        seen: set[str] = set()
        for s in sites:
            if s in seen:
                raise TopologyError(f"site {s!r} appears twice in the fleet", node=s)
            seen.add(s)
    if isinstance(spec.regions, int):
        if sites is None:
            raise TopologyError("a generated topology (regions: N) needs the fleet's sites",
                                path=f"{path}.regions")
        if spec.site_regions:
            raise TopologyError("site_regions places sites in explicit regions only; with "
                                "regions: N the rule in `assign` places them",
                                path=f"{path}.site_regions")
        placement = _generate(spec, list(sites), path)
        return _tree(spec.root, {r: None for r in dict.fromkeys(placement.values())},
                     placement, list(sites), path)
    if spec.assign is not None:
        raise TopologyError("assign is a rule for a generated topology (regions: N); an "
                            "explicit one lists its regions' sites", path=f"{path}.assign")
    parents, placement, named = _explicit(spec, sites, path)
    fleet = list(sites) if sites is not None else named
    return _tree(spec.root, parents, placement, fleet, path)


def _region_names(n: int) -> list[str]:
    width = len(str(n))
    return [f"region-{i:0{width}d}" for i in range(1, n + 1)]


def _generate(spec: TopologySpec, sites: list[str], path: str) -> dict[str, str]:
    n = spec.regions
    assert isinstance(n, int)
    rule = spec.assign or "blocks"
    if rule == "prefix":
        placement = {}
        for s in sites:
            head, sep, _ = s.rpartition(spec.separator)
            if not sep or not head:
                raise TopologyError(f"site {s!r} has no {spec.separator!r} to take a prefix "
                                    f"from", node=s, path=f"{path}.assign")
            placement[s] = head
        found = len(set(placement.values()))
        if found != n:
            raise TopologyError(f"the prefix rule gives {found} regions, regions says {n}",
                                path=f"{path}.regions")
        return placement
    if n > len(sites):
        raise TopologyError(f"{n} regions for {len(sites)} sites would leave a region "
                            f"empty", path=f"{path}.regions")
    names = _region_names(n)
    if rule == "round-robin":
        return {s: names[i % n] for i, s in enumerate(sites)}
    size, extra = divmod(len(sites), n)
    placement = {}
    start = 0
    for r, name in enumerate(names):
        stop = start + size + (1 if r < extra else 0)
        for s in sites[start:stop]:
            placement[s] = name
        start = stop
    return placement


def _explicit(spec: TopologySpec, sites: Sequence[str] | None,
              path: str) -> tuple[dict[str, str | None], dict[str, str], list[str]]:
    assert isinstance(spec.regions, list)
    regions: list[RegionSpec] = spec.regions
    parents: dict[str, str | None] = {}
    index: dict[str, int] = {}
    for i, r in enumerate(regions):
        where = f"{path}.regions[{i}]"
        if not r.name or "/" in r.name:
            raise TopologyError(f"region name {r.name!r} must be non-empty, without '/'",
                                node=r.name, path=f"{where}.name")
        if r.name == spec.root:
            raise TopologyError(f"region {r.name!r} has the root's name", node=r.name,
                                path=f"{where}.name")
        if r.name in parents:
            raise TopologyError(f"region {r.name!r} is defined twice (first at "
                                f"regions[{index[r.name]}])", node=r.name, path=f"{where}.name")
        parent = None if r.parent in (None, spec.root) else r.parent
        parents[r.name] = parent
        index[r.name] = i
    for name, parent in parents.items():
        if parent is not None and parent not in parents:
            raise TopologyError(f"region {name!r} has parent {parent!r}, which is neither a "
                                f"region nor the root {spec.root!r}", node=name,
                                path=f"{path}.regions[{index[name]}].parent")
    for name in parents:  # a cycle among the regions never reaches the root
        chain = [name]
        node = parents[name]
        while node is not None:
            if node in chain:
                cycle = chain[chain.index(node):]
                raise TopologyError(f"regions form a cycle: {' -> '.join(cycle + [node])} "
                                    f"(it never reaches the root)", node=node,
                                    path=f"{path}.regions[{index[node]}].parent")
            chain.append(node)
            node = parents[node]
    fleet_names = list(sites) if sites is not None else None
    placement: dict[str, str] = {}
    where_placed: dict[str, str] = {}
    named: list[str] = []

    def place(site: str, region: str, field: str) -> None:
        if site in parents or site == spec.root:
            raise TopologyError(f"{site!r} is both a site and a region (or the root)",
                                node=site, path=field)
        if fleet_names is not None and site not in fleet_set:
            raise TopologyError(f"site {site!r} is not in the fleet", node=site, path=field)
        if site in placement:
            other = placement[site]
            what = (f"listed twice in region {region!r}" if other == region else
                    f"in two regions: {other!r} ({where_placed[site]}) and {region!r}")
            raise TopologyError(f"site {site!r} is {what}", node=site, path=field)
        placement[site] = region
        where_placed[site] = field
        named.append(site)

    fleet_set = set(fleet_names or ())
    for i, r in enumerate(regions):
        for j, s in enumerate(r.sites):
            place(s, r.name, f"{path}.regions[{i}].sites[{j}]")
        for j, pattern in enumerate(r.match):
            field = f"{path}.regions[{i}].match[{j}]"
            if fleet_names is None:
                raise TopologyError("a match pattern needs the fleet's sites", path=field)
            test = re.compile(fnmatch.translate(pattern)).match
            hits = [s for s in fleet_names if test(s)]
            if not hits:
                raise TopologyError(f"pattern {pattern!r} of region {r.name!r} matches no "
                                    f"site", node=r.name, path=field)
            for s in hits:
                place(s, r.name, field)
    for site, region in spec.site_regions.items():
        field = f"{path}.site_regions.{site}"
        if region != spec.root and region not in parents:
            raise TopologyError(f"site {site!r} is placed in {region!r}, which is neither a "
                                f"region nor the root {spec.root!r}", node=site, path=field)
        place(site, region, field)
    has_child = set(placement.values()) | {p for p in parents.values() if p is not None}
    for name in parents:
        if name not in has_child:
            raise TopologyError(f"region {name!r} has no sites and no regions below it",
                                node=name, path=f"{path}.regions[{index[name]}]")
    return parents, placement, named


def _tree(root: str, parents: Mapping[str, str | None], placement: Mapping[str, str],
          fleet: Sequence[str], path: str) -> Topology:
    for s in fleet:
        if s not in placement:
            raise TopologyError(f"site {s!r} is in no region (an orphan)", node=s, path=path)
        if s in parents or s == root:
            raise TopologyError(f"{s!r} is both a site and a region (or the root)", node=s,
                                path=path)
    graph = nx.DiGraph()
    graph.add_node(root, kind=ROOT)
    graph.add_nodes_from(parents, kind=REGION)
    graph.add_edges_from((root if parent is None else parent, region)
                         for region, parent in parents.items())
    graph.add_nodes_from((s, {"kind": SITE, "order": i}) for i, s in enumerate(fleet))
    graph.add_edges_from((placement[s], s) for s in fleet)
    for region in parents:
        if not graph.out_degree(region):
            raise TopologyError(f"region {region!r} has no sites and no regions below it",
                                node=region, path=path)
    return Topology(graph)
