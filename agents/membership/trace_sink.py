"""The aggregator side of trace shipping: each site host's rows go into its own shard.

:class:`TraceSinkAgent` (``agg/traces``) takes :class:`~vpp.agents.membership.messages.
TraceBatch` messages from the link of a host that joined this run, and :class:`TraceSink`
writes their rows into ``RUN_DIR/trace/<host>.sqlite`` of the aggregator's run directory,
the shard a one-process run of that host would have. The shard's name is the sender's
host (the connection's identity, checked by the inbox; over CURVE the name its key is
allowed under), never anything the batch says. Every batch is checked before any of it
is written: a malformed one is dropped whole, counted per host in
:attr:`TraceSink.dropped`, logged naming the field, and the run goes on. What a host can
make the aggregator spend is bounded: rows and bytes per batch (the site's limits in
:mod:`vpp.agents.membership.trace_ship`, checked again here), and rows and bytes per host
per run (:data:`MAX_SITE_ROWS`, :data:`MAX_SITE_BYTES`). See
``docs/protocols/distributed.md``, "Trace shipping".
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from vpp.agents.membership.coordinator import LINK_AGENT
from vpp.agents.membership.messages import TraceBatch
from vpp.agents.membership.trace_ship import (
    MAX_BATCH_BYTES,
    MAX_BATCH_COUNTS,
    MAX_BATCH_ITEMS,
    MAX_BATCH_ROUNDS,
    MAX_BATCH_ROWS,
    MAX_ROW_BYTES,
    MAX_TEXT,
    SINK_AGENT,
)
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.codec import DECODE_ERRORS, MAX_DEPTH, DecodeError, check_depth
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.trace import (
    HOST_NAME,
    MESSAGE_FIELDS,
    ROUND_COLUMNS,
    TraceRecorder,
    TraceWriteError,
    shard_path,
)
from vpp.coordination.errors import ProtocolError

log = logging.getLogger(__name__)

MAX_SITE_ROWS = 5_000_000
"""Rows (messages and rounds) one host may ship in one run: a 1,000-step run of a site
process with 100 sites records about 1.2 million; past it a host's batches are dropped."""

MAX_SITE_BYTES = 512 << 20
"""Bytes of rows one host may ship in one run (512 MiB, about 13 MiB on disk once
compressed): the disk and the writer's time a host can take."""

META_KEYS = frozenset({"host", "sites", "pid", "schema_version", "run", "scenario_digest",
                       "trace_level", "trace_sites"})
"""The meta keys a site's shard may hold (the reader merges meta over shards: a site must
not name the run's scenario or seed)."""

SHIPPED_PROTOCOLS = frozenset({"liveness"})
"""The ``rounds`` rows a site records: its link's mode changes, nothing else."""

_Text = Annotated[str, Meta(max_length=MAX_TEXT)]
_Int = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]


class ShippedMessage(msgspec.Struct, array_like=True, frozen=True):
    """One message row as shipped (the fields of :data:`MESSAGE_FIELDS`, in order)."""

    wall_ns: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    sim_time: float | None
    direction: Literal["send", "recv", "drop"]
    kind: _Text | None
    sender: _Text | None
    receiver: _Text | None
    conversation: _Text | None
    round: _Int | None
    size: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    body: msgspec.Raw
    error: _Text | None


class ShippedRound(msgspec.Struct, array_like=True, frozen=True):
    """One ``rounds`` row as shipped (the table's columns, in order)."""

    wall_ns: _Int
    sim_time: float
    step: _Int
    conversation: _Text
    protocol: _Text
    round: _Int
    target_kw: float | None
    served_kw: float | None
    unserved_kw: float | None
    price: float | None
    primal_residual: float | None
    dual_residual: float | None
    step_size: float | None
    bids: _Int | None
    awards: _Int | None
    declines: _Int | None
    detail: _Text | None


class ShippedCount(msgspec.Struct, array_like=True, frozen=True):
    """One ``message_counts`` row as shipped: messages a trace level counted only."""

    conversation: _Text | None
    round: _Int | None
    kind: _Text
    direction: Literal["send", "recv"]
    count: Annotated[int, Meta(ge=1, le=2**31)]


