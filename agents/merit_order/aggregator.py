"""The aggregator agent: runs each step's merit-order contract net over messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from vpp.agents.membership.liveness import few
from vpp.agents.merit_order.history import OutcomeHistory
from vpp.agents.merit_order.outgoing import send_outgoing
from vpp.agents.merit_order.tracing import trace_step
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.timers import Timer
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.auction import (
    MeritOrderAuction,
    Outgoing,
    SitePositions,
)
from vpp.coordination.merit_order.messages import Accept, Bid, Decline

log = logging.getLogger(__name__)



class AggregatorAgent(Agent):
    """Calls its sites for bids each step, awards in merit order, re-awards on declines.

    The negotiation logic is :class:`~coordination.merit_order.auction.MeritOrderAuction`;
    this class only moves its messages, arms its deadlines and records its rounds. The
    step's outcome is delivered by the run's placement (``StepCleared``, the dispatch
    outcome: broadcast to the sites of this process, sent by address to the others).

    Args:
        name: the agent's name.
        sites: the addresses (``host/name``) of the sites it dispatches, in tie order.
        deadline_ms: how long a phase waits for answers before a site counts as silent.
        max_rounds: the most award rounds per step.
        outcome_window: keep only the last this many step outcomes (a long run: see
            :mod:`.history`); every one when None.

    ``outcomes`` are the step outcomes kept (every one, a list, unless a window was set:
    then the last ones, a deque); ``history.totals`` counts every step either way.
    """

    role = "aggregator"

    def __init__(self, name: str, sites: Sequence[str], *, deadline_ms: int = 2000,
                 max_rounds: int = 5, outcome_window: int | None = None) -> None:
        super().__init__(name)
        self.sites = list(sites)
        self._positions = SitePositions(self.sites)  # (checked unique here, once)
        self.deadline_ms = deadline_ms
        self.max_rounds = max_rounds
        self.auction: MeritOrderAuction | None = None
        self.history = OutcomeHistory(outcome_window)
        self.outcomes = self.history.outcomes
        self._timer: Timer | None = None
        self._armed_for: tuple[str, int] | None = None
        self._conversation = ""
        self.on(Bid, self._on_bid)
        self.on(Accept, self._on_accept)
        self.on(Decline, self._on_decline)

    @property
    def conversation(self) -> str:
        """The id of the current step's negotiation."""
        return self._conversation  # (compared with every answer: made once per step)

    @property
    def step_done(self) -> bool:
        """True when the current step's negotiation has ended."""
        return self.auction is not None and self.auction.done

    def begin_step(self, step: int, window_start_s: float, window_s: float, target_kw: float,
                   reserve_kw: float = 0.0) -> None:
        """Start negotiating ``target_kw`` (and upward ``reserve_kw``) for one window."""
        if self.auction is not None and not self.auction.done:
            raise RuntimeError(f"step {self.auction.step} is still being negotiated")
        self.auction = MeritOrderAuction(
            step=step, window_start_s=window_start_s, window_s=window_s, target_kw=target_kw,
            reserve_kw=reserve_kw, sites=self.sites, deadline_ms=self.deadline_ms,
            max_rounds=self.max_rounds, positions=self._positions)
        self._conversation = f"merit-order/{step}"
        self._emit(self.auction.start())

    # -- handlers ----------------------------------------------------------------------
    def _current(self, envelope: Envelope) -> MeritOrderAuction:
        auction = self.auction
        if auction is None or envelope.conversation != self.conversation:
            raise ProtocolError(f"{envelope.kind} for {envelope.conversation!r} arrived outside "
                                f"its negotiation (now {self.conversation!r})")
        return auction

    def _on_bid(self, envelope: Envelope, bid: Bid) -> None:
        auction = self.auction
        if auction is None or envelope.conversation != self._conversation:
            auction = self._current(envelope)  # (raises: what _current checks, inline)
        try:
            out = auction.on_bid(envelope.sender, bid)
        except ProtocolError:
            # an invalid last bid still releases the awards of the others
            self._emit(auction.take_after_error())
            raise
        if out or auction.phase == "done":  # (a bid that ends nothing changes no phase)
            self._emit(out)

    def _on_accept(self, envelope: Envelope, accept: Accept) -> None:
        auction = self.auction
        if auction is None or envelope.conversation != self._conversation:
            auction = self._current(envelope)  # (raises)
        out = auction.on_accept(envelope.sender, accept)
        if out or auction.phase == "done":  # (an answer that ends nothing: no phase)
            self._emit(out)

    def _on_decline(self, envelope: Envelope, decline: Decline) -> None:
        self._emit(self._current(envelope).on_decline(envelope.sender, decline))

    def _on_deadline(self) -> None:
        self._timer = None
        if self.auction is not None and not self.auction.done:
            self.log.warning("%s: deadline of step %d round %d passed; silent: %s", self.name,
                             self.auction.step, self.auction.round,
                             few(sorted(self.auction.waiting_for)))
            self._emit(self.auction.on_deadline())

    # -- output ------------------------------------------------------------------------
    def _emit(self, outgoing: list[Outgoing]) -> None:
        auction = self.auction
        assert auction is not None
        send_outgoing(self, outgoing, self.conversation)
        phase = (auction.phase, auction.round)
        if auction.done:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._finish(auction)
        elif phase != self._armed_for:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.host.call_later(self.deadline_ms / 1000.0, self._on_deadline)
            self._armed_for = phase

    def _finish(self, auction: MeritOrderAuction) -> None:
        self._armed_for = None
        outcome = auction.outcome()
        self.history.append(outcome)
        trace = self.host.trace
        if trace is not None:
            trace_step(trace, now=self.clock.now(), conversation=self.conversation,
                       records=auction.records, outcome=outcome,
                       window_start_s=auction.window_start_s, sites=self.sites)
