"""The site side of trace shipping: a site process's trace rows go to the aggregator.

A site process keeps writing its own shard as before; at each flush of its
:class:`~vpp.agents.runtime.trace.TraceRecorder` the rows flushed (messages, rounds,
counts, agents and meta items) are also cut into
:class:`~vpp.agents.membership.messages.TraceBatch` messages (at most
:data:`MAX_BATCH_BYTES` bytes each, and the counts of each kind of row the aggregator
takes) and queued, at most :data:`SEND_QUEUE_BATCHES` of them; a :class:`TraceShipper`
sends one every :data:`SHIP_INTERVAL_S` from the event loop while the link is joined, so
shipping never holds up a dispatch answer. Rows that do not fit (the queue full, a
message row over :data:`MAX_ROW_BYTES`, an agent or meta item with a text over
:data:`MAX_TEXT`, such as the ``sites`` of a host of a hundred sites or more) are counted
in :attr:`TraceShipper.unshipped_rows` and stay in the local shard (``vpp trace merge``
brings them over later). The aggregator's side is
:mod:`vpp.agents.membership.trace_sink`; the sequence is in
``docs/protocols/distributed.md`` ("Trace shipping").
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

import msgspec
from vpp.agents.membership.messages import TraceBatch
from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES
from vpp.agents.runtime.trace import TraceRecorder

log = logging.getLogger(__name__)

SINK_AGENT = "traces"
"""The name of the agent on the aggregator's host that takes trace batches."""

MAX_BATCH_ROWS = 2_000
"""Message rows per batch, at most (and rounds rows, at most :data:`MAX_BATCH_ROUNDS`):
what the aggregator decodes and checks in one handler call (a few ms)."""

MAX_BATCH_ROUNDS = 256
"""Rounds rows per batch (a site records only its liveness changes: a few a run)."""

MAX_BATCH_COUNTS = 1_024
"""Message-count rows per batch (a ``rounds`` or ``sample:N`` trace level's: one per
conversation, round, kind and direction a flush, a few dozen a step)."""

MAX_BATCH_BYTES = DEFAULT_MAX_FRAME_BYTES - 32 * 1024
"""Bytes of a batch's ``messages`` and ``rounds`` together: the frame cap less room for
the envelope, the agents and the meta, so a batch is never ``oversized`` (224 KiB)."""

MAX_ROW_BYTES = 64 * 1024
"""One message row's bytes (its body mostly), at most: a 96-step schedule of 1,000
segments is about 20 KiB. A larger row stays in the local shard only."""

MAX_BATCH_ITEMS = 2_000
"""Agents and meta items per batch, each (a site process hosts an agent a site: 50,000
of them in a region process ship in 25 batches)."""

MAX_TEXT = 1024
"""Characters of one text field of a row (an address, a kind, a reason, a meta value)."""

SEND_QUEUE_BATCHES = 32
"""Batches queued on the site for sending, at most (32 x 224 KiB = 7 MiB of memory)."""

SHIP_INTERVAL_S = 0.05
"""One batch is sent every this often while joined (at most 20 batches, 40,000 rows, a
second): the ZeroMQ send queue (``SEND_HWM`` batches) keeps room for the dispatch."""

FLUSH_INTERVAL_S = 1.0
"""The site's trace is flushed (and so shipped) at least this often while joined."""


def _array(parts: list[bytes]) -> bytes:
    """A MessagePack array of already encoded values."""
    n = len(parts)
    head = bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big")
    return head + b"".join(parts)


