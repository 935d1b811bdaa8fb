"""Whole regions in site processes: ``vpp run SCENARIO --processes N`` of a scenario with
``topology:``.

The top-level subtrees of the tree (each region under the root, with its sites and
nested regions) are dealt to ``N`` processes in contiguous blocks, fleet order kept; a site
right under the root goes with the block it falls in. Each process is a site process of
the ``processes`` placement (:func:`~vpp.runs.placement.site_process.serve_sites`: the
same sites, the same joining, heartbeats and loss handling) that also hosts its
regions' :class:`~vpp.agents.hierarchy.merit_region.RegionAgent` s, so a region talks to
its sites inside its process and only its curve and answers cross to the root.

A region process that dies is found lost by the coordinator (its sites named in the
summary's ``lost_sites``); the root finds the region silent at its deadline, every site
below it silent (``silent_regions``), and merit order goes on over the rest of the fleet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

from vpp.coordination.hierarchy.topology import SITE, Topology
from vpp.runs.placement.base import SiteBuilder
from vpp.runs.placement.processes import Children, ProcessesPlacement
from vpp.runs.placement.remote import AGGREGATOR_HOST, RemoteFleet, RemotePlacement
from vpp.runs.placement.spawn import SiteGroup, SiteSpawner, sigterm_as_exit
from vpp.runs.scenario import Scenario
from vpp.runs.stages import announce


def deal_subtrees(tree: Topology, processes: int) -> tuple[list[SiteGroup], dict[str, str]]:
    """The site groups of ``processes`` processes (``regions-1`` ...) and each node's
    host: the root's subtrees in contiguous blocks, the first blocks one larger when they
    do not divide evenly. Raises ``ValueError`` naming ``--processes`` when there are
    fewer top-level regions than processes."""
    top = tree.children(tree.root)
    regions = [c for c in top if tree.kind(c) != SITE]
    if not 1 <= processes <= len(regions):
        raise ValueError(f"--processes {processes}: whole regions go to each process, and "
                         f"the topology has {len(regions)} under the root "
                         f"{tree.root!r}; give 1 to {len(regions)}")
    base, extra = divmod(len(regions), processes)
    bounds, start = [], 0
    for i in range(processes):
        start += base + (1 if i < extra else 0)
        bounds.append(start)
    homes: dict[str, str] = {}
    seen = 0
    for child in top:  # a direct site joins the block of the regions around it
        block = next(i for i, b in enumerate(bounds) if seen < b or i == processes - 1)
        host = f"regions-{block + 1}"
        homes[child] = host
        if tree.kind(child) != SITE:
            seen += 1
            below = [child]
            while below:
                below = [c for n in below for c in tree.children(n)]
                homes.update({c: host for c in below})
    groups = [SiteGroup(f"regions-{i + 1}",
                        tuple(s for s in tree.sites if homes[s] == f"regions-{i + 1}"))
              for i in range(processes)]
    return groups, homes


def node_address(tree: Topology, homes: Mapping[str, str]):
    """Each node's agent address when its subtree lives in ``homes[node]`` (the root on
    the aggregator's host)."""
    def address(node: str) -> str:
        return f"{AGGREGATOR_HOST if node == tree.root else homes[node]}/{node}"
    return address


def _subtree_child(where: str, scenario_msgpack: bytes, group: SiteGroup,
                   homes: dict[str, str], connect: str, out_dir: str | None, settings: Any,
                   allow_plugins: bool, parent: Any, log_level: int) -> None:
    """A region process's body (runs in the child): its sites, and its regions' agents."""
    from vpp.runs.placement.spawn import set_parent_death_signal

    set_parent_death_signal(signal.SIGTERM)
    logging.basicConfig(level=log_level, format=f"{group.host}: %(levelname)s %(message)s")
    import msgspec
    from vpp.coordination.hierarchy.topology import build_topology
    from vpp.runs.modes.hierarchy.merit_remote import region_agents
    from vpp.runs.placement.site_process import serve_sites

    scenario = msgspec.msgpack.decode(scenario_msgpack, type=Scenario)
    tree = build_topology(scenario.topology, scenario.site_names())
    mine = [r for r in tree.regions if homes[r] == group.host]
    top = [r for r in mine if tree.parent(r) == tree.root]  # named in its registration

    result = serve_sites(scenario, group.sites, connect, out_dir=out_dir, where=where,
                         host_name=group.host, settings=settings, parent_fd=parent.fileno(),
                         allow_plugins=allow_plugins, ship_trace=False, regions=top,
                         on_host=region_agents(tree, group.host, mine))
    sys.exit(result.exit_code)


class SubtreeProcesses(ProcessesPlacement):
    """The ``processes`` placement for a hierarchy: whole regions in each process.

    Args:
        tree: the scenario's hierarchy (nodes by name).
        processes, allow_plugins, settings: as for :class:`ProcessesPlacement`.
    """

    child = staticmethod(_subtree_child)
    """The region process's body (a module-level function: the fork server pickles its
    name); the ADMM placement gives its own."""

    def __init__(self, tree: Topology, processes: int, *, allow_plugins: bool = False,
                 settings: Any = None) -> None:
        super().__init__(processes, allow_plugins=allow_plugins, settings=settings)
        self.tree = tree
        self.groups, self.homes = deal_subtrees(tree, processes)

    def node_address(self, fleet: Any):
        """Each node's agent address (the regions dealt before the processes started)."""
        return node_address(self.tree, self.homes)

    @classmethod
    def replacing(cls, placement: ProcessesPlacement, tree: Topology) -> SubtreeProcesses:
        """The subtree placement with ``placement``'s processes and settings."""
        return cls(tree, placement.processes, allow_plugins=placement.allow_plugins,
                   settings=placement.requested_settings)

    def open(self, scenario: Scenario, context: Any, sites: SiteBuilder) -> RemoteFleet:
        """Listen on a private ``ipc://`` endpoint, start the region processes, wait until
        every site joined (as :meth:`ProcessesPlacement.open`, regions dealt whole)."""
        import msgspec

        self.settle(self.groups, context.site_call_ms)

        signals = contextlib.ExitStack()
        if threading.current_thread() is threading.main_thread():
            signals.enter_context(sigterm_as_exit())
        ipc_dir = tempfile.mkdtemp(prefix="vpp-")
        os.chmod(ipc_dir, 0o700)
        announce(f"starting {self.processes} region process"
                 f"{'es' if self.processes != 1 else ''}")
        spawner = self.spawner = SiteSpawner()
        where = str(context.scenario_path or scenario.name)
        encoded = msgspec.msgpack.encode(scenario)
        level = logging.getLogger().getEffectiveLevel()
        out = None if context.out_dir is None else str(context.out_dir)

        def start(endpoint: str) -> None:
            spawner.start_processes(self.child, [
                (g.host, (where, encoded, g, self.homes, endpoint, out, self.settings,
                          self.allow_plugins)) for g in self.groups], level)

        remote = RemotePlacement(f"ipc://{ipc_dir}/aggregator", settings=self.settings,
                                 abort=spawner.failed, on_listening=start)
        try:
            fleet = remote.open(scenario, context, sites)
        except BaseException:
            try:
                spawner.stop()
                shutil.rmtree(ipc_dir, ignore_errors=True)
            finally:
                signals.close()
            raise
        fleet.children = Children(spawner, ipc_dir, signals)
        return fleet
