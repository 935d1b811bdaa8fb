"""The trace recorder: every message sent, received or dropped, and one row per round.

One SQLite file (WAL mode) per process: a *shard*, ``DIR/trace/<host>.sqlite``. Message
rows (:data:`MESSAGE_FIELDS`) are many, so they are stored in chunks: one SQLite row per
flush holding a MessagePack array of message rows (bodies embedded as MessagePack),
zlib-compressed (level 1: traces are repetitive and shrink about 40-fold), which costs a
fraction of a row-per-message insert; rounds, steps and dispatch are plain tables.
Rows are buffered and written in one transaction per flush; the owner flushes at the end of every
simulated step, and the recorder flushes by itself when its buffer grows past
``flush_rows`` or ``flush_interval_s`` has passed. A writer thread compresses and writes
each flush while the agents go on (zlib and SQLite release the GIL); a flush first waits
for the previous one to be on disk, so a crash loses at most the last flush and the rows
buffered after it. ``vpp.agents.runtime.trace_reader`` reads all shards of a run as one.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.trace_level import FULL, SampleFilter, TraceLevel, parse_level

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

CHUNK_ENCODING = "msgpack+zlib"
"""How ``message_chunks.data`` is encoded."""

UNTRACED_KINDS = frozenset({"TraceBatch"})
"""Kinds whose sends and receipts are not recorded: a batch of trace rows shipped to the
aggregator (``vpp.agents.membership.trace_ship``) would otherwise carry the rows of the
batches before it, and the aggregator's shard would hold every site's rows twice."""

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


class TraceRecorder:
    """Buffers trace rows of one host and writes them to its SQLite shard.

    It records every message until :meth:`set_level` says otherwise (a trace level of
    :mod:`vpp.agents.runtime.trace_level`: the messages not recorded are counted in the
    ``message_counts`` table, one row per conversation, round, kind and direction a flush).

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
        self._messages: list[tuple] = []
        self._rounds: list[tuple] = []
        self._steps: list[tuple] = []
        self._dispatch: list[tuple] = []
        self._agents: list[tuple] = []
        self._meta: list[tuple] = []
        self._counts: dict[tuple, int] = {}
        self.level: TraceLevel = FULL
        """What this shard records (:meth:`set_level`)."""
        self.sampled: list[str] | None = None
        """The sites a ``sample:N`` level keeps the messages of (None at other levels)."""
        self._last_flush = time.monotonic()
        self.tap: Tap | None = None
        """Called at each flush with the rows handed to the writer (messages, rounds,
        agents, meta), before they are written: a site process ships them on
        (:class:`vpp.agents.membership.trace_ship.TraceShipper`); it must not block."""
        self._encoder = msgspec.msgpack.Encoder()
        self._error: BaseException | None = None
        self._reported = False
        self._jobs: deque = deque()  # handed to the writer, the first being written
        self._handoff = threading.Condition()
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
        self._writer = threading.Thread(target=self._write_loop, args=(db,),
                                        name=f"trace-{host}", daemon=True)
        self._writer.start()
        self.set_meta(host=host, schema_version=SCHEMA_VERSION)

    # -- level ------------------------------------------------------------------------
    def set_level(self, level: TraceLevel | str, sites: list[str] = (), seed: int = 0,
                  ) -> None:
        """Record at ``level`` from now on (``sites``: the fleet in scenario order, and
        ``seed`` the run's, from which ``sample:N`` chooses its sites); the level and the
        fleet's size are written to the meta (``trace_level``, ``trace_sites``).

        ``rounds`` and ``sample:N`` replace :meth:`message` on this recorder: what the
        level leaves out is counted per (conversation, round, kind, direction)."""
        level = parse_level(level)
        self.level = level
        self.sampled = None
        if level.kind == "rounds":
            self.message = self._count_message
        elif level.kind == "sample":
            self._sample = SampleFilter(list(sites), level.n, seed)
            self.sampled = self._sample.sampled
            self.message = self._sample_message
        else:
            self.__dict__.pop("message", None)
        self.set_meta(trace_level=level.text, trace_sites=len(sites))

    def _count_message(self, direction: str, envelope: Envelope, size: int,
                       receiver: str | None = None) -> None:
        """:meth:`message` at level ``rounds``: counted, not recorded (flushed past
        ``flush_rows`` keys: conversations are a peer's to name)."""
        kind = envelope.kind
        if kind in UNTRACED_KINDS:
            return
        key = (envelope.conversation, envelope.round, kind, direction)
        counts = self._counts
        n = counts.get(key)
        if n is not None:
            counts[key] = n + 1
            return
        counts[key] = 1
        if len(counts) >= self.flush_rows:
            self.flush()

    def _sample_message(self, direction: str, envelope: Envelope, size: int,
                        receiver: str | None = None) -> None:
        """:meth:`message` at level ``sample:N``: recorded unless it is to or from a
        site left out of the sample (then counted)."""
        if self._sample.leaves_out(envelope.sender, receiver or envelope.receiver):
            self._count_message(direction, envelope, size)
        else:
            TraceRecorder.message(self, direction, envelope, size, receiver)

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
        messages = self._messages
        messages.append((
            _time_ns(), envelope.sim_time, direction, kind, envelope.sender,
            receiver or envelope.receiver, envelope.conversation, envelope.round, size,
            envelope.body, None,
        ))
        if len(messages) & 1023 == 0:
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
        self._messages.append(row)

    def round(
        self, *, sim_time: float, step: int, conversation: str, protocol: str, round: int,
        detail: dict[str, Any] | None = None, **values: float | int | None,
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
        self._messages.extend(messages)
        self._rounds.extend(rounds)
        self._meta.extend(meta)
        for *key, n in counts:
            self._counts[tuple(key)] = self._counts.get(tuple(key), 0) + n
        self._maybe_flush()

    # -- flushing ---------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if (len(self._messages) >= self.flush_rows
                or time.monotonic() - self._last_flush >= self.flush_interval_s):
            self.flush()

    def flush(self) -> None:
        """Hand every buffered row to the writer, once the previous flush is on disk."""
        self._wait_written()
        self._raise_writer_error()
        counts = [(*key, n) for key, n in self._counts.items()]
        if self.tap is not None and (self._messages or self._rounds or self._agents
                                     or self._meta or counts):
            self.tap(self._messages, self._rounds, self._agents, self._meta, counts)
        # encoded here, not by the writer: msgspec holds the GIL, so encoding on the writer
        # saved this thread's CPU but no wall time (measured on the 1,000-site bench)
        job = (
            (self._messages[0][0], len(self._messages), self._encoder.encode(self._messages))
            if self._messages else None,
            self._rounds, self._steps, self._dispatch, self._agents, self._meta, counts,
        )
        self._counts = {}
        self._messages, self._rounds, self._steps = [], [], []
        self._dispatch, self._agents, self._meta = [], [], []
        self._hand(job)
        self._last_flush = time.monotonic()

    def sync(self) -> None:
        """Flush and wait until everything is on disk."""
        self.flush()
        self._wait_written()
        self._raise_writer_error()

    @property
    def failed(self) -> BaseException | None:
        """The write error that stopped this shard (None while it writes)."""
        return self._error

    def close(self) -> None:
        """Flush, wait for the writer and close the shard (raising a write error only if
        no flush has raised it yet)."""
        if not self._writer.is_alive():
            return
        try:
            self.sync()
        finally:
            self._hand(None)
            self._writer.join()

    # The hand-off to the writer survives a signal's exception (KeyboardInterrupt,
    # SystemExit from a SIGTERM handler) raised in this thread anywhere, e.g. between
    # queueing a job and waking the writer, which would leave a plain queue.Queue's join
    # waiting for ever: a job is one deque entry until written, and every wait also
    # wakes on its own every _WAKE_S.
    _WAKE_S = 0.25

    def _hand(self, job: tuple | None) -> None:
        with self._handoff:
            self._jobs.append(job)
            self._handoff.notify_all()

    def _wait_written(self) -> None:
        with self._handoff:
            while self._jobs and self._writer.is_alive():
                self._handoff.wait(self._WAKE_S)

    def _raise_writer_error(self) -> None:
        if self._error is not None and not self._reported:
            self._reported = True
            raise TraceWriteError(self.path, self._error)

    def _write_loop(self, db: sqlite3.Connection) -> None:
        while True:
            with self._handoff:
                while not self._jobs:
                    self._handoff.wait(self._WAKE_S)
                job = self._jobs[0]
            if job is None:
                break
            try:
                if self._error is None:
                    self._write(db, *job)
            except (sqlite3.Error, zlib.error, OSError) as exc:
                log.error("trace shard %s: %s", self.path, exc)
                self._error = exc
            finally:
                with self._handoff:
                    self._jobs.popleft()
                    self._handoff.notify_all()
        db.close()
        with self._handoff:
            self._jobs.clear()
            self._handoff.notify_all()

    @staticmethod
    def _write(db: sqlite3.Connection, chunk, rounds, steps, dispatch, agents, meta,
               counts) -> None:
        with db:
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            if agents:
                db.executemany("INSERT OR REPLACE INTO agents VALUES (?, ?, ?)", agents)
            if chunk is not None:
                first, rows, data = chunk
                db.execute("INSERT INTO message_chunks (first_wall_ns, rows, encoding, data) "
                           "VALUES (?, ?, ?, ?)",
                           (first, rows, CHUNK_ENCODING, zlib.compress(data, 1)))
            if rounds:
                db.executemany(
                    "INSERT INTO rounds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rounds)
            if steps:
                db.executemany("INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?)", steps)
            if dispatch:
                db.executemany("INSERT INTO dispatch VALUES (?,?,?,?,?,?)", dispatch)
            if counts:
                db.executemany("INSERT INTO message_counts VALUES (?,?,?,?,?)", counts)
