"""The portfolio aggregator of the hierarchical sharing ADMM, as an agent.

The logic is :class:`~vpp.coordination.hierarchy.admm_root.HierarchicalAdmm`; this agent
moves its messages (``RegionalRound`` to each region, ``AdmmRound`` to each site right
under the root, their ``RegionalSums`` and ``AdmmSchedule``\\ s back, ``RegionalDone`` and
``AdmmDone`` at the end), arms the round deadline on the host's timers and writes one
trace row per iteration, as the flat :class:`~vpp.agents.admm.negotiation.AdmmAggregatorAgent`
does. In a run it also says each planned step's outcome (``StepCleared``) from the sums it
holds. ``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from vpp.agents.hierarchy.admm_node import AdmmNodeAgent
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.admm.messages import AdmmSchedule
from vpp.coordination.admm.model import Coupling, TargetCoupling
from vpp.coordination.admm.outcome import AdmmResult
from vpp.coordination.admm.protocol import AdmmSettings, Outgoing
from vpp.coordination.dispatch import StepCleared
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_driver import as_flat_result
from vpp.coordination.hierarchy.admm_root import HierarchicalAdmm, HierarchyAdmmResult
from vpp.coordination.hierarchy.messages import RegionalSums
from vpp.coordination.hierarchy.topology import SITE, Topology


class AdmmRootAgent(AdmmNodeAgent):
    """Runs ADMM negotiations through the regions of ``topology``.

    Args:
        name: the agent's name.
        topology: the fleet's hierarchy (the root's children are called).
        addresses: the address of each of the root's children, by node name.
        settings: tolerances, penalty, iteration cap, round deadline (the flat run's).
    """

    def __init__(self, name: str, topology: Topology, addresses: Mapping[str, str],
                 settings: AdmmSettings | None = None) -> None:
        children = topology.children(topology.root)
        missing = [c for c in children if c not in addresses]
        if missing:
            raise ValueError(f"root {topology.root}: no address for {missing[:5]}")
        super().__init__(name, {c: addresses[c] for c in children})
        self.topology = topology
        self.settings = settings or AdmmSettings()
        self.negotiation: HierarchicalAdmm | None = None
        self.results: list[HierarchyAdmmResult] = []
        self.step = -1
        self._recorded = 0
        self._resulted: HierarchicalAdmm | None = None
        self._sites = frozenset(c for c in children if topology.kind(c) == SITE)
        self._regions = frozenset(c for c in children if topology.kind(c) != SITE)
        self.on(AdmmSchedule, self._on_schedule)
        self.on(RegionalSums, self._on_sums)

    @property
    def done(self) -> bool:
        """True when the current negotiation has ended."""
        return self.negotiation is not None and self.negotiation.done

    def begin(self, step: int, coupling: Coupling, horizon: int, dt_h: float) -> None:
        """Start negotiating ``coupling`` over ``horizon`` steps of ``dt_h`` hours."""
        if self.negotiation is not None and not self.negotiation.done:
            raise RuntimeError(f"ADMM negotiation {self.conversation} is still running")
        self.step = step
        self.negotiation = HierarchicalAdmm(self.topology, coupling, horizon, dt_h,
                                            self.settings)
        self._conversation = f"admm/{step}"
        self._recorded = 0
        self._after(self.negotiation.start())

    def cleared(self, step: int, offset: int, target_kw: float) -> StepCleared:
        """The ``StepCleared`` of absolute ``step``, step ``offset`` of the last
        negotiation's window: ``served_kw`` is the planned total of the included sites
        (the sums' ``sum_x``), ``unserved_kw`` what of ``|target_kw|`` it leaves, the price
        the negotiated one of that step."""
        if not self.results or not self.done:
            raise RuntimeError("no finished ADMM negotiation to dispatch")
        result = self.results[-1]
        planned = float(result.total_kw[offset])
        price = float(result.price_eur_mwh[offset])
        return StepCleared(step, target_kw, planned,
                           max(abs(target_kw) - abs(planned), 0.0) if planned * target_kw >= 0
                           else abs(target_kw),
                           price if math.isfinite(price) else None)

    def site_schedules(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The last schedule and private cost of each site right under the root still
        included, by site name (nothing before a negotiation)."""
        if self.negotiation is None:
            return {}, {}
        kids = self.negotiation.children
        schedules = {s: kids.schedule(s) for s in kids.active if kids.is_site[s]}
        return ({s: x.copy() for s, x in schedules.items() if x is not None},
                {s: kids.costs[s] for s in schedules if s in kids.costs})

    def _negotiation(self, kind: str) -> HierarchicalAdmm:
        if self.negotiation is None:
            raise ProtocolError(f"{kind} at {self.name} before any negotiation")
        return self.negotiation

    def _on_schedule(self, envelope: Envelope, msg: AdmmSchedule) -> None:
        site = self.node_of(envelope, "AdmmSchedule", self._sites)
        negotiation = self._negotiation("AdmmSchedule")
        try:
            out = negotiation.on_schedule(site, msg)
        except ProtocolError:
            self._after(negotiation.take_after_error())
            raise
        self._after(out)

    def _on_sums(self, envelope: Envelope, msg: RegionalSums) -> None:
        region = self.node_of(envelope, "RegionalSums", self._regions)
        negotiation = self._negotiation("RegionalSums")
        try:
            out = negotiation.on_sums(region, msg)
        except ProtocolError:
            self._after(negotiation.take_after_error())
            raise
        self._after(out)

    def _on_deadline(self, negotiation: HierarchicalAdmm, round_: int) -> None:
        self.timer_fired()
        if negotiation is not self.negotiation or negotiation.round != round_:
            return
        self.log.warning("%s: deadline of %s round %d passed; dropping %s", self.name,
                         self.conversation, round_, sorted(negotiation.waiting_for)[:10])
        self._after(negotiation.on_deadline())

    def _after(self, outgoing: list[Outgoing]) -> None:
        negotiation = self.negotiation
        assert negotiation is not None
        self.emit(outgoing)
        self._trace_rounds(negotiation)
        if negotiation.done:
            self.stop_deadline()
            if self._resulted is not negotiation:
                self._resulted = negotiation
                self.results.append(negotiation.result())
            return
        round_ = negotiation.round
        self.keep_deadline(bool(negotiation.waiting_for), round_,
                           self.settings.deadline_ms / 1000.0,
                           lambda: self._on_deadline(negotiation, round_))

    def _trace_rounds(self, negotiation: HierarchicalAdmm) -> None:
        trace = self.host.trace
        records = negotiation.records
        if trace is None or len(records) == self._recorded:
            self._recorded = len(records)
            return
        target = None
        if isinstance(negotiation.coupling, TargetCoupling):
            target = sum(negotiation.coupling.target_kw) / negotiation.horizon
        now = self.clock.now()
        for rec in records[self._recorded:]:
            trace.round(sim_time=now, step=self.step, conversation=self.conversation,
                        protocol="admm", round=rec.round, target_kw=target,
                        price=rec.price_mean_eur_mwh, primal_residual=rec.primal_residual,
                        dual_residual=rec.dual_residual, step_size=rec.rho, bids=rec.answers,
                        detail={"eps_pri": rec.eps_pri, "eps_dual": rec.eps_dual,
                                "active": rec.active, "dropped": rec.dropped,
                                "regions": len(self._regions)})
        self._recorded = len(records)


def gathered_result(root: AdmmRootAgent, regions: Iterable, coupling: Coupling,
                    dt_h: float) -> AdmmResult:
    """The last negotiation's outcome in the flat run's terms (sites by name), with the
    schedules and costs gathered from the agents that hold them: ``regions`` (anything
    with ``site_schedules()``, e.g. :class:`~.admm_region.AdmmRegionAgent`\\ s) and the
    root, for the sites right under it. Only where every region is in reach (one
    process, or a test)."""
    schedules, costs = root.site_schedules()
    for region in regions:
        x, c = region.site_schedules()
        schedules.update(x)
        costs.update(c)
    return as_flat_result(root.results[-1], coupling, dt_h, schedules, costs)
