"""How a host sends: each envelope encoded straight into its peer's batch, one body to many
receivers encoded once, a peer's batch sent as one ZeroMQ message, a broadcast published,
and what cannot go dropped (counted, traced) or refused.

:class:`SendPath` is the sending half of :class:`vpp.agents.runtime.host.Host` (a base of
it): it uses the host's tables (peers, routes, the outbox), codec, clock, counters, trace
and inbox (whose ``drop`` counts what a full or lost connection loses). The batch on the
wire is in ``docs/runtime.md`` (Frames), why the send is written out in its Performance
section. At trace level ``rounds`` a message sent is only counted: a send that continues
the recorder's run of sends counts itself (``run.n += 1``, no call, no row), and
:meth:`SendPath.send_all` counts all its receivers in one update
(:mod:`vpp.agents.runtime.trace_counts`).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import zmq
from msgspec import Raw
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.batches import (
    BATCH_BYTES,
    Outgoing,
    array_head,
    join_batch,
    topic_key,
)
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope


class SendPath:
    """Sending, for :class:`vpp.agents.runtime.host.Host` (its attributes ``name``,
    ``codec``, ``clock``, ``stats``, ``inbox``, ``router``, ``pub``, ``_trace``, ``_kinds``,
    ``_encode``, ``_encode_into``, ``_peers``, ``_routes``, ``_gone`` and ``_outbox``)."""

    def send(self, sender: Agent, receiver: str, body: msgspec.Struct, *,
             conversation: str = "", round: int = 0) -> None:
        """Encode and send ``body`` from a local agent to the address ``receiver``."""
        host = receiver.partition("/")[0]  # (Codec.encode_body, encode_into written out)
        if host not in self._peers and host not in self._routes:
            self._unroutable(sender, receiver, host)
            return
        queue = self._outbox.get(host)
        if queue is None:
            queue = self._outbox[host] = Outgoing()
        kind = self._kinds.get(type(body)) or self.codec.registry.name_of(body)
        made_for, address = sender._address  # (what Agent.address answers, once made)
        address = address if made_for is self else sender.address
        # the body encoded once (the wire's and the trace row's), in an Envelope's fields
        raw, now, data = Raw(self._encode(body)), self.clock.now(), queue.data
        start = len(data)
        self._encode_into((WIRE_VERSION, kind, address, receiver, conversation, round, now,
                           raw), data, start)
        size = len(data) - start
        if size > self.codec.max_send_bytes:
            self._too_large(data, start, kind, receiver, size)
        queue.count += 1
        self.stats.sent += 1
        trace = self._trace
        if trace is not None:
            run = trace.send_run  # (at rounds: counted with the sends before it, in place)
            if (run is not None and run.kind == kind and run.round == round
                    and run.conversation == conversation):
                run.n += 1
            else:
                trace.sent(kind, address, receiver, conversation, round, now, raw, size)
        if start + size >= BATCH_BYTES:
            self._send_batch(host)

    def send_all(self, sender: Agent, receivers: Iterable[str], body: msgspec.Struct, *,
                 conversation: str = "", round: int = 0) -> int:
        """Send one ``body`` to each address of ``receivers`` in turn, as that many
        :meth:`send` calls would, the body encoded once; return how many were sent or
        dropped (a receiver whose host is gone is dropped as ``unreachable``)."""
        trace, outbox, peers, routes = self._trace, self._outbox, self._peers, self._routes
        stats, encode_into, max_send = self.stats, self._encode_into, self.codec.max_send_bytes
        address, now = sender.address, self.clock.now
        # at rounds the sends are counted, not recorded: all of them in one update
        counted = trace is not None and trace.send_run is not None
        row = trace.sent if trace is not None and not counted else None
        raw, handled, sent = None, 0, 0
        try:
            for receiver in receivers:
                handled += 1
                host = receiver.partition("/")[0]
                if host not in peers and host not in routes:
                    self._unroutable(sender, receiver, host)
                    continue
                queue = outbox.get(host)
                if queue is None:
                    queue = outbox[host] = Outgoing()
                if raw is None:
                    kind, raw = self.codec.encode_body(body)
                sim_time, data = now(), queue.data
                start = len(data)
                encode_into((WIRE_VERSION, kind, address, receiver, conversation, round,
                             sim_time, raw), data, start)  # (an Envelope's bytes, as in send)
                size = len(data) - start
                if size > max_send:
                    self._too_large(data, start, kind, receiver, size)
                queue.count += 1
                stats.sent += 1
                if row is not None:
                    row(kind, address, receiver, conversation, round, sim_time, raw, size)
                elif counted and not sent:
                    # the first enters the count (a flush it brings comes where it did)
                    trace.count("send", conversation, round, kind, 1)
                sent += 1
                if start + size >= BATCH_BYTES:
                    self._send_batch(host)
        finally:
            if counted and sent > 1:  # the rest (those queued before a refusal too)
                trace.count("send", conversation, round, kind, sent - 1)
        return handled

    def _too_large(self, data: bytearray, start: int, kind: str, to: str, size: int) -> None:
        del data[start:]
        self.codec.too_large(Envelope(WIRE_VERSION, kind, "", to, "", 0, 0.0, Raw(b"")), size)

    def _unroutable(self, sender: Agent, receiver: str, host: str) -> None:
        """A message to a host with no way to go: dropped as ``unreachable`` when the host
        is gone (see ``forget_route``), else KeyError (never connected: a bug)."""
        if host not in self._gone:
            raise KeyError(f"{sender.address} cannot reach {receiver}: host {host!r} is not "
                           f"connected to {self.name}")
        self.stats.dropped["unreachable"] += 1
        if self._trace is not None:
            self._trace.dropped(0, f"unreachable: host {host} is gone")

    def _send_batch(self, host: str) -> None:
        queue = self._outbox.pop(host, None)
        if queue is None or not queue.count:
            return
        batch = array_head(queue.count) + queue.data
        try:
            dealer = self._peers.get(host)
            if dealer is not None:
                dealer.send(batch, zmq.NOBLOCK)
            else:
                self.router.send_multipart([host.encode(), batch], zmq.NOBLOCK)
        except zmq.ZMQError:
            # no live connection to that host, or its queue is full: never block the loop;
            # say what was lost (counted per message, logged and traced per batch)
            self.inbox.drop(len(queue.data), f"unreachable: host {host}: {queue.count} "
                            "messages", source=host, count=queue.count)

    def flush_out(self) -> None:
        """Send every queued message, one batch per peer host."""
        for host in list(self._outbox):
            self._send_batch(host)

    def publish(self, sender: Agent, topic: str, body: msgspec.Struct, *,
                conversation: str = "", round: int = 0) -> None:
        """Broadcast ``body`` on ``topic`` (the host must have a PUB endpoint)."""
        if self.pub is None:
            raise RuntimeError(f"host {self.name} has no PUB endpoint to broadcast on")
        key = topic_key(topic)
        envelope, frame = self.codec.encode(
            body, sender=sender.address, receiver="*" + topic, conversation=conversation,
            round=round, sim_time=self.clock.now())
        self.pub.send(key + join_batch([frame]))
        self.stats.sent += 1
        if self._trace is not None:
            self._trace.message("send", envelope, len(frame))
