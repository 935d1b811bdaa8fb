"""How a host reads: drain its sockets, check, decode and deliver each envelope, and drop
(counted, logged, traced) what cannot be delivered.

:class:`Inbox` is the receiving half of a :class:`vpp.agents.runtime.host.Host`: an object
the host makes with explicit inputs (its sockets, its tables of agents, topics and uplinks,
its codec, counters, drop log and limiter); the host's ``drain`` is the inbox's. The frames
it reads and the reasons it drops are in ``docs/runtime.md`` (Frames, Errors, Limits), why
the usual broadcast has a path of its own in its Performance section.

Nothing read may take the host down: every decode here catches what msgspec raises on
bytes from elsewhere, nesting past the recursion limit included (``too-deep``), and a
peer's rate is consulted by its identity before its frame is decoded, so a malformed
frame costs its sender like any other. Drops are counted at once and logged as one line
per reason per interval (:class:`vpp.agents.runtime.limits.DropLog`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec
import zmq
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.broadcasts import BroadcastPath
from vpp.agents.runtime.codec import DECODE_ERRORS, Codec, DecodeError
from vpp.agents.runtime.limits import DropLog, quote
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder
from vpp.coordination.errors import ProtocolError

log = logging.getLogger("vpp.agents.runtime.host")

_DRAIN_LIMIT = 1000
"""The most messages one drain of the ROUTER (or a DEALER) reads: a flood on one socket
leaves the timers and the other sockets their turn after at most this many."""
_REASON_TEXT = 240
"""A drop's reason is cut to this many characters (and escaped to one printable line)."""
_TRACED_TEXT = 160
"""Longer envelope strings (kind, addresses, conversation) are cut in a drop's trace row."""
_ARRAY_HEADER = {0x91: 1, 0xDC: 3, 0xDD: 5}
"""The length of a MessagePack array's header by its first byte, for one item."""


