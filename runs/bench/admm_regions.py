"""``vpp bench admm --regions R``: ADMM through regional aggregators, against the
centralized cvxpy solve (and, with ``--flat``, the flat ADMM) of the same instance.

A random target-following instance (``coordination/admm/instances.py``) of N sites x 24
hourly steps; its sites in R regions (contiguous blocks, ``regions: R``). One process:
the root and the R region agents on one host, the sites on another, one event loop,
every message over inproc ZeroMQ; the deadlines run on a simulated clock that moves
only when every host is idle (the sites solve one after the other here, so a wall
deadline would measure this machine, not the protocol). ``--processes P`` puts whole
regions with their sites in P processes that join the root over TCP
(:mod:`.admm_regions_procs`).

``admm_s`` is the negotiation's wall time, ``central_s`` the reference's build plus
solve: the same problem stacked into one sparse QP and solved by Clarabel
(:mod:`.admm_regions_central`; cvxpy's build alone would take minutes at 10,000 sites),
``cost_gap_rel`` as in :mod:`.admm`;
``peak_rss_mb`` the peak resident memory of this process after the negotiation (before
the central solve), ``central_peak_rss_mb`` after the central solve too.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Sequence

import numpy as np
import zmq
from vpp.agents.admm.negotiation import AdmmSiteAgent
from vpp.agents.hierarchy.admm_region import AdmmRegionAgent
from vpp.agents.hierarchy.admm_root import AdmmRootAgent, gathered_result
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.model import Coupling, SiteModel, TargetCoupling
from vpp.coordination.admm.outcome import AdmmResult
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import SITE, Topology, build_topology
from vpp.runs.bench.admm_regions_site import peak_rss_mb


class RegionSwarm:
    """A root, its region agents and the site agents over inproc ZeroMQ, one event loop.

    Args:
        sites: the sites' private models.
        topology: their hierarchy.
        settings: the negotiation's settings.
        trace: where the aggregators' host records its messages and rounds.
        site_agents: site agents to host instead of plain :class:`AdmmSiteAgent`\\ s.
    """

    def __init__(self, sites: Sequence[SiteModel], topology: Topology,
                 settings: AdmmSettings | None = None, *, trace: TraceRecorder | None = None,
                 site_agents: Sequence[AdmmSiteAgent] | None = None) -> None:
        self.context = zmq.Context()
        self.clock = SimulatedClock(0.0)
        tag = uuid.uuid4().hex
        common = {"context": self.context, "registry": default_registry(),
                  "clock": self.clock, "timer_clock": self.clock}
        self.agg_host = Host("agg", f"inproc://hadmm-agg-{tag}", trace=trace, **common)
        self.site_host = Host("sites", f"inproc://hadmm-sites-{tag}", **common)
        self.agg_host.connect("sites", self.site_host.endpoint)
        self.site_host.connect("agg", self.agg_host.endpoint)
        self.topology = topology
        addresses = {n: f"{'sites' if topology.kind(n) == SITE else 'agg'}/{n}"
                     for n in topology.graph.nodes}
        agents = list(site_agents) if site_agents is not None else [
            AdmmSiteAgent(s.name, s) for s in sites]
        self.site_agents = [self.site_host.add(a) for a in agents]
        self.regions = {r: self.agg_host.add(AdmmRegionAgent(r, topology, addresses))
                        for r in topology.regions}
        self.root = self.agg_host.add(AdmmRootAgent(topology.root, topology, addresses,
                                                    settings))
        self.loop = EventLoop(self.agg_host, self.site_host)
        self.hosts = [self.agg_host, self.site_host]

    def negotiate(self, coupling: Coupling, horizon: int, dt_h: float, *, step: int = 0,
                  timeout_s: float = 3600.0) -> AdmmResult:
        """Run one negotiation to its end (each site told its outcome) and return it in
        the flat run's terms (sites by name)."""
        self.root.begin(step, coupling, horizon, dt_h)
        told = [a.final for a in self.site_agents]

        def over() -> bool:
            return self.root.done and all(
                a.final is not before for a, before in zip(self.site_agents, told)
                if a.solver.last_round >= 0 and a.name not in self.root.results[-1].dropped)

        if not self.loop.run_until(over, timeout_s, horizon_s=math.inf):
            raise TimeoutError(f"ADMM negotiation did not end within {timeout_s} s")
        return gathered_result(self.root, self.regions.values(), coupling, dt_h)

    @property
    def messages(self) -> int:
        """Messages sent by both hosts."""
        return sum(h.stats.sent for h in self.hosts)

    @property
    def dropped(self) -> int:
        """Messages dropped by both hosts."""
        return sum(h.stats.dropped_total for h in self.hosts)

    def close(self) -> None:
        """Close both hosts and the context."""
        for host in self.hosts:
            host.close()
        self.context.destroy(linger=0)