COUNT_FIELDS = ("conversation", "round", "kind", "direction", "count")
_counts = msgspec.msgpack.Decoder(
    Annotated[list[ShippedCount], Meta(max_length=MAX_BATCH_COUNTS)])
ROUND_FIELDS = ("wall_ns", "sim_time", "step", "conversation", "protocol", "round",
                *ROUND_COLUMNS, "detail")
_messages = msgspec.msgpack.Decoder(
    Annotated[list[ShippedMessage], Meta(max_length=MAX_BATCH_ROWS)])
_rounds = msgspec.msgpack.Decoder(
    Annotated[list[ShippedRound], Meta(max_length=MAX_BATCH_ROUNDS)])
_PATH = re.compile(r"`\$(?:\[(\d+)\](?:\[(\d+)\])?)?`")


class BatchRejected(ProtocolError):
    """A trace batch dropped whole; ``field`` names what was wrong."""

    def __init__(self, host: str, field: str, detail: str) -> None:
        super().__init__(f"trace batch from {host}: {field}: {detail}")
        self.field = field


def _field(what: str, fields: tuple[str, ...], text: str) -> str:
    """The field a msgspec error's path (``$[3][0]``) points at, by name."""
    match = _PATH.search(text)
    if match is None or match.group(1) is None:
        return what
    row, col = match.group(1), match.group(2)
    name = fields[int(col)] if col is not None and int(col) < len(fields) else ""
    return f"{what}[{row}]" + (f".{name}" if name else "")


