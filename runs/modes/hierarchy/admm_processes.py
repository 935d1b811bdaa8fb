"""Whole regions in site processes for ADMM: ``vpp run SCENARIO --processes N`` of an ADMM
scenario with ``topology:``.

The regions are dealt as merit order deals them (:func:`.merit_processes.deal_subtrees`:
the root's subtrees in contiguous blocks, a site right under the root with the block it
falls in). Each process is a site process of the ``processes`` placement
(:func:`~vpp.runs.placement.site_process.serve_sites`: the same ADMM sites, joining,
heartbeats and loss handling) that also hosts its regions'
:class:`~vpp.agents.hierarchy.admm_region.AdmmRegionAgent` s, as the bench's region
processes do (:mod:`vpp.runs.bench.admm_regions_site`); so per iteration only one
``RegionalRound`` down and one ``RegionalSums`` up per region cross between processes.

A region process that dies is found lost by the coordinator (its sites named in the
summary's ``lost_sites``); the root drops the region at its round's deadline, every site
below it with it, and negotiates on over the rest of the fleet, which delivers its plan;
the lost sites' share of the target is unserved. The next window's negotiation calls only
the subtrees still up.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

from vpp.coordination.hierarchy.topology import Topology
from vpp.runs.modes.hierarchy.merit_processes import SubtreeProcesses, node_address
from vpp.runs.placement.spawn import SiteGroup
from vpp.runs.scenario import Scenario


def node_addresses(tree: Topology, homes: dict[str, str]) -> dict[str, str]:
    """Every node's agent address when its subtree lives in ``homes[node]`` (the root on
    the aggregator's host)."""
    address = node_address(tree, homes)
    return {node: address(node) for node in tree.graph.nodes}


def admm_subtree_child(where: str, scenario_msgpack: bytes, group: SiteGroup,
                       homes: dict[str, str], connect: str, out_dir: str | None,
                       settings: Any, allow_plugins: bool, parent: Any,
                       log_level: int) -> None:
    """A region process's body (runs in the child): its ADMM sites, and its regions'
    agents."""
    from vpp.runs.placement.spawn import set_parent_death_signal

    set_parent_death_signal(signal.SIGTERM)
    logging.basicConfig(level=log_level, format=f"{group.host}: %(levelname)s %(message)s")
    import msgspec
    from vpp.agents.hierarchy.admm_region import AdmmRegionAgent
    from vpp.coordination.hierarchy.topology import build_topology
    from vpp.runs.placement.site_process import serve_sites

    scenario = msgspec.msgpack.decode(scenario_msgpack, type=Scenario)
    tree = build_topology(scenario.topology, scenario.site_names())
    addresses = node_addresses(tree, homes)
    mine = [r for r in tree.regions if homes[r] == group.host]

    def add_regions(host: Any) -> None:
        for region in mine:
            host.add(AdmmRegionAgent(region, tree, addresses))

    result = serve_sites(scenario, group.sites, connect, out_dir=out_dir, where=where,
                         host_name=group.host, settings=settings, parent_fd=parent.fileno(),
                         allow_plugins=allow_plugins, ship_trace=False, on_host=add_regions)
    sys.exit(result.exit_code)


class AdmmSubtreeProcesses(SubtreeProcesses):
    """The ``processes`` placement for ADMM through regions: whole regions, with their
    ADMM region agents, in each process (the arguments of :class:`SubtreeProcesses`).

    ``open`` is :meth:`SubtreeProcesses.open`, which starts this module's ``child``.
    """

    child = staticmethod(admm_subtree_child)
