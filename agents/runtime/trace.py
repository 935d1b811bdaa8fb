"""The trace recorder: every message sent, received or dropped, and one row per round.

One SQLite file (WAL mode) per process: a *shard*, ``DIR/trace/<host>.sqlite``. Message
rows (:data:`MESSAGE_FIELDS`) are many, so they are stored in chunks: one SQLite row per
flush holding a MessagePack array of message rows (bodies embedded as MessagePack),
zlib-compressed (level 1: traces are repetitive and shrink about 40-fold), which costs a
fraction of a row-per-message insert; rounds, steps and dispatch are plain tables.
A message row is encoded (MessagePack) as it is recorded, into the flush's buffer: no row
object is kept until the flush nor freed by it. Rows are written in one transaction per
flush; the owner flushes at the end of every simulated step, and the recorder flushes by
itself when its buffer grows past ``flush_rows`` or ``flush_interval_s`` has passed. A
writer thread (:mod:`vpp.agents.runtime.trace_writer`) compresses and writes each flush
while the agents go on; a flush first waits for the previous one to be on disk, so a crash
loses at most the last flush and the rows buffered after it.
``vpp.agents.runtime.trace_reader`` reads all shards of a run as one.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from vpp.agents.runtime.batches import array_head
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.trace_counts import (  # UNTRACED_KINDS: re-exported
    UNTRACED_KINDS,
    LevelCounting,
)
from vpp.agents.runtime.trace_writer import (  # CHUNK_ENCODING: re-exported
    CHUNK_ENCODING,  # noqa: F401
    QUEUED_FLUSHES,
    ShardWriter,
)

_time_ns = time.time_ns

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    address TEXT PRIMARY KEY, role TEXT NOT NULL, class TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS message_chunks (
    chunk INTEGER PRIMARY KEY, first_wall_ns INTEGER NOT NULL, rows INTEGER NOT NULL,
    encoding TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    wall_ns INTEGER NOT NULL, sim_time REAL NOT NULL, step INTEGER NOT NULL,
    conversation TEXT NOT NULL, protocol TEXT NOT NULL, round INTEGER NOT NULL,
    target_kw REAL, served_kw REAL, unserved_kw REAL, price REAL,
    primal_residual REAL, dual_residual REAL, step_size REAL,
    bids INTEGER, awards INTEGER, declines INTEGER, detail TEXT);
CREATE TABLE IF NOT EXISTS steps (
    step INTEGER PRIMARY KEY, sim_time REAL NOT NULL, target_kw REAL NOT NULL,
    served_kw REAL NOT NULL, unserved_kw REAL NOT NULL,
    reserve_target_kw REAL NOT NULL, reserve_served_kw REAL NOT NULL,
    marginal_price REAL, cost_eur REAL NOT NULL, rounds INTEGER NOT NULL,
    silent TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dispatch (
    step INTEGER NOT NULL, sim_time REAL NOT NULL, site TEXT NOT NULL,
    power_kw REAL NOT NULL, reserve_kw REAL NOT NULL, cost_eur REAL NOT NULL);
CREATE TABLE IF NOT EXISTS message_counts (
    conversation TEXT, round INTEGER, kind TEXT NOT NULL, direction TEXT NOT NULL,
    count INTEGER NOT NULL);
"""

MESSAGE_FIELDS = (
    "wall_ns", "sim_time", "direction", "kind", "sender", "receiver", "conversation",
    "round", "size", "body", "error",
)
"""The fields of one message row, in their order within a chunk."""

ROUND_COLUMNS = (
    "target_kw", "served_kw", "unserved_kw", "price", "primal_residual",
    "dual_residual", "step_size", "bids", "awards", "declines",
)


Tap = Callable[[list[tuple], list[tuple], list[tuple], list[tuple], list[tuple]], None]
"""What :attr:`TraceRecorder.tap` is called with: the rows of a flush (messages, rounds,
agents, meta, message counts)."""


class TraceWriteError(RuntimeError):
    """A trace shard that could not be opened or written (the disk full, the folder not
    writable). Raised once, by the flush, sync or close that first meets it; the rows of
    the flushes before it stay on disk (SQLite rolls the failed transaction back)."""

    def __init__(self, path: Path, cause: BaseException, opening: bool = False) -> None:
        super().__init__(f"the trace shard {path} could not be "
                         f"{'opened' if opening else 'written'}: {cause}")
        self.path = path
        self.__cause__ = cause


HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A host name that may name a shard file written from what came from elsewhere (a
shipped batch's sender, a merged shard's meta): no path separator, no leading dot."""


def shard_path(run_dir: Path | str, host: str) -> Path:
    """Where the shard of ``host`` lives inside a run directory."""
    return Path(run_dir) / "trace" / f"{host}.sqlite"


_INT_BYTES = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_row_split = msgspec.msgpack.Decoder(list[msgspec.Raw])


def _first_wall_ns(rows: bytearray) -> int:
    """The wall time of the first of encoded message rows (an array whose first item is
    an integer: its header is one byte, then the integer's type byte); 0 if it is not."""
    head = rows[1]
    if head < 0x80:
        return head
    width = _INT_BYTES.get(head)
    if width is None:
        return 0
    return int.from_bytes(rows[2:2 + width], "big", signed=head >= 0xD0)


def _split_rows(rows: bytearray, n: int) -> list[msgspec.Raw]:
    """Encoded message rows, each on its own (encoding one gives its bytes back)."""
    return _row_split.decode(array_head(n) + rows)


class TraceRecorder(LevelCounting):
    """Buffers trace rows of one host and writes them to its SQLite shard.

    It records every message until :meth:`set_level` says otherwise (a trace level of
    :mod:`vpp.agents.runtime.trace_level`: the messages not recorded are counted in the
    ``message_counts`` table, one row per conversation, round, kind and direction a flush:
    :mod:`vpp.agents.runtime.trace_counts`).

    Args:
        path: the shard file (its folder is created).
        host: the host whose traffic this shard holds.
        flush_rows: flush by itself once this many rows wait.
        flush_interval_s: flush by itself once this much wall time passed since the last.
    """

    def __init__(
        self, path: Path | str, host: str, *, flush_rows: int = 20_000,
        flush_interval_s: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.host = host
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self._rows = bytearray()  # message rows, each a MessagePack array, back to back
        self._row_count = 0
        self._rounds: list[tuple] = []
        self._steps: list[tuple] = []
        self._dispatch: list[tuple] = []
        self._agents: list[tuple] = []
        self._meta: list[tuple] = []
        self._init_counting()
        self._last_flush = time.monotonic()
        self.tap: Tap | None = None
        """Called at each flush with the rows handed to the writer (messages, rounds,
        agents, meta), before they are written: a site process ships them on
        (:class:`vpp.agents.membership.trace_ship.TraceShipper`); it must not block."""
        self._encoder = msgspec.msgpack.Encoder()
        self._put = self._encoder.encode_into
        self._reported = False
        db = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            if db is not None:
                db.close()
            raise TraceWriteError(self.path, exc, opening=True) from exc
        self._writer = ShardWriter(db, self.path, f"trace-{host}")
        self._handoff = self._writer.handoff
        self.set_meta(host=host, schema_version=SCHEMA_VERSION)

    # -- rows -------------------------------------------------------------------------
    def set_meta(self, **items: Any) -> None:
        """Record run-level facts (scenario, seed, ...); written with the next flush."""
        self._meta.extend((k, json.dumps(v)) for k, v in items.items())

    def agent(self, address: str, role: str, cls: str) -> None:
        """Record an agent hosted here."""
        self._agents.append((address, role, cls))

    def message(self, direction: str, envelope: Envelope, size: int,
                receiver: str | None = None) -> None:
        """Record a message sent (``send``) or received (``recv``) with its body.

        ``receiver`` overrides the envelope's, for a broadcast delivered to a local agent.
        Kinds in :data:`UNTRACED_KINDS` are not recorded.
        """
        kind = envelope.kind
        if kind in UNTRACED_KINDS:
            return
        # encoded at once into the flush's buffer: no row kept, nothing to free at the flush
        self._put((
            _time_ns(), envelope.sim_time, direction, kind, envelope.sender,
            receiver or envelope.receiver, envelope.conversation, envelope.round, size,
            envelope.body, None,
        ), self._rows, -1)
        self._row_count = n = self._row_count + 1
        if n & 1023 == 0:
            self._maybe_flush()

    def sent(self, kind: str, sender: str, receiver: str, conversation: str, round: int,
             sim_time: float, body: msgspec.Struct | msgspec.Raw, size: int) -> None:
        """Record a message sent, given by its envelope's fields and its body (the struct
        or its encoding: the row holds the same bytes): what :meth:`message` records for
        ``("send", Envelope(...), size)``, without the envelope (a host's send makes
        none)."""
        if kind in UNTRACED_KINDS:
            return
        self._put((_time_ns(), sim_time, "send", kind, sender, receiver, conversation, round,
                   size, body, None), self._rows, -1)
        self._row_count = n = self._row_count + 1
        if n & 1023 == 0:
            self._maybe_flush()

    def dropped(self, size: int, reason: str, envelope: Envelope | None = None) -> None:
        """Record a frame that was dropped, with why; the envelope if it decoded."""
        if envelope is None:
            row = (time.time_ns(), None, "drop", None, None, None, None, None, size, None, reason)
        else:
            row = (
                time.time_ns(), envelope.sim_time, "drop", envelope.kind, envelope.sender,
                envelope.receiver, envelope.conversation, envelope.round, size, None, reason,
            )
        self._put(row, self._rows, -1)
        self._row_count += 1

    def round(
        self, *, sim_time: float, step: int, conversation: str, protocol: str, round: int,
        detail: dict[str, Any] | None = None, **values: float | None,
    ) -> None:
        """Record one negotiation round; ``values`` are among :data:`ROUND_COLUMNS`."""
        unknown = set(values) - set(ROUND_COLUMNS)
        if unknown:
            raise ValueError(f"unknown round columns: {sorted(unknown)}")
        self._rounds.append((
            time.time_ns(), sim_time, step, conversation, protocol, round,
            *(values.get(c) for c in ROUND_COLUMNS),
            json.dumps(detail) if detail else None,
        ))

    def step(
        self, *, step: int, sim_time: float, target_kw: float, served_kw: float,
        unserved_kw: float, reserve_target_kw: float, reserve_served_kw: float,
        marginal_price: float | None, cost_eur: float, rounds: int, silent: list[str],
        dispatch: list[tuple[str, float, float, float]],
    ) -> None:
        """Record one step's outcome and each site's dispatch (site, kW, reserve kW, EUR)."""
        self._steps.append((
            step, sim_time, target_kw, served_kw, unserved_kw, reserve_target_kw,
            reserve_served_kw, marginal_price, cost_eur, rounds, json.dumps(silent),
        ))
        self._dispatch.extend((step, sim_time, *row) for row in dispatch)

    def extend(self, messages: list[tuple], rounds: list[tuple],
               meta: list[tuple[str, str]] = (), counts: list[tuple] = ()) -> None:
        """Record rows recorded elsewhere, as they are: message rows in
        :data:`MESSAGE_FIELDS` order, rounds rows in the ``rounds`` table's column order,
        meta items as (key, JSON text) and message counts as (conversation, round, kind,
        direction, count) (a site's rows shipped to the aggregator, or a shard merged:
        already checked by the caller); flushed as :meth:`message` rows are (past
        ``flush_rows`` or ``flush_interval_s``)."""
        put, rows = self._put, self._rows
        start = len(rows)
        try:
            for row in messages:
                put(row, rows, -1)
        except BaseException:
            del rows[start:]  # none of them, rather than a chunk whose count is wrong
            raise
        self._row_count += len(messages)
        self._rounds.extend(rounds)
        self._meta.extend(meta)
        for *key, n in counts:
            self._counts[tuple(key)] = self._counts.get(tuple(key), 0) + n
        self._maybe_flush()

    # -- flushing ---------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if (self._row_count >= self.flush_rows
                or time.monotonic() - self._last_flush >= self.flush_interval_s):
            self.flush()

    def flush(self) -> None:
        """Hand every buffered row to the writer (waiting only while two flushes are still
        being written: :mod:`vpp.agents.runtime.trace_writer`)."""
        self._writer.wait(QUEUED_FLUSHES - 1)
        self._raise_writer_error()
        counts = self._take_counts()
        rows, n = self._rows, self._row_count
        if self.tap is not None and (n or self._rounds or self._agents or self._meta
                                     or counts):
            # each message row as its encoded bytes (what encoding a row tuple gives)
            self.tap(_split_rows(rows, n) if n else [], self._rounds, self._agents,
                     self._meta, counts)
        # rows are encoded as they are recorded (message); the chunk is their array
        job = (
            (_first_wall_ns(rows), n, array_head(n) + rows)
            if n else None,
            self._rounds, self._steps, self._dispatch, self._agents, self._meta, counts,
        )
        self._rows, self._row_count = bytearray(), 0
        self._rounds, self._steps = [], []
        self._dispatch, self._agents, self._meta = [], [], []
        self._writer.hand(job)
        self._last_flush = time.monotonic()

    def sync(self) -> None:
        """Flush and wait until everything is on disk."""
        self.flush()
        self._writer.wait()
        self._raise_writer_error()

    @property
    def failed(self) -> BaseException | None:
        """The write error that stopped this shard (None while it writes)."""
        return self._writer.error

    def close(self) -> None:
        """Flush, wait for the writer and close the shard (raising a write error only if
        no flush has raised it yet)."""
        if not self._writer.alive():
            return
        try:
            self.sync()
        finally:
            self._writer.hand(None)
            self._writer.join()

    def _raise_writer_error(self) -> None:
        error = self._writer.error
        if error is not None and not self._reported:
            self._reported = True
            raise TraceWriteError(self.path, error)
