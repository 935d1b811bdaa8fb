"""The portfolio aggregator agent at the root of the merit-order hierarchy.

Binds :class:`~vpp.coordination.hierarchy.merit_root.PortfolioAuction` to messages, one per
step: it calls its children (regions, and any site right under it), takes their aggregate
curves, awards the fleet's merit order down the tree and re-awards after the declines and
silence its regions report. Like the flat
:class:`~vpp.agents.merit_order.aggregator.AggregatorAgent` it records every round and the
step's outcome in the trace and keeps an :class:`~vpp.agents.merit_order.history.
OutcomeHistory`, so that a run's summary and tables have the flat run's shape (and, the
protocol being equivalent, its numbers). ``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

from vpp.agents.hierarchy.merit_common import PhaseDeadline
from vpp.agents.hierarchy.merit_region import CONVERSATION
from vpp.agents.membership.liveness import few
from vpp.agents.merit_order.history import OutcomeHistory
from vpp.agents.merit_order.outgoing import send_outgoing
from vpp.agents.merit_order.tracing import trace_step
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.merit_root import PortfolioAuction
from vpp.coordination.hierarchy.messages import AggregateBid, RegionAnswer
from vpp.coordination.hierarchy.topology import Topology
from vpp.coordination.merit_order.auction import Outgoing
from vpp.coordination.merit_order.messages import Accept, Bid, Decline


class PortfolioAgent(Agent):
    """The root aggregator: each step's contract net over the regions.

    Args:
        name: the agent's name (its address is the topology's root).
        topology: the fleet's hierarchy, its nodes named by agent address
            (:func:`~vpp.agents.hierarchy.merit_common.addressed`).
        deadline_ms: how long a phase waits for its children (regions give theirs a share).
        max_rounds: the most award rounds per step.
        outcome_window: keep only the last this many step outcomes (None: every one).

    Attributes:
        sites: the site addresses of the trace's dispatch rows, in fleet order.
        auction: the current step's state machine.
        history: the step outcomes kept, and the totals of every step.
        silent_regions: per step negotiated, the regions that missed a deadline.
    """

    role = "aggregator"

    def __init__(self, name: str, topology: Topology, *, deadline_ms: int = 2000,
                 max_rounds: int = 5, outcome_window: int | None = None) -> None:
        super().__init__(name)
        self.topology = topology
        self.sites = list(topology.sites)
        self.deadline_ms = deadline_ms
        self.max_rounds = max_rounds
        self.auction: PortfolioAuction | None = None
        self.history = OutcomeHistory(outcome_window)
        self.outcomes = self.history.outcomes
        self.silent_regions: dict[int, list[str]] = {}
        self._conversation = ""
        self._deadline = PhaseDeadline(self, self._on_deadline)
        self.on(Bid, lambda env, msg: self._child(env, lambda a: a.on_bid(env.sender, msg)))
        self.on(AggregateBid, lambda env, msg: self._child(
            env, lambda a: a.on_aggregate_bid(env.sender, msg)))
        self.on(Accept, lambda env, msg: self._child(env, lambda a: a.on_accept(env.sender, msg)))
        self.on(Decline, lambda env, msg: self._child(
            env, lambda a: a.on_decline(env.sender, msg)))
        self.on(RegionAnswer, lambda env, msg: self._child(
            env, lambda a: a.on_region_answer(env.sender, msg)))

    def started(self) -> None:
        """Check that its address is the topology's root."""
        if self.address != self.topology.root:
            raise ValueError(f"agent {self.address} is not the topology's root "
                             f"{self.topology.root!r}")

    @property
    def conversation(self) -> str:
        """The id of the current step's negotiation."""
        return self._conversation

    @property
    def step_done(self) -> bool:
        """True when the current step's negotiation has ended."""
        return self.auction is not None and self.auction.done

    def begin_step(self, step: int, window_start_s: float, window_s: float, target_kw: float,
                   reserve_kw: float = 0.0) -> None:
        """Start negotiating ``target_kw`` (and upward ``reserve_kw``) for one window."""
        if self.auction is not None and not self.auction.done:
            raise RuntimeError(f"step {self.auction.step} is still being negotiated")
        self.auction = PortfolioAuction(
            step=step, window_start_s=window_start_s, window_s=window_s, target_kw=target_kw,
            reserve_kw=reserve_kw, topology=self.topology, deadline_ms=self.deadline_ms,
            max_rounds=self.max_rounds)
        self._conversation = CONVERSATION.format(step=step)
        self._emit(self.auction.start())

    # -- handlers ----------------------------------------------------------------------
    def _child(self, envelope: Envelope, handle) -> None:
        auction = self.auction
        if auction is None or envelope.conversation != self._conversation:
            raise ProtocolError(f"{envelope.kind} for {envelope.conversation!r} arrived outside "
                                f"its negotiation (now {self._conversation!r})")
        try:
            out = handle(auction)
        except ProtocolError:
            # an invalid last answer still releases the awards of the others
            self._emit(auction.take_after_error())
            raise
        self._emit(out)

    def _on_deadline(self) -> None:
        auction = self.auction
        if auction is not None and not auction.done:
            self.log.warning("%s: deadline of step %d round %d passed; silent: %s", self.name,
                             auction.step, auction.round, few(sorted(auction.waiting_for)))
            self._emit(auction.on_deadline())

    # -- output ------------------------------------------------------------------------
    def _emit(self, outgoing: list[Outgoing]) -> None:
        auction = self.auction
        assert auction is not None
        send_outgoing(self, outgoing, self._conversation)
        if auction.done:
            self._deadline.cancel()
            self._finish(auction)
        else:
            self._deadline.update((auction.step, auction.phase, auction.round), True,
                                  self.deadline_ms / 1000.0)

    def _finish(self, auction: PortfolioAuction) -> None:
        outcome = auction.outcome()
        self.history.append(outcome)
        if auction.silent_regions:
            self.silent_regions[auction.step] = list(auction.silent_regions)
        trace = self.host.trace
        if trace is None:
            return
        trace_step(trace, now=self.clock.now(), conversation=self._conversation,
                   records=auction.records, outcome=outcome,
                   window_start_s=auction.window_start_s, sites=self.sites)
