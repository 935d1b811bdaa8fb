"""``vpp bench admm --regions R --processes P``: whole regions, with their sites, in P
processes that join the root over TCP loopback.

The root agent lives in this process; the regions are dealt to the processes in
contiguous blocks (``region-01`` ... with the first process), each process hosting its
regions' agents and their sites' agents (:mod:`.admm_regions_site`, from the warm fork
server), so that only the regions' messages cross processes: per iteration one
``RegionalRound`` down and one ``RegionalSums`` up per region. The deadlines are wall
time: the root's is the larger of the default and 20 ms per site of the largest process
(its sites solve one after the other), the regions' 0.8 of it.

Figures: ``admm_s`` the negotiation's wall time (from the first signal to the root's
end), ``ready_s`` the processes' start until every one has joined (each builds its
sites' local problems), ``messages`` and ``dropped`` over every host, ``peak_rss_mb`` the
peak memory of this process and every region process together.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import zmq
from vpp.agents.hierarchy.admm_root import AdmmRootAgent
from vpp.agents.membership.messages import Stop, distributed_registry
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.admm.model import SiteModel, TargetCoupling
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.hierarchy.admm_root import HierarchyAdmmResult
from vpp.coordination.hierarchy.topology import Topology
from vpp.runs.bench.admm_processes import BenchReady
from vpp.runs.bench.admm_regions_site import peak_rss_mb, region_child
from vpp.runs.placement.spawn import PRELOAD, SiteSpawner


def deal_regions(regions: Sequence[str], processes: int) -> list[tuple[str, ...]]:
    """The regions in ``processes`` contiguous blocks (the first ones larger by one)."""
    if not 1 <= processes <= len(regions):
        raise ValueError(f"--processes must be between 1 and --regions ({len(regions)}), "
                         f"got {processes}")
    return [tuple(block) for block in np.array_split(np.array(regions, dtype=object),
                                                     processes)]


def negotiate_in_processes(models: Sequence[SiteModel], coupling: TargetCoupling,
                           topology: Topology, settings: AdmmSettings, processes: int,
                           seed: int) -> tuple[HierarchyAdmmResult, dict]:
    """Negotiate ``coupling`` with the regions of ``topology`` in ``processes`` processes
    (built there from ``seed``, as :func:`.admm_regions.instance` builds ``models``);
    return the root's outcome and the run's figures."""
    blocks = deal_regions(topology.regions, processes)
    biggest = max(sum(len(topology.sites_under(r)) for r in block) for block in blocks)
    settings = dataclasses.replace(settings,
                                   deadline_ms=max(settings.deadline_ms, 20 * biggest))
    hosts = [f"regions-{i + 1}" for i in range(processes)]
    addresses = {r: f"{h}/{r}" for h, block in zip(hosts, blocks) for r in block}
    horizon = models[0].horizon
    context = zmq.Context()
    agg = Host("agg", f"inproc://agg-{uuid.uuid4().hex}", context=context,
               registry=distributed_registry())
    endpoint = agg.listen("tcp://127.0.0.1:*")
    ready = agg.add(BenchReady())
    root = agg.add(AdmmRootAgent(topology.root, topology, addresses, settings))
    loop = EventLoop(agg)
    spawner = SiteSpawner(preload=[*PRELOAD, "vpp.runs.bench.admm_regions_site"])
    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as out:
        try:
            t0 = time.perf_counter()
            spawner.start_processes(region_child, [
                (h, (h, block, len(models), len(topology.regions), horizon, seed,
                     root.name, endpoint, out)) for h, block in zip(hosts, blocks)])
            if not loop.run_until(lambda: len(ready.hosts) == processes
                                  or spawner.failed() is not None, 600):
                raise RuntimeError(f"{len(ready.hosts)} of {processes} processes joined")
            if spawner.failed() is not None:
                raise RuntimeError(spawner.failed())
            ready_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            root.begin(0, coupling, horizon, 1.0)
            if not loop.run_until(lambda: root.done, 3600):
                raise RuntimeError("the ADMM negotiation did not end within 3600 s")
            admm_s = time.perf_counter() - t0
            loop.run_for(0.2)  # the RegionalDone messages out
            for host in sorted(ready.hosts):
                agg.send(ready, f"{host}/link", Stop("bench over"))
            loop.run_for(0.2)
        finally:
            sent, dropped = agg.stats.sent, agg.stats.dropped_total
            agg.close()
            codes = spawner.stop(grace_s=10.0)
            context.term()
        children = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*.json"))]
    return root.results[-1], {
        "admm_s": round(admm_s, 3), "ready_s": round(ready_s, 3), "transport": "tcp",
        "messages": sent + sum(c["sent"] for c in children),
        "dropped": dropped + sum(c["dropped"] for c in children),
        "processes_reported": len(children),
        "clean_exit": codes == [0] * processes,
        "peak_rss_mb_all": round(peak_rss_mb() + sum(c["peak_rss_mb"] for c in children), 1),
        "deadline_ms": settings.deadline_ms,
    }
