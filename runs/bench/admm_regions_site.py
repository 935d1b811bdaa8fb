"""The region processes of ``vpp bench admm --regions R --processes P``: region agents with
their site agents, and the bench's link to the root.

Kept apart from :mod:`vpp.runs.bench.admm_regions_procs` so that a child imports nothing
heavy (the reference solver); the fork server preloads this module. Each process builds
the same random instance and topology from the seed, hosts its regions and their sites,
and at the end writes what its host sent and dropped, and its peak memory, to
``<out>/<host>.json``.
"""

from __future__ import annotations

import json
import logging
import resource
import uuid
from pathlib import Path

import zmq
from vpp.agents.admm.negotiation import AdmmSiteAgent
from vpp.agents.hierarchy.admm_region import AdmmRegionAgent
from vpp.agents.membership.messages import distributed_registry
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.admm.instances import random_sites
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology
from vpp.runs.bench.admm_site import BenchLink
from vpp.runs.placement.site_process import parent_gone
from vpp.runs.placement.spawn import set_parent_death_signal


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def region_child(host_name: str, regions: tuple[str, ...], n_sites: int, n_regions: int,
                 horizon: int, seed: int, root: str, connect: str, out: str, parent,
                 log_level: int) -> None:
    """A region process of the bench (runs in the child; ``parent`` is the pipe end whose
    end-of-file means the parent is gone)."""
    set_parent_death_signal()
    logging.basicConfig(level=log_level)
    models = {m.name: m for m in random_sites(n_sites, horizon, 1.0, seed)}
    topology = build_topology(TopologySpec(regions=n_regions), list(models))
    context = zmq.Context()
    host = Host(host_name, f"inproc://{host_name}-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry())
    host.connect("agg", connect, duplex=True)
    addresses = {topology.root: f"agg/{root}"}
    for region in regions:
        addresses.update({s: f"{host_name}/{s}" for s in topology.sites_under(region)})
        addresses.update({r: f"{host_name}/{r}" for r in topology.children(region)})
    for region in regions:
        host.add(AdmmRegionAgent(region, topology, addresses))
        for site in topology.sites_under(region):
            host.add(AdmmSiteAgent(site, models[site]))
    link = host.add(BenchLink())
    loop = EventLoop(host)
    try:
        while not link.stopped and not parent_gone(parent.fileno()):
            loop.run_once(0.05)
    finally:
        host.close()
        context.term()
        Path(out, f"{host_name}.json").write_text(json.dumps({
            "sent": host.stats.sent, "dropped": host.stats.dropped_total,
            "peak_rss_mb": peak_rss_mb()}))