class TraceShipper:
    """Cuts a site's flushed trace rows into batches and sends them from its link.

    Args:
        send: sends a batch to the aggregator's sink (the link agent's ``send``).
        joined: whether the link is joined now (batches wait in the queue otherwise).
        call_later: the host's timer (``Host.call_later``).
    """

    def __init__(self, send: Callable[[TraceBatch], None], joined: Callable[[], bool],
                 call_later: Callable[[float, Callable[[], None]], object]) -> None:
        self.send = send
        self.joined = joined
        self.call_later = call_later
        self.queue: deque[TraceBatch] = deque()
        self.recorder: TraceRecorder | None = None
        self.shipped_rows = 0
        self.unshipped_rows = 0
        self.batches = 0
        self._encoder = msgspec.msgpack.Encoder()
        self._since_flush = 0.0
        self._running = False
        self._warned = False
        self._warned_item = False

    def attach(self, recorder: TraceRecorder) -> None:
        """Ship what ``recorder`` flushes from now on, and start the sending timer."""
        self.recorder = recorder
        recorder.tap = self.take
        if not self._running:
            self._running = True
            self.call_later(SHIP_INTERVAL_S, self._tick)

    # -- cutting -------------------------------------------------------------------------
    def take(self, messages: list[tuple], rounds: list[tuple], agents: list[tuple],
             meta: list[tuple], counts: list[tuple] = ()) -> None:
        """Queue the rows of one flush as batches (the recorder's ``tap``): each batch within
        :data:`MAX_BATCH_BYTES` and the caps of each kind of row, in the order rounds,
        counts, agents, meta, messages."""
        enc = self._encoder.encode
        batch = _Cut()
        for kind, items in ((_ROUNDS, rounds), (_COUNTS, counts), (_AGENTS, agents),
                            (_META, meta)):
            for item in items:
                if kind in (_AGENTS, _META):  # (address, role, class) or (key, JSON text)
                    if any(len(text) > MAX_TEXT for text in item):
                        self._unshipped(kind, item)
                        continue
                    part, size = item, len(enc(item))
                else:
                    part = enc(item)
                    size = len(part)
                batch = self._add(batch, kind, part, size)
        for row in messages:  # the many: the same, without the branches
            part = enc(row)
            size = len(part)
            if size > MAX_ROW_BYTES:
                self._unshipped(_MESSAGES, row)
            else:
                batch = self._add(batch, _MESSAGES, part, size)
        if batch.rows:
            self._queue(batch)

    def _add(self, batch: _Cut, kind: int, part: object, size: int) -> _Cut:
        """``batch`` with one more row, or a new batch with it when it was full."""
        if not batch.fits(kind, size):
            self._queue(batch)
            batch = _Cut()
        batch.add(kind, part, size)
        return batch

    def _unshipped(self, kind: int, item: tuple) -> None:
        self.unshipped_rows += 1
        if kind in (_AGENTS, _META) and not self._warned_item:
            self._warned_item = True
            log.info("a trace %s item (%s...) is over %d characters: it stays in the local "
                     "shard only", "agent" if kind == _AGENTS else "meta", str(item[0])[:64],
                     MAX_TEXT)

    def _queue(self, batch: _Cut) -> None:
        if len(self.queue) >= SEND_QUEUE_BATCHES:
            self.unshipped_rows += batch.rows
            if not self._warned:
                self._warned = True
                log.warning("the trace send queue is full (%d batches): rows are kept in "
                            "the local shard only", SEND_QUEUE_BATCHES)
            return
        self.batches += 1
        parts = batch.parts
        self.queue.append(TraceBatch(self.batches, _array(parts[_MESSAGES]),
                                     _array(parts[_ROUNDS]), parts[_AGENTS], parts[_META],
                                     _array(parts[_COUNTS])))

    # -- sending -------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.joined():
            self._since_flush += SHIP_INTERVAL_S
            if self._since_flush >= FLUSH_INTERVAL_S and self.recorder is not None:
                self._since_flush = 0.0
                self.recorder.flush()
            if self.queue:
                self._send(self.queue.popleft())
        self.call_later(SHIP_INTERVAL_S, self._tick)

    def _send(self, batch: TraceBatch) -> None:
        self.send(batch)
        self.shipped_rows += (_count(batch.messages) + _count(batch.rounds)
                              + _count(batch.counts))

    def drain(self) -> int:
        """Flush the recorder and send every queued batch now (at the end, before
        ``Stopped``); return how many were sent."""
        if self.recorder is not None:
            self.recorder.flush()
        sent = 0
        while self.queue:
            self._send(self.queue.popleft())
            sent += 1
        return sent


_ROUNDS, _COUNTS, _AGENTS, _META, _MESSAGES = range(5)
_CAPS = (MAX_BATCH_ROUNDS, MAX_BATCH_COUNTS, MAX_BATCH_ITEMS, MAX_BATCH_ITEMS, MAX_BATCH_ROWS)
"""How many rows of each kind one batch takes (what the aggregator's check allows)."""


class _Cut:
    """The batch being cut: the rows of each kind, and its bytes."""

    __slots__ = ("parts", "rows", "size")

    def __init__(self) -> None:
        self.parts: list[list] = [[], [], [], [], []]
        self.size = 0
        self.rows = 0

    def fits(self, kind: int, size: int) -> bool:
        """Whether one more row of ``kind`` and ``size`` bytes goes in (an empty batch
        takes any row that passed :data:`MAX_ROW_BYTES`)."""
        return not self.rows or (len(self.parts[kind]) < _CAPS[kind]
                                 and self.size + size <= MAX_BATCH_BYTES)

    def add(self, kind: int, part: object, size: int) -> None:
        """Put one row in."""
        self.parts[kind].append(part)
        self.size += size
        self.rows += 1


def _count(array: bytes) -> int:
    """How many values the MessagePack array header at the start of ``array`` says."""
    first = array[0]
    return first & 0x0F if first & 0xF0 == 0x90 else int.from_bytes(array[1:3], "big")
