"""Regions on other machines: ``vpp aggregator SCENARIO --region NAME --parent tcp://...``.

A region process runs one top-level region of a ``topology:`` scenario (its
:class:`~vpp.agents.hierarchy.merit_region.RegionAgent`, those of the regions nested in
it, and its sites' agents) and joins its parent, the root (``vpp aggregator SCENARIO
--bind ...``), as a site process does: the same registration (in parts when its sites do
not fit one frame; ``Register.regions`` names the regions it runs), CURVE keys,
heartbeats and loss handling (:func:`~vpp.runs.placement.site_process.serve_sites`). The
``--processes`` placement's region processes (:mod:`.merit_processes`) are the same
thing started from the warm fork server.

The root's side is the ``remote`` placement: its coordinator admits a host only with
whole top-level regions (:func:`whole_regions`), and once every site joined the root
addresses each region at the host that registered it (:func:`remote_addresses`).
See ``docs/protocols/hierarchy.md``, "Regions on other machines".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from vpp.coordination.hierarchy.topology import REGION, SITE, Topology
from vpp.runs.placement.remote import AGGREGATOR_HOST


def top_region(tree: Topology, node: str) -> str:
    """The region right under the root that ``node`` is in (``node`` itself when it is
    one; the root for a site right under the root)."""
    while (parent := tree.parent(node)) is not None and parent != tree.root:
        node = parent
    return node if tree.parent(node) is not None else tree.root


def region_subtree(tree: Topology, region: str, option: str = "--region",
                   ) -> tuple[list[str], list[str]]:
    """The regions (``region`` first, then those nested in it, parents first) and the
    sites (fleet order) that ``region``'s process runs. Raises ``ValueError`` naming
    ``option`` when ``region`` is not a region of the tree, or not one right under the
    root (a nested region runs in its top region's process)."""
    tops = [c for c in tree.children(tree.root) if tree.kind(c) == REGION]
    if region not in tree.graph or tree.kind(region) != REGION:
        raise ValueError(f"{option} {region}: not a region of the topology (the regions "
                         f"under the root {tree.root!r}: {', '.join(tops) or 'none'})")
    top = top_region(tree, region)
    if top != region:
        raise ValueError(f"{option} {region}: a nested region (under "
                         f"{tree.parent(region)!r}) runs in its top region's process: "
                         f"give {option} {top}")
    regions = [r for r in tree.regions if top_region(tree, r) == region]
    return regions, list(tree.sites_under(region))


def region_topology(tree: Topology, host: str, regions: Iterable[str]) -> Topology:
    """``tree`` named by agent address as a region process sees it: the root on the
    aggregator's host, the nodes of ``regions``' subtrees on ``host``, any other node at
    a placeholder on the aggregator's host (never addressed from this process)."""
    from vpp.agents.hierarchy.merit_common import addressed

    own = {n for r in regions for n in (r, *tree.sites_under(r))}
    own |= {c for r in regions for c in tree.children(r)}
    return addressed(tree, lambda n: f"{host}/{n}" if n in own else f"{AGGREGATOR_HOST}/{n}")


def region_agents(tree: Topology, host: str, regions: Sequence[str]) -> Callable[[Any], None]:
    """What adds ``regions``' :class:`RegionAgent` s to a region process's host (its
    ``on_host``)."""
    from vpp.agents.hierarchy.merit_region import RegionAgent

    topology = region_topology(tree, host, regions)

    def add(h: Any) -> None:
        for region in regions:
            h.add(RegionAgent(region, topology))

    return add


def whole_regions(tree: Topology) -> Callable[[str, list[str], list[str]], str | None]:
    """The root coordinator's admission of a host (its ``admit``): the regions it runs are
    top-level regions of the tree, and it serves exactly their sites (plus, if it likes,
    sites right under the root); None when it may join, else why not."""
    def admit(host: str, sites: list[str], regions: list[str]) -> str | None:
        for region in regions:
            try:
                region_subtree(tree, region, "Register.regions")
            except ValueError as exc:
                return str(exc)
        claimed = set(regions)
        for region in regions:
            missing = [s for s in tree.sites_under(region) if s not in set(sites)]
            if missing:
                return (f"Register.regions: region {region} without its sites "
                        f"{missing[:10]}: a region process serves every site of its region")
        strays = [s for s in sites if tree.parent(s) != tree.root
                  and top_region(tree, s) not in claimed]
        if strays:
            return (f"Register.sites: sites {strays[:10]} are under regions this host does "
                    f"not run ({sorted({top_region(tree, s) for s in strays})[:5]}): "
                    "they join with their region (vpp aggregator --region)")
        return None

    return admit


def remote_addresses(tree: Topology, members: Iterable[Any]) -> Callable[[str], str]:
    """Each node's agent address once the hosts joined: the root on the aggregator's host,
    a region and its subtree at the host that registered it, a site right under the root
    at the host serving it (``members``: the coordinator's, with ``regions`` and
    ``sites``)."""
    home: dict[str, str] = {}
    for member in members:
        for s in member.sites:
            home[s] = member.host
        for region in member.regions:
            for node in (region, *_below(tree, region)):
                home[node] = member.host
    return lambda n: f"{AGGREGATOR_HOST}/{n}" if n == tree.root else f"{home.get(n, '?')}/{n}"


def _below(tree: Topology, node: str) -> list[str]:
    out, frontier = [], [node]
    while frontier:
        frontier = [c for n in frontier for c in tree.children(n)]
        out += [c for c in frontier if tree.kind(c) != SITE]
    return out


def serve_region(scenario: Any, region: str, connect: str, *,
                 host_name: str | None = None, **serve: Any) -> Any:
    """Serve ``region`` of ``scenario`` (its regions' agents and its sites) for the root at
    ``connect`` until stopped (:func:`~vpp.runs.placement.site_process.serve_sites`, whose
    keyword arguments ``serve`` passes on); return its result. ``host_name``: the
    process's host (default: the region's name). Raises ``ValueError`` naming
    ``--region`` (see :func:`region_subtree`)."""
    from vpp.coordination.hierarchy.topology import build_topology
    from vpp.runs.placement.site_process import serve_sites

    tree = build_topology(scenario.topology, scenario.site_names())
    regions, sites = region_subtree(tree, region)
    host = host_name or region
    # registered: the top region only (the root addresses the nested ones at its host)
    return serve_sites(scenario, sites, connect, host_name=host, regions=[region],
                       on_host=region_agents(tree, host, regions), **serve)


class RemoteRegions:
    """The ``remote`` placement of a hierarchy: the root's side of ``vpp aggregator`` whose
    regions join from region processes (``vpp aggregator --region``).

    Args:
        placement: the remote placement (listening, keys, timing) it opens.
        tree: the scenario's hierarchy (nodes by name).
    """

    name = "remote"

    def __init__(self, placement: Any, tree: Topology) -> None:
        self.placement = placement
        self.tree = tree

    def open(self, scenario: Any, context: Any, sites: Any) -> Any:
        """Listen and wait until every site joined, each region whole in one host."""
        self.placement.admit = whole_regions(self.tree)
        return self.placement.open(scenario, context, sites)

    def node_address(self, fleet: Any) -> Callable[[str], str]:
        """Each node's agent address, by the hosts that joined ``fleet``."""
        return remote_addresses(self.tree, fleet.coordinator.members.values())

    def hosts_version(self, fleet: Any) -> tuple:
        """The live hosts with their regions: when it changes (a region process joined
        late, e.g. with ``--min-sites``), the run addresses the tree again."""
        return tuple(sorted((m.host, tuple(m.regions), len(m.sites))
                            for m in fleet.coordinator.members.values()))
