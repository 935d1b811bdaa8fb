"""How a host reads a broadcast: the SUB's frame (``topic NUL batch``) handed to every
local agent subscribed to its topic, the body decoded once when its kind is frozen.

:class:`BroadcastPath` is the broadcast half of :class:`vpp.agents.runtime.inbox.Inbox`
(which it is a base of): it uses the inbox's tables, decoders, counters and drops. The
usual broadcast (one envelope, a frozen kind) has a path of its own, see docs/runtime.md.
"""

from __future__ import annotations

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.codec import DecodeError
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError

SUB = "sub"
"""The source named for what arrives on the SUB (ZeroMQ does not say which publisher)."""


class BroadcastPath:
    """Reading broadcasts, for :class:`vpp.agents.runtime.inbox.Inbox` (its attributes:
    ``_topics``, ``stats``, ``trace``, ``codec``; its methods ``_single``, ``_envelopes``,
    ``drop``, ``_deliver`` and ``_hand``)."""

    def _fast_broadcast(self, frame: bytes) -> bool:
        """Deliver the usual broadcast (a subscribed topic, one envelope as :meth:`publish`
        sends, a frozen kind) in one go; False leaves the frame, untouched, to the general
        path."""
        cut = frame.find(0) + 1
        agents = self._topics.get(frame[:cut])
        single = self._single(frame[cut:], True) if cut and agents else None
        if single is None:
            return False
        envelope, body, size = single
        stats = self.stats
        kind, round, conversation = envelope.kind, envelope.round, envelope.conversation
        for agent in agents:  # what _hand does, inline: once per subscriber
            stats.received += 1
            trace = self.trace
            if trace is not None:
                run = trace.recv_run
                if (run is not None and run.kind == kind and run.round == round
                        and run.conversation == conversation):
                    run.n += 1  # at rounds: counted in place, after the first subscriber
                else:
                    # a broadcast is traced as received by the local agent it was handed
                    # to (its address as made, read without the property's call when
                    # current)
                    made_for, address = agent._address
                    if made_for is not agent.host or made_for is None:
                        address = agent.address
                    trace.message("recv", envelope, size, address)
            try:
                agent.handle(envelope, body)
            except ProtocolError as exc:
                self.drop(size, f"rejected: {exc}", envelope, SUB)
        return True

    def _on_broadcast(self, frame: bytes) -> None:
        cut = frame.find(0) + 1
        if not cut:
            self.drop(len(frame), "malformed-frames: a broadcast frame without its topic",
                       source=SUB)
            return
        topic, batch = frame[:cut], frame[cut:]
        agents = self._topics.get(topic)
        if not agents:
            return
        for envelope, size in self._envelopes(batch, SUB):
            self._hand_broadcast(agents, envelope, size)

    def _hand_broadcast(self, agents: list[Agent], envelope: Envelope, size: int) -> None:
        try:
            body = self.codec.decode_body(envelope)
        except DecodeError as exc:
            self.drop(size, str(exc), envelope, SUB)
            return
        if not body.__struct_config__.frozen:
            # a mutable body (a plug-in's kind) is decoded for each subscriber
            for agent in agents:
                self._deliver(agent, envelope, size, True, SUB)
            return
        # a frozen body is decoded once and shared by every subscriber
        for agent in agents:
            self._hand(agent, envelope, body, size, True, SUB)
