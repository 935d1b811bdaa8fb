"""The regional aggregator agent of the merit-order hierarchy.

Binds :class:`~vpp.coordination.hierarchy.merit_region.RegionalAuction` to messages:
towards its parent it is one bidder (``CallForBids`` and ``RegionAward`` in,
``AggregateBid`` and ``RegionAnswer`` out); towards its children (sites, or regions below
it) it is an aggregator (``CallForBids`` and ``Award`` or ``RegionAward`` out; ``Bid``,
``AggregateBid``, ``Accept``, ``Decline``, ``RegionAnswer`` in), with its own deadline per
phase on the host's timers. ``docs/protocols/hierarchy.md``.

A message from a node that is not its parent or child, of another step's conversation,
late or duplicate raises :class:`~vpp.coordination.errors.ProtocolError` (the runtime logs,
traces and drops it); the negotiation goes on.
"""

from __future__ import annotations

from vpp.agents.hierarchy.merit_common import PhaseDeadline
from vpp.agents.membership.liveness import few
from vpp.agents.merit_order.outgoing import send_outgoing
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.merit_region import RegionalAuction
from vpp.coordination.hierarchy.messages import AggregateBid, RegionAnswer, RegionAward
from vpp.coordination.hierarchy.topology import Topology
from vpp.coordination.merit_order.auction import Outgoing
from vpp.coordination.merit_order.messages import Accept, Bid, CallForBids, Decline

CONVERSATION = "merit-order/{step}"
"""A step's conversation id, as the flat aggregator names it."""

CURVE_PART_BYTES = DEFAULT_MAX_FRAME_BYTES - 16 * 1024
"""The largest curve part: the receiving host's default frame cap, less room for the
envelope (the conversation, addresses, trace fields)."""


class RegionAgent(Agent):
    """A regional aggregator: a new :class:`RegionalAuction` for each step its parent calls.

    Args:
        name: the agent's name (its address, ``host/name``, is its node in ``topology``).
        topology: the fleet's hierarchy, its nodes named by agent address
            (:func:`~vpp.agents.hierarchy.merit_common.addressed`).
        deadline_share: the part of the parent's deadline given to the children.
        max_curve_bytes: the largest curve sent as one message; a larger one goes up in
            parts (a region of a few thousand sites: about 100 bytes a site).

    Attributes:
        auction: the current step's state machine (None before the first call).
        steps: the steps it took part in.
    """

    role = "region"

    def __init__(self, name: str, topology: Topology, *, deadline_share: float = 0.8,
                 max_curve_bytes: int = CURVE_PART_BYTES) -> None:
        super().__init__(name)
        self.topology = topology
        self.deadline_share = deadline_share
        self.max_curve_bytes = max_curve_bytes
        self.auction: RegionalAuction | None = None
        self.steps = 0
        self._conversation = ""
        self._node = ""
        self._parent = ""
        self._deadline = PhaseDeadline(self, self._on_deadline)
        self.on(CallForBids, self._on_call)
        self.on(RegionAward, self._on_award)
        self.on(Bid, self._on_bid)
        self.on(AggregateBid, lambda env, msg: self._child(
            env, lambda a: a.on_aggregate_bid(env.sender, msg)))
        self.on(Accept, self._on_accept)
        self.on(Decline, lambda env, msg: self._child(
            env, lambda a: a.on_decline(env.sender, msg)))
        self.on(RegionAnswer, lambda env, msg: self._child(
            env, lambda a: a.on_region_answer(env.sender, msg)))

    def started(self) -> None:
        """Find its node in the topology (its address) and its parent."""
        self._node = self.address
        if self._node not in self.topology.graph or self.topology.kind(self._node) != "region":
            raise ValueError(f"{self._node!r} is not a region of the topology")
        parent = self.topology.parent(self._node)
        assert parent is not None
        self._parent = parent

    @property
    def conversation(self) -> str:
        """The current step's conversation id."""
        return self._conversation

    # -- from the parent ---------------------------------------------------------------
    def _from_parent(self, envelope: Envelope) -> None:
        if envelope.sender != self._parent:
            raise ProtocolError(f"{envelope.kind} to region {self._node} from "
                                f"{envelope.sender}, not its parent {self._parent}")

    def _on_call(self, envelope: Envelope, call: CallForBids) -> None:
        self._from_parent(envelope)
        current = self.auction
        if current is not None and call.step <= current.step:
            raise ProtocolError(f"CallForBids for step {call.step} to region {self._node}, "
                                f"already in step {current.step} (late or duplicate)")
        conversation = CONVERSATION.format(step=call.step)
        if envelope.conversation != conversation:
            raise ProtocolError(f"CallForBids for step {call.step} in conversation "
                                f"{envelope.conversation!r}, expected {conversation!r}")
        # a new step replaces the last one, finished or not (its parent moved on)
        self._deadline.cancel()
        self.auction = RegionalAuction(self._node, self.topology,
                                       deadline_share=self.deadline_share,
                                       max_curve_bytes=self.max_curve_bytes)
        self._conversation = conversation
        self.steps += 1
        self._emit(self.auction.on_call(call))

    def _on_award(self, envelope: Envelope, award: RegionAward) -> None:
        self._from_parent(envelope)
        self._emit(self._current(envelope).on_award(award))

    # -- from the children -------------------------------------------------------------
    def _current(self, envelope: Envelope) -> RegionalAuction:
        auction = self.auction
        if auction is None or envelope.conversation != self._conversation:
            raise ProtocolError(f"{envelope.kind} for {envelope.conversation!r} arrived at "
                                f"region {self._node} outside its negotiation (now "
                                f"{self._conversation!r})")
        return auction

    def _child(self, envelope: Envelope, handle) -> None:
        auction = self._current(envelope)
        try:
            out = handle(auction)
        except ProtocolError:
            # an invalid last answer still releases what the others' answers allow
            self._emit(auction.take_after_error())
            raise
        self._emit(out)

    # (a site's bid and accept, the bulk of a region's messages: no closures, and nothing
    # to send or re-arm while the phase waits for more; a phase changes only with output)
    def _on_bid(self, envelope: Envelope, bid: Bid) -> None:
        auction = self._current(envelope)
        try:
            out = auction.on_bid(envelope.sender, bid)
        except ProtocolError:
            self._emit(auction.take_after_error())
            raise
        if out:
            self._emit(out)

    def _on_accept(self, envelope: Envelope, accept: Accept) -> None:
        auction = self._current(envelope)
        try:
            out = auction.on_accept(envelope.sender, accept)
        except ProtocolError:
            self._emit(auction.take_after_error())
            raise
        if out:
            self._emit(out)

    def _on_deadline(self) -> None:
        auction = self.auction
        if auction is not None and auction.waiting_for:
            self.log.warning("%s: deadline of step %d round %d passed; silent: %s", self.name,
                             auction.step, auction.round, few(sorted(auction.waiting_for)))
            self._emit(auction.on_deadline())

    # -- output ------------------------------------------------------------------------
    def _emit(self, outgoing: list[Outgoing]) -> None:
        auction = self.auction
        assert auction is not None
        send_outgoing(self, outgoing, self._conversation)
        # bidding and awarding wait for children until the last answer ends the phase
        waiting = auction.phase in ("bidding", "awarding")
        self._deadline.update((auction.step, auction.phase, auction.round), waiting,
                              auction.deadline_ms / 1000.0)