class TraceSink:
    """Writes the rows each site host ships into that host's shard of ``run_dir``.

    Args:
        run_dir: the aggregator's run directory.
        own_host: the aggregator's host name (never a site's shard).
    """

    def __init__(self, run_dir: Path | str, own_host: str) -> None:
        self.run_dir = Path(run_dir)
        self.own_host = own_host
        self.recorders: dict[str, TraceRecorder] = {}
        self.skipped: set[str] = set()
        self.rows: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()

    def take(self, host: str, batch: TraceBatch) -> int:
        """Check ``batch`` whole, then write it into ``host``'s shard; return the rows
        written. Raises :class:`BatchRejected` (counted and logged) for a bad batch."""
        try:
            messages, rounds, agents, meta, counts = self._check(host, batch)
        except BatchRejected as exc:
            self.dropped[host] += 1
            n = self.dropped[host]
            if n <= 10 or n % 1000 == 0:
                log.warning("%s (dropped; %d from this host so far)", exc, n)
            raise
        recorder = self._recorder(host)
        if recorder is None:
            return 0
        self.rows[host] += len(messages) + len(rounds) + len(counts)
        self.bytes[host] += len(batch.messages) + len(batch.rounds) + len(batch.counts)
        try:
            for address, role, cls in agents:
                recorder.agent(address, role, cls)
            recorder.extend(messages, rounds, meta, counts)  # on disk within flush_interval_s
        except TraceWriteError as exc:
            log.error("%s; no more of %s's rows are written", exc, host)
            self.skipped.add(host)
            return 0
        return len(messages) + len(rounds)

    def _recorder(self, host: str) -> TraceRecorder | None:
        if host in self.skipped:
            return None
        recorder = self.recorders.get(host)
        if recorder is not None:
            return recorder
        path = shard_path(self.run_dir, host)
        if path.exists():
            # the site process writes this very shard itself (it runs in this directory)
            log.info("trace shard %s is written by its site process itself; its shipped "
                     "rows are not written again", path)
            self.skipped.add(host)
            return None
        try:
            recorder = self.recorders[host] = TraceRecorder(path, host)
        except TraceWriteError as exc:
            log.error("%s; %s's rows are not written", exc, host)
            self.skipped.add(host)
            return None
        return recorder

    def _check(self, host: str, batch: TraceBatch) -> tuple[list[tuple], ...]:
        def reject(field: str, detail: str):
            raise BatchRejected(host, field, detail)

        if not HOST_NAME.fullmatch(host) or host == self.own_host:
            reject("host", f"{host[:64]!r} cannot name a shard")
        size = len(batch.messages) + len(batch.rounds) + len(batch.counts)
        if size > MAX_BATCH_BYTES:
            reject("messages", f"{size} bytes with rounds and counts > cap {MAX_BATCH_BYTES}")
        if self.bytes[host] + size > MAX_SITE_BYTES:
            reject("messages", f"this host's {MAX_SITE_BYTES} bytes a run are used up")
        messages = [msgspec.structs.astuple(r)
                    for r in self._decode(host, "messages", batch.messages, _messages,
                                          MESSAGE_FIELDS)]
        rounds = self._decode(host, "rounds", batch.rounds, _rounds, ROUND_FIELDS)
        counts = [msgspec.structs.astuple(c)
                  for c in self._decode(host, "counts", batch.counts, _counts, COUNT_FIELDS)]
        if self.rows[host] + len(messages) + len(rounds) + len(counts) > MAX_SITE_ROWS:
            reject("messages", f"this host's {MAX_SITE_ROWS} rows a run are used up")
        for i, row in enumerate(messages):
            if len(row[9]) > MAX_ROW_BYTES:
                reject(f"messages[{i}].body", f"{len(row[9])} bytes > cap {MAX_ROW_BYTES}")
        out_rounds = []
        for i, r in enumerate(rounds):
            if r.protocol not in SHIPPED_PROTOCOLS:
                reject(f"rounds[{i}].protocol", f"{r.protocol[:64]!r} is not a site's")
            if not math.isfinite(r.sim_time):
                reject(f"rounds[{i}].sim_time", "not a finite number")
            if r.detail is not None and not isinstance(_json(r.detail), dict):
                reject(f"rounds[{i}].detail", "not a JSON object")
            out_rounds.append(msgspec.structs.astuple(r))
        for what, items, width in (("agents", batch.agents, 3), ("meta", batch.meta, 2)):
            if len(items) > MAX_BATCH_ITEMS:
                reject(what, f"{len(items)} items > cap {MAX_BATCH_ITEMS}")
            for i, item in enumerate(items):
                if any(len(text) > MAX_TEXT for text in item):
                    reject(f"{what}[{i}]", f"a text over {MAX_TEXT} characters")
        for i, (address, _, _) in enumerate(batch.agents):
            if address.partition("/")[0] != host:
                reject(f"agents[{i}].address", f"{address[:64]!r} is not an agent of {host}")
        meta = []
        for i, (key, value) in enumerate(batch.meta):
            if key not in META_KEYS:
                reject(f"meta[{i}].key", f"{key[:64]!r} is not a site's meta key")
            if _json(value) is _BAD:
                reject(f"meta[{i}].value", "not JSON")
            meta.append((key, json.dumps(host) if key == "host" else value))
        return messages, out_rounds, list(batch.agents), meta, counts

    @staticmethod
    def _decode(host: str, what: str, data: bytes, decoder: msgspec.msgpack.Decoder,
                fields: tuple[str, ...]) -> list:
        try:
            check_depth(data, MAX_DEPTH + 2)  # the rows' array, a row, then its body
            return decoder.decode(data)
        except DecodeError as exc:
            raise BatchRejected(host, what, exc.detail) from None
        except DECODE_ERRORS as exc:
            text = str(exc) if not isinstance(exc, RecursionError) else "nests too deep"
            raise BatchRejected(host, _field(what, fields, text), text[:200]) from None

    def close(self) -> None:
        """Write every shard to disk and close it (a write error is logged)."""
        for recorder in self.recorders.values():
            try:
                recorder.close()
            except TraceWriteError as exc:
                log.error("%s", exc)


_BAD = object()


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _BAD


class TraceSinkAgent(Agent):
    """``agg/traces``: takes trace batches from the link of a host that joined this run.

    Args:
        sink: where the rows go.
        joined: whether a host joined at some time in this run (a host that has just
            said ``Stopped`` still ships its last rows, in the same batch of frames).
    """

    role = "trace-sink"

    def __init__(self, sink: TraceSink, joined: Callable[[str], bool]) -> None:
        super().__init__(SINK_AGENT)
        self.sink = sink
        self.joined = joined
        self.on(TraceBatch, self._on_batch)

    def _on_batch(self, envelope: Envelope, batch: TraceBatch) -> None:
        host = envelope.sender.partition("/")[0]
        if envelope.sender != f"{host}/{LINK_AGENT}" or not self.joined(host):
            raise ProtocolError(f"TraceBatch from {envelope.sender[:64]}, not the link of "
                                "a host that joined")
        self.sink.take(host, batch)
