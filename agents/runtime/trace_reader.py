"""Reading a run's trace: every shard of ``DIR/trace/`` as one.

A message's body is what a peer sent (decoded strictly by its kind when it arrived, but
with any unknown fields it carried): each is decoded on its own here, after its nesting is
bounded (:func:`vpp.agents.runtime.codec.check_depth`), and one that does not decode is shown as
``<undecodable body: REASON>``. A chunk that cannot be read at all is skipped, counted in
:attr:`TraceReader.unreadable_chunks` and logged; the other chunks are read.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from vpp.agents.runtime.codec import DECODE_ERRORS, DecodeError, check_depth
from vpp.agents.runtime.trace import CHUNK_ENCODING, MESSAGE_FIELDS, ROUND_COLUMNS

log = logging.getLogger(__name__)

_Row = tuple[int, float | None, str, str | None, str | None, str | None, str | None,
             int | None, int, msgspec.Raw, str | None]
_chunk_decoder = msgspec.msgpack.Decoder(list[_Row])
_NIL = b"\xc0"


def decode_body(raw: bytes | msgspec.Raw) -> Any:
    """A traced body as plain data, or ``<undecodable body: REASON>``."""
    raw = bytes(raw)
    if raw == _NIL:
        return None
    try:
        check_depth(raw)
        return msgspec.msgpack.decode(raw)
    except DecodeError as exc:
        return f"<undecodable body: {exc.reason}>"
    except DECODE_ERRORS as exc:
        return f"<undecodable body: {type(exc).__name__}>"


def level_note(level: str, sites: int | None) -> str | None:
    """What a reader says of the messages a trace level did not record: ``messages not
    recorded at trace level rounds``, ``sampled: N of M sites`` (None at ``full``)."""
    if level == "rounds":
        return "messages not recorded at trace level rounds"
    if level.startswith("sample:"):
        n = level.partition(":")[2]
        if n.isdigit() and isinstance(sites, int):
            return f"sampled: {min(int(n), sites)} of {sites} sites"
        return f"sampled: {n} sites"
    return f"messages not recorded at trace level {level}" if level != "full" else None


class TraceError(ValueError):
    """A run directory without a readable trace."""


@dataclass(frozen=True)
class MessageRow:
    """One message event: sent, received or dropped, as recorded by ``host``."""

    host: str
    wall_ns: int
    sim_time: float | None
    direction: str
    kind: str | None
    sender: str | None
    receiver: str | None
    conversation: str | None
    round: int | None
    size: int
    body: Any
    error: str | None

    @classmethod
    def from_raw(cls, host: str, raw: Sequence[Any]) -> MessageRow:
        """A shard's raw message row (:data:`MESSAGE_FIELDS` in order) of ``host``, its
        body decoded."""
        return cls(host, *raw[:9], decode_body(raw[9]), raw[10])

    def as_dict(self) -> dict[str, Any]:
        """The row as plain data (for JSON and CSV)."""
        return {"host": self.host, **{f: getattr(self, f) for f in MESSAGE_FIELDS}}


def _agent_of(address: str | None) -> str | None:
    return address.partition("/")[2] if address else None


class TraceReader:
    """All shards of one run, read as one trace.

    Args:
        run_dir: the run's directory (the one holding ``trace/``).
    """

    def __init__(self, run_dir: Path | str) -> None:
        self.run_dir = Path(run_dir)
        shards = sorted((self.run_dir / "trace").glob("*.sqlite"))
        if not shards:
            raise TraceError(f"{self.run_dir} holds no trace (expected {self.run_dir}/trace/*.sqlite)")
        self._dbs: dict[str, sqlite3.Connection] = {}
        self.unreadable_chunks = 0
        for path in shards:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            self._dbs[path.stem] = db

    @property
    def shards(self) -> list[str]:
        """The hosts whose shards make up this trace."""
        return sorted(self._dbs)

    def close(self) -> None:
        """Close every shard."""
        for db in self._dbs.values():
            db.close()

    def _all(self, sql: str, args: tuple = ()) -> Iterator[tuple[str, tuple]]:
        for host, db in self._dbs.items():
            for row in db.execute(sql, args):
                yield host, row

    def meta(self) -> dict[str, Any]:
        """Run facts (scenario, seed, ...), merged over shards."""
        out: dict[str, Any] = {}
        for _, (key, value) in self._all("SELECT key, value FROM meta"):
            out.setdefault(key, json.loads(value))
        return out

    def agents(self) -> list[dict[str, str]]:
        """Every hosted agent: address, role, class."""
        return [{"address": a, "role": r, "class": c}
                for _, (a, r, c) in self._all("SELECT address, role, class FROM agents")]

    def messages(self, *, agent: str | None = None, kind: str | None = None,
                 direction: str | None = None, step: int | None = None) -> list[MessageRow]:
        """Message events, oldest first, filtered by agent (name or address), kind,
        direction (``send``, ``recv``, ``drop``) or step (its conversation)."""
        conv = None if step is None else f"/{step}"
        rows = []
        for host, raw in self._chunk_rows():
            row = MessageRow.from_raw(host, raw)
            if kind is not None and row.kind != kind:
                continue
            if direction is not None and row.direction != direction:
                continue
            if conv is not None and not (row.conversation or "").endswith(conv):
                continue
            if agent is not None and agent not in (
                    row.sender, row.receiver, _agent_of(row.sender), _agent_of(row.receiver)):
                continue
            rows.append(row)
        rows.sort(key=lambda r: r.wall_ns)
        return rows

    def rounds(self, step: int | None = None) -> list[dict[str, Any]]:
        """One row per negotiation round."""
        cols = ("sim_time", "step", "conversation", "protocol", "round", *ROUND_COLUMNS, "detail")
        sql = f"SELECT {', '.join(cols)} FROM rounds"
        args: tuple = ()
        if step is not None:
            sql += " WHERE step = ?"
            args = (step,)
        out = []
        for host, row in self._all(sql, args):
            rec = dict(zip(cols, row))
            rec["detail"] = json.loads(rec["detail"]) if rec["detail"] else {}
            rec["host"] = host
            out.append(rec)
        out.sort(key=lambda r: (r["step"], r["conversation"], r["round"]))
        return out

    def steps(self) -> list[dict[str, Any]]:
        """One row per simulated step: target, served, unserved, reserve, price, cost."""
        cols = ("step", "sim_time", "target_kw", "served_kw", "unserved_kw", "reserve_target_kw",
                "reserve_served_kw", "marginal_price", "cost_eur", "rounds", "silent")
        out = []
        for _, row in self._all(f"SELECT {', '.join(cols)} FROM steps"):
            rec = dict(zip(cols, row))
            rec["silent"] = json.loads(rec["silent"])
            out.append(rec)
        out.sort(key=lambda r: r["step"])
        return out

    def dispatch_sites(self) -> list[str]:
        """Every site with a dispatch row, sorted."""
        return sorted({site for _, (site,) in self._all("SELECT DISTINCT site FROM dispatch")})

    def dispatch_rows(self) -> Iterator[tuple[int, str, float, float]]:
        """Each dispatch row as ``(step, site, power_kw, reserve_kw)``, shard by shard in
        the order written, one at a time (a year of 1,000 sites is 35 million rows)."""
        for _, row in self._all("SELECT step, site, power_kw, reserve_kw FROM dispatch"):
            yield row

    def dispatch(self) -> list[dict[str, Any]]:
        """Each site's awarded power and reserve per step."""
        cols = ("step", "sim_time", "site", "power_kw", "reserve_kw", "cost_eur")
        out = [dict(zip(cols, row)) for _, row in
               self._all(f"SELECT {', '.join(cols)} FROM dispatch")]
        out.sort(key=lambda r: (r["step"], r["site"]))
        return out

    def message_counts(self, step: int | None = None) -> dict[tuple[str, str], int]:
        """How many events of each (kind, direction), those recorded as rows and those a
        trace level counted only (:meth:`unrecorded_counts`); drops are keyed by their
        reason. ``step``: only that step's negotiation (its conversations)."""
        conv = None if step is None else f"/{step}"
        counts = self.unrecorded_counts(step)
        for _, raw in self._chunk_rows():
            if conv is not None and not (raw[6] or "").endswith(conv):
                continue
            key = (raw[3] or (raw[10] or "?").split(":", 1)[0], raw[2])
            counts[key] = counts.get(key, 0) + 1
        return counts

    def unrecorded_counts(self, step: int | None = None) -> dict[tuple[str, str], int]:
        """The messages a trace level left out (``rounds``, ``sample:N``), counted per
        (kind, direction); of one step only with ``step``. Empty at level ``full``."""
        counts: dict[tuple[str, str], int] = {}
        sql = "SELECT conversation, kind, direction, SUM(count) FROM message_counts"
        sql += " GROUP BY conversation, kind, direction"
        conv = None if step is None else f"/{step}"
        for db in self._dbs.values():
            try:
                rows = db.execute(sql).fetchall()
            except sqlite3.OperationalError:  # a shard from before trace levels
                continue
            for conversation, kind, direction, n in rows:
                if conv is not None and not (conversation or "").endswith(conv):
                    continue
                counts[(kind, direction)] = counts.get((kind, direction), 0) + n
        return counts

    def level(self) -> dict[str, Any]:
        """The trace level the run was recorded at: ``level`` (``full``, ``rounds``,
        ``sample:N``; ``full`` for a trace from before levels), ``sites`` (the fleet's
        size, or None) and ``note``, what a reader says of the messages not recorded
        (None at ``full``)."""
        meta = self.meta()
        text = meta.get("trace_level") or "full"
        sites = meta.get("trace_sites")
        return {"level": text, "sites": sites, "note": level_note(text, sites)}

    def _chunk_rows(self) -> Iterator[tuple[str, list]]:
        """(host, raw message row) for every row of every readable chunk, in write order."""
        for host, _, rows in self.message_chunks():
            yield from ((host, raw) for raw in rows)

    def message_chunks(self, after: dict[str, int] | None = None,
                       only: dict[str, list[int]] | None = None,
                       ) -> Iterator[tuple[str, int, list[list]]]:
        """Message rows chunk by chunk: (host, chunk id, raw rows in :data:`MESSAGE_FIELDS`
        order), each shard's chunks in write order. ``after`` skips a host's chunks up to
        and including the id given (to follow a live run); ``only`` reads just the chunk ids
        listed per host (other hosts are skipped). A chunk that cannot be read is skipped,
        counted in :attr:`unreadable_chunks` and logged."""
        for host, db in self._dbs.items():
            if only is not None:
                ids = sorted(only.get(host, ()))
                if not ids:
                    continue
                sql = (f"SELECT chunk, encoding, data FROM message_chunks WHERE chunk IN "
                       f"({', '.join('?' * len(ids))}) ORDER BY chunk")
                args: tuple = tuple(ids)
            else:
                sql = ("SELECT chunk, encoding, data FROM message_chunks WHERE chunk > ? "
                       "ORDER BY chunk")
                args = ((after or {}).get(host, -1),)
            for chunk, encoding, data in db.execute(sql, args):
                if encoding != CHUNK_ENCODING:
                    raise TraceError(f"{host}: message chunks encoded as {encoding!r}, this "
                                     f"reader knows {CHUNK_ENCODING!r}")
                try:
                    rows = _chunk_decoder.decode(zlib.decompress(data))
                except (zlib.error, *DECODE_ERRORS) as exc:
                    self.unreadable_chunks += 1
                    log.warning("%s: message chunk %d of the trace cannot be read (%s); "
                                "skipped", host, chunk, type(exc).__name__)
                    continue
                yield host, chunk, rows