def instance(sites: int, regions: int, horizon: int, seed: int,
             ) -> tuple[list[SiteModel], TargetCoupling, Topology]:
    """The bench's instance: random sites and target, and the sites in ``regions``
    contiguous blocks."""
    models = random_sites(sites, horizon, 1.0, seed)
    topology = build_topology(TopologySpec(regions=regions), [m.name for m in models])
    return models, random_target(models, seed), topology


def run(sites: int = 1000, regions: int = 10, horizon: int = 24, seed: int = 0,
        processes: int | None = None, flat: bool = False) -> dict:
    """Negotiate a random instance through ``regions`` regions; solve it centrally; with
    ``flat`` negotiate it flat too (the one-process flat bench's swarm)."""
    from vpp.runs.bench.admm import cost_gap_rel
    from vpp.runs.bench.admm_regions_central import solve_stacked

    if not 1 <= regions <= sites:
        raise ValueError(f"--regions must be between 1 and --sites ({sites}), got {regions}")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    models, coupling, topology = instance(sites, regions, horizon, seed)
    build_s = time.perf_counter() - t0
    settings = AdmmSettings()
    flat_terms: AdmmResult | None = None  # with the schedules (one process only)
    if processes is not None:
        from vpp.runs.bench.admm_regions_procs import negotiate_in_processes

        result, figures = negotiate_in_processes(models, coupling, topology, settings,
                                                 processes, seed)
    else:
        t0 = time.perf_counter()
        swarm = RegionSwarm(models, topology, settings)
        setup_s = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            flat_terms = swarm.negotiate(coupling, horizon, 1.0)
            admm_s = time.perf_counter() - t0
            result = swarm.root.results[-1]
            figures = {"admm_s": round(admm_s, 3), "setup_s": round(setup_s, 3),
                       "messages": swarm.messages, "dropped": swarm.dropped,
                       "transport": "inproc"}
        finally:
            swarm.close()
    peak = peak_rss_mb()
    t0 = time.perf_counter()
    reference = solve_stacked(models, coupling)
    central_s = time.perf_counter() - t0
    gap = (result.cost_eur - reference.cost_eur) / abs(reference.cost_eur)
    out = {
        "sites": sites, "regions": regions, "processes": processes, "horizon": horizon,
        "iterations": result.iterations, "converged": result.converged,
        "reason": result.reason,
        **figures,
        "build_s": round(build_s, 3),
        "central_s": round(central_s, 3),
        "central_solver": "clarabel (stacked QP)",
        "cost_admm_eur": round(result.cost_eur, 4),
        "cost_centralized_eur": round(reference.cost_eur, 4),
        # (ADMM cost - optimal cost) / |optimal cost|, signed (the gap)
        "gap": float(f"{gap:.3g}"),
        "cost_gap_rel": (float(f"{cost_gap_rel(flat_terms, reference):.3g}")
                         if flat_terms is not None else None),
        "target_gap_kw": float(
            f"{np.abs(result.total_kw - np.asarray(coupling.target_kw)).max():.3g}"),
        "sites_dropped": len(result.dropped),
        "peak_rss_mb": round(peak, 1),
        "central_peak_rss_mb": round(peak_rss_mb(), 1),
        # other work on the machine slows every figure: the 1-minute load, before and after
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if flat:
        out.update(_flat(models, coupling, horizon, result))
    return out


def _flat(models: list[SiteModel], coupling: Coupling, horizon: int,
          hierarchy: AdmmResult) -> dict:
    """The same instance negotiated flat (``vpp bench admm``'s swarm), in this run."""
    from vpp.runs.bench.admm import AdmmSwarm

    sites = len(models)
    swarm = AdmmSwarm(models, AdmmSettings(deadline_ms=max(AdmmSettings().deadline_ms,
                                                           20 * sites)))
    try:
        t0 = time.perf_counter()
        result = swarm.negotiate(coupling, horizon, 1.0, timeout_s=3600.0)
        flat_s = time.perf_counter() - t0
        messages = swarm.agg_host.stats.sent + swarm.site_host.stats.sent
    finally:
        swarm.close()
    return {"flat_admm_s": round(flat_s, 3), "flat_iterations": result.iterations,
            "flat_converged": result.converged, "flat_messages": messages,
            "flat_cost_rel_diff": float(
                f"{abs(hierarchy.cost_eur - result.cost_eur) / abs(result.cost_eur):.3g}")
            if result.cost_eur else None}