class Inbox(BroadcastPath):
    """The receiving half of a host.

    Args:
        name: the host's name (an envelope to ``name/agent`` is for ``agents[agent]``).
        codec: decodes envelopes and bodies.
        agents: the host's agents by name (the host's own table, read live).
        topics: the SUB's topics (``topic NUL``) and the agents subscribed to each (live).
        uplinks: the DEALERs whose answers are read, and the host each leads to (live).
        router: the host's ROUTER; ``sub``: its SUB.
        stats: the host's counters (received, dropped by reason).
        drops: the drop log (one line per reason per interval).
        limiter: a per-peer rate limit, or None.
        bind_identities: what comes over an authenticated connection is delivered only
            under the name its key is allowed under.
        max_frame: the largest envelope; ``max_batch``: the largest batch.
        schedule_wall: runs a callback after a delay in wall seconds (the drop log's flush).

    Attributes:
        trace: where deliveries and drops are recorded (the host sets it; None: nowhere).
        key_gate: with ``bind_identities``, a callable telling whether the key a
            connection's ``User-Id`` names is still admitted (a revoked key's messages are
            dropped); None: all.
    """

    def __init__(self, *, name: str, codec: Codec, agents: dict[str, Agent],
                 topics: dict[bytes, list[Agent]], uplinks: dict[zmq.Socket, str],
                 router: zmq.Socket, sub: zmq.Socket, stats, drops: DropLog,
                 limiter, bind_identities: bool, max_frame: int, max_batch: int,
                 schedule_wall: Callable[[float, Callable[[], None]], object]) -> None:
        self.name = name
        self.codec = codec
        self.agents = agents
        self._topics = topics
        self._uplinks = uplinks
        self.router = router
        self.sub = sub
        self.stats = stats
        self.drops = drops
        self.limiter = limiter
        self.bind_identities = bind_identities
        self._max_frame = max_frame
        self._max_batch = max_batch
        self._schedule_wall = schedule_wall
        self._batch_decoder = msgspec.msgpack.Decoder(list[msgspec.Raw])
        self._single_decoder = msgspec.msgpack.Decoder(tuple[Envelope])
        self._envelopes_decoder = msgspec.msgpack.Decoder(list[Envelope])
        self._decoders = codec.registry.decoders
        self.by_address: dict[str, Agent] = {}
        """The host's agents by address (``name/agent``): the host adds each it hosts."""
        self.trace: TraceRecorder | None = None
        self.key_gate: Callable[[str], bool] | None = None

    def drain(self, sock: zmq.Socket) -> int:
        """Read and deliver what waits on ``sock``: every message on the ROUTER or a DEALER,
        one broadcast on the SUB (the poll comes back for the next); return how many were
        read."""
        count = 0
        if sock is self.sub:
            # broadcasts, one per wake-up: a site process's usual case is one sample, and
            # asking the socket whether more wait costs as much as the poll that would say
            # so (see docs/runtime.md, Performance)
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return 0
            if not self._fast_broadcast(frame):
                self._on_broadcast(frame)
            return 1
        bound = self.bind_identities and sock is self.router
        while count < _DRAIN_LIMIT:
            try:
                if bound:
                    parts = self._recv_bound(sock)
                else:
                    parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            count += 1
            if parts is None:
                pass  # dropped: the key is not the sender's
            elif sock is self.router:
                self._on_addressed(parts)
            else:
                self._on_uplink(self._uplinks[sock], parts)
            if count == 1 and not sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                # one message per wake-up (a site process's usual case): asking the
                # socket costs less than the failed read raising zmq.Again that would
                # end the drain otherwise (see docs/runtime.md, Performance)
                break
        return count

    def _recv_bound(self, sock: zmq.Socket) -> list[bytes] | None:
        """One message from the ROUTER, or None (dropped) when it came over an
        authenticated connection whose key is allowed under another name than the
        identity it gave (see ``bind_identities``)."""
        frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
        parts = [f.bytes for f in frames]
        try:
            user = frames[-1].get("User-Id")
        except zmq.ZMQError:
            return parts  # not authenticated (inproc, ipc, plaintext): nothing to bind
        identity = parts[0].decode(errors="replace")
        if user == identity and (self.key_gate is None or self.key_gate(user)):
            return parts
        self.drop(sum(map(len, parts)),
                   f"spoofed-sender: host {quote(identity)} came with the key allowed for "
                   f"{quote(user)}" if user != identity else
                   f"revoked-key: host {quote(identity)}'s key is no longer allowed",
                   source=identity)
        return None

    def drop(self, size: int, reason: str, envelope: Envelope | None = None,
             source: str | None = None, count: int = 1) -> None:
        """Count a drop (``count`` messages dropped together) by its reason (the text
        before the first colon), log it sampled and trace it (the first
        ``trace_per_interval`` of each reason per interval, one row per call)."""
        key = reason.split(":", 1)[0]
        self.stats.dropped[key] += count
        if len(reason) > _REASON_TEXT or not reason.isprintable():
            # a reason may quote what a peer sent (an agent's refusal): short, one line
            reason = reason[:_REASON_TEXT].encode("unicode_escape").decode("ascii")
        drops = self.drops
        if not drops.pending:
            self._schedule_wall(drops.interval_s, self.flush_drops)
        if drops.note(key, reason, source, count) and self.trace is not None:
            if envelope is not None and (len(envelope.kind) + len(envelope.sender)
                                         + len(envelope.receiver)
                                         + len(envelope.conversation)) > 4 * _TRACED_TEXT:
                envelope = _cut(envelope)
            self.trace.dropped(size, reason, envelope)

    def flush_drops(self) -> None:
        """Log the drops counted since the last flush, one line per reason, and trace how
        many of each were not traced one by one (a ``sampled`` row per reason)."""
        untraced = self.drops.flush()
        if self.trace is not None:
            for reason, count in untraced.items():
                self.trace.dropped(0, f"sampled: {count} more {reason} drops not traced one "
                                      f"by one")

    def _unbatch(self, batch: bytes, source: str | None) -> list[msgspec.Raw] | None:
        if len(batch) > self._max_batch:
            self.drop(len(batch), f"oversized: batch of {len(batch)} bytes", source=source)
            return None
        try:
            return self._batch_decoder.decode(batch)
        except RecursionError:
            self.drop(len(batch), "too-deep: the batch nests past the recursion limit",
                       source=source)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            self.drop(len(batch), f"malformed-batch: {exc}", source=source)
        return None

    def _envelopes(self, batch: bytes, source: str | None):
        """Each envelope of a batch that decodes, with its size; the rest are dropped."""
        frames = self._unbatch(batch, source)
        for frame in frames or ():
            try:
                yield self.codec.decode_envelope(frame), len(frame)
            except DecodeError as exc:
                self.drop(len(frame), str(exc), exc.envelope, source)

    def _on_addressed(self, parts: list[bytes]) -> None:
        if len(parts) != 2:
            source = parts[0].decode(errors="replace")
            if self.limiter is None or self.limiter.allow(source):
                self.drop(sum(map(len, parts)), f"malformed-frames: {len(parts) - 1} frames",
                           source=source)
            else:
                self.drop(sum(map(len, parts)), f"rate-limited: {quote(source)}",
                           source=source)
            return
        identity, batch = parts
        self._accept(identity.decode(errors="replace"), batch)

    def _on_uplink(self, source: str, parts: list[bytes]) -> None:
        if len(parts) != 1:
            self.drop(sum(map(len, parts)), f"malformed-frames: {len(parts)} frames from "
                       f"{source}", source=source)
            return
        self._accept(source, parts[0])

    def _accept(self, source: str, batch: bytes) -> None:
        limiter = self.limiter
        # the peer's rate is consulted before anything is decoded: a malformed frame costs
        # its sender a token like a good one (its first envelope's)
        if limiter is not None and not limiter.allow(source):
            self.drop(len(batch), f"rate-limited: {quote(source)}", source=source)
            return
        single = self._single(batch, False)
        if single is not None:
            # the usual message: from the host it came from, to an agent of this host
            envelope, body, size = single
            host, _, name = envelope.receiver.partition("/")
            agent = self.agents.get(name) if host == self.name else None
            if agent is not None and envelope.sender.partition("/")[0] == source:
                self._hand(agent, envelope, body, size, False, source)
                return
        frames = self._unbatch(batch, source)
        if not frames:
            return
        envelopes = None
        if "/" not in source:  # (a host's name never has one: see the fallback below)
            try:
                # every envelope of the batch in one call (the usual batch: all of them good);
                # any that is not is then read again on its own below and dropped with why
                envelopes = self._envelopes_decoder.decode(batch)
            except DECODE_ERRORS:
                envelopes = None
        by_address, decoders, stats = self.by_address, self._decoders, self.stats
        sender_prefix, max_frame = source + "/", self._max_frame
        # the last body decoded and what it was decoded from: a frozen body is shared by
        # the next envelopes that carry the same kind and bytes (a call for bids to every
        # site of this host: decoded once), as a broadcast's body is by its subscribers
        last_kind = last_raw = last_body = None
        for i, frame in enumerate(frames):
            if i and limiter is not None and not limiter.allow(source):
                # the bucket is empty: the rest of the batch goes unread
                rest = len(frames) - i
                self.drop(sum(map(len, frames[i:])), f"rate-limited: {quote(source)} "
                           f"({rest} envelopes of a batch)", source=source, count=rest)
                return
            size = len(frame)
            if envelopes is not None and size <= max_frame:
                # the usual envelope, inline: good version, from its connection's host, to
                # a local agent, a body that decodes; anything else takes _accept_one
                envelope = envelopes[i]
                sender = envelope.sender
                decoder = decoders.get(envelope.kind)
                agent = by_address.get(envelope.receiver)
                if (agent is not None and decoder is not None
                        and envelope.version == WIRE_VERSION
                        and (sender.startswith(sender_prefix) or sender == source)):
                    raw = envelope.body
                    if raw == last_raw and envelope.kind == last_kind:
                        body = last_body
                    else:
                        try:
                            body = decoder.decode(raw)
                        except DECODE_ERRORS:
                            body = None  # _accept_one says why
                        else:
                            if body.__struct_config__.frozen:
                                last_kind, last_raw, last_body = envelope.kind, raw, body
                    if body is not None:
                        stats.received += 1
                        trace = self.trace  # (a handler may set it: read for each)
                        if trace is not None:
                            # at rounds: counted with the envelopes before it of the same
                            # conversation, round and kind, in place (trace_counts)
                            run = trace.recv_run
                            if (run is not None and run.kind == envelope.kind
                                    and run.round == envelope.round
                                    and run.conversation == envelope.conversation):
                                run.n += 1
                            else:
                                trace.message("recv", envelope, size, None)
                        try:
                            agent.handle(envelope, body)
                        except ProtocolError as exc:
                            self.drop(size, f"rejected: {exc}", envelope, source)
                        continue
            self._accept_one(frame, size, source)

    def _accept_one(self, frame: msgspec.Raw, size: int, source: str) -> None:
        """Read one envelope of a batch from ``source``, deliver it or drop it with why."""
        try:
            envelope = self.codec.decode_envelope(frame)
        except DecodeError as exc:
            self.drop(size, str(exc), exc.envelope, source)
            return
        if envelope.sender.partition("/")[0] != source:
            self.drop(size, f"spoofed-sender: {quote(envelope.sender)} came from "
                       f"{quote(source)}", envelope, source)
            return
        host, _, name = envelope.receiver.partition("/")
        agent = self.agents.get(name) if host == self.name else None
        if agent is None:
            self.drop(size, f"unknown-receiver: {quote(envelope.receiver)}", envelope,
                       source)
            return
        self._deliver(agent, envelope, size, False, source)

    def _single(self, batch: bytes, shared: bool) -> tuple[Envelope, msgspec.Struct, int] | None:
        """A batch of one envelope (one message to a peer, or one broadcast: the usual
        case) decoded in one go: its envelope, body and size. None for anything else (more
        envelopes, an error, or a mutable kind when the body is ``shared`` by several
        agents): the general path then reads it, dropping and tracing what is wrong.

        Every site process takes this path once per message, on cold caches (many
        processes share the cores): each call saved here is saved N times per round.
        """
        if len(batch) > self._max_frame:
            return None
        try:
            (envelope,) = self._single_decoder.decode(batch)
            decoder = self._decoders.get(envelope.kind)
            if decoder is None or envelope.version != WIRE_VERSION:
                return None
            body = decoder.decode(envelope.body)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError,
                RecursionError):
            # the general path reads it again and says why it is dropped
            return None
        if shared and not body.__struct_config__.frozen:
            return None
        # the array's header: 1 byte up to 15 items, 3 or 5 beyond (a foreign encoder's)
        return envelope, body, len(batch) - _ARRAY_HEADER.get(batch[0], 1)

    def _deliver(self, agent: Agent, envelope: Envelope, size: int, broadcast: bool,
                 source: str | None) -> None:
        try:
            body = self.codec.decode_body(envelope)
        except DecodeError as exc:
            self.drop(size, str(exc), envelope, source)
            return
        self._hand(agent, envelope, body, size, broadcast, source)

    def _hand(self, agent: Agent, envelope: Envelope, body: msgspec.Struct, size: int,
              broadcast: bool, source: str | None = None) -> None:
        self.stats.received += 1
        if self.trace is not None:
            # a broadcast is traced as received by the local agent it was handed to
            self.trace.message("recv", envelope, size, agent.address if broadcast else None)
        try:
            agent.handle(envelope, body)
        except ProtocolError as exc:
            self.drop(size, f"rejected: {exc}", envelope, source)


def _cut(envelope: Envelope) -> Envelope:
    """The envelope with its strings cut short and no body (for a drop's trace row)."""
    return Envelope(envelope.version, envelope.kind[:_TRACED_TEXT],
                    envelope.sender[:_TRACED_TEXT], envelope.receiver[:_TRACED_TEXT],
                    envelope.conversation[:_TRACED_TEXT], envelope.round, envelope.sim_time,
                    msgspec.Raw(b"\xc0"))
