"""``vpp bench admm``: ADMM over ZeroMQ (inproc) against the centralized cvxpy solve.

One aggregator host and one site host in this process, one event loop: every round's
signal and every schedule crosses ZeroMQ. ``admm_s`` is the negotiation's wall time (the
site solves run one after the other here; in a swarm of site processes they run side by
side), ``setup_s`` the time to build the sites' local problems, ``central_s`` the
reference's build plus solve (cvxpy with Clarabel). ``cost_gap_rel`` is
``|cost_admm - cost_ref| / max(|cost_ref|, sum of |site costs|)``, the second term so
that a portfolio whose costs and revenues cancel does not inflate the figure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import numpy as np
import zmq
from vpp.agents.admm.negotiation import AdmmAggregatorAgent, AdmmSiteAgent
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder
from vpp.coordination.admm.instances import random_market, random_sites, random_target
from vpp.coordination.admm.model import Coupling, SiteModel, TargetCoupling
from vpp.coordination.admm.protocol import AdmmResult, AdmmSettings
from vpp.coordination.admm.reference import CentralResult, solve_centralized
from vpp.runs.bench.paired import interleave


class AdmmSwarm:
    """An aggregator and its site agents over inproc ZeroMQ, served by one event loop.

    Args:
        sites: the sites' private models.
        settings: the negotiation's settings.
        context: the ZeroMQ context (one is made when None, and terminated on close).
        trace: where the aggregator host records its messages and rounds.
        site_agents: site agents to host instead of plain :class:`AdmmSiteAgent`\\ s.
    """

    def __init__(self, sites: Sequence[SiteModel], settings: AdmmSettings | None = None, *,
                 context: zmq.Context | None = None, trace: TraceRecorder | None = None,
                 site_agents: Sequence[AdmmSiteAgent] | None = None) -> None:
        self._own_context = context is None
        self.context = context or zmq.Context()
        tag = f"{id(self):x}"
        registry = default_registry()
        self.agg_host = Host("agg", f"inproc://admm-agg-{tag}", context=self.context,
                             registry=registry, trace=trace)
        self.site_host = Host("sites", f"inproc://admm-sites-{tag}", context=self.context,
                              registry=registry)
        self.agg_host.connect("sites", self.site_host.endpoint)
        self.site_host.connect("agg", self.agg_host.endpoint)
        agents = list(site_agents) if site_agents is not None else [
            AdmmSiteAgent(s.name, s) for s in sites]
        self.site_agents = [self.site_host.add(a) for a in agents]
        self.aggregator = self.agg_host.add(AdmmAggregatorAgent(
            "aggregator", [a.address for a in self.site_agents], settings))
        self.loop = EventLoop(self.agg_host, self.site_host)

    def negotiate(self, coupling: Coupling, horizon: int, dt_h: float, *, step: int = 0,
                  timeout_s: float = 600.0) -> AdmmResult:
        """Run one negotiation to its end and return its result."""
        self.aggregator.begin(step, coupling, horizon, dt_h)
        if not self.loop.run_until(lambda: self.aggregator.done, timeout_s):
            raise TimeoutError(f"ADMM negotiation did not end within {timeout_s} s")
        # deliver the AdmmDone messages too
        self.loop.run_until(lambda: all(a.final is not None for a in self.site_agents
                                        if a.solver.last_round >= 0), 5.0)
        return self.aggregator.results[-1]

    def close(self) -> None:
        """Close both hosts (and the context, if this swarm made it)."""
        self.agg_host.close()
        self.site_host.close()
        if self._own_context:
            self.context.destroy(linger=0)


def cost_gap_rel(result: AdmmResult, reference: CentralResult) -> float:
    """The relative cost gap, as defined in this module's docstring."""
    scale = max(abs(reference.cost_eur), sum(abs(v) for v in result.site_cost_eur.values()),
                1e-9)
    return abs(result.cost_eur - reference.cost_eur) / scale


def run(sites: int = 20, horizon: int = 24, seed: int = 0, market: bool = False,
        pairs: int = 10) -> dict:
    """Negotiate a random instance of ``sites`` sites by messages; solve it centrally too.

    The aggregator follows a target schedule, or with ``market`` sells at market prices
    within import/export limits. The negotiation and the central solve are timed in
    ``pairs`` interleaved pairs (:mod:`.paired`; each negotiation on a fresh swarm, its
    set-up untimed): ``ratio_median`` and its spread are over the pairs.
    """
    models = random_sites(sites, horizon, 1.0, seed)
    coupling = random_market(models, seed) if market else random_target(models, seed)
    # the sites solve one after the other in this process: a round's deadline must cover
    # all of them (a swarm of site processes solves side by side and keeps the default)
    settings = AdmmSettings(deadline_ms=max(AdmmSettings().deadline_ms, 20 * sites))
    runs: list[tuple[AdmmResult, int, int, float]] = []
    references: list[CentralResult] = []

    def negotiate() -> float:
        t0 = time.perf_counter()
        swarm = AdmmSwarm(models, settings)
        setup_s = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            result = swarm.negotiate(coupling, horizon, 1.0)
            admm_s = time.perf_counter() - t0
            runs.append((result,
                         swarm.agg_host.stats.sent + swarm.site_host.stats.sent,
                         swarm.agg_host.stats.dropped_total + swarm.site_host.stats.dropped_total,
                         setup_s))
        finally:
            swarm.close()
        return admm_s

    def central() -> float:
        t0 = time.perf_counter()
        references.append(solve_centralized(models, coupling))
        return time.perf_counter() - t0

    got = interleave(negotiate, central, max(pairs, 1))
    result, messages, dropped, setup_s = runs[0]
    reference = references[0]
    # the same negotiation each time; a loaded machine can make a site miss a round's
    # deadline, so the iterations of every pair are reported, lowest and highest
    iterations = [r.iterations for r, *_ in runs]
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    target_gap = (float(f"{np.abs(total - np.asarray(coupling.target_kw)).max():.3g}")
                  if isinstance(coupling, TargetCoupling) else None)
    # the negotiation names sites by address (host/name), the reference by name
    sched_err = max((float(np.abs(x - reference.schedules_kw[address.partition("/")[2]]).max())
                     for address, x in result.schedules_kw.items()), default=None)
    return {
        "sites": sites,
        "horizon": horizon,
        "coupling": "market" if market else "target",
        "iterations": result.iterations,
        "iterations_range": [min(iterations), max(iterations)],
        "converged": result.converged,
        "admm_s": round(statistics.median(got.first), 3),
        "setup_s": round(setup_s, 3),
        "central_s": round(statistics.median(got.second), 3),
        **got.summary("ratio", digits=2),
        "transport": "inproc",
        "cost_admm_eur": round(result.cost_eur, 4),
        "cost_centralized_eur": round(reference.cost_eur, 4),
        # the gap: (ADMM cost - optimal cost) / |optimal cost|, signed
        "gap": float(f"{(result.cost_eur - reference.cost_eur) / abs(reference.cost_eur):.3g}")
        if reference.cost_eur else None,
        "cost_gap_rel": float(f"{cost_gap_rel(result, reference):.3g}"),
        "target_gap_kw": target_gap,
        "schedule_gap_kw": float(f"{sched_err:.3g}") if sched_err is not None else None,
        "price_gap_eur_mwh": float(
            f"{np.abs(result.price_eur_mwh - reference.price_eur_mwh).max():.3g}"),
        "primal_residual": float(f"{result.primal_residual:.3g}"),
        "dual_residual": float(f"{result.dual_residual:.3g}"),
        "final_rho": result.rho,
        "messages": messages,
        "dropped": dropped,
    }
