"""Everything the explorer reads from a run directory, and nothing else does.

A run directory today holds some of: ``summary.json``, ``steps.csv``, ``sites.csv``,
``metrics.json``, the SQLite trace shards under ``trace/`` (read through
:class:`vpp.agents.runtime.trace_reader.TraceReader`, read-only), and the outputs of a grid event
(``timeline.csv``), a Volt-VAR study (``voltage.csv``, ``inverters.csv``) or a backtest
(``equity.csv``, ``trades.csv``, ``rejections.csv``). When the run record changes shape,
this module is the one to change: the views and the server only see what it returns.

Every value handed out is plain data (dicts, lists, numbers, strings); non-finite numbers
read from ``summary.json`` become ``None``.
"""

from __future__ import annotations

import csv
import functools
import json
import math
import threading
import zlib
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from vpp.agents.runtime.trace import MESSAGE_FIELDS
from vpp.agents.runtime.trace_reader import (
    MessageRow,
    TraceError,
    TraceReader,
)

CSV_FILES = ("steps.csv", "timeline.csv", "voltage.csv", "inverters.csv", "equity.csv",
             "trades.csv", "rejections.csv")
"""The tables a run may hold beside its summary, read by :meth:`RunRecord.table`."""

MAX_CSV_BYTES = 64 * 1024 * 1024
"""A table larger than this is refused (a run directory is data a user was handed)."""

MAX_SUMMARY_BYTES = 16 * 1024 * 1024


class RecordError(ValueError):
    """A directory that is not a run, or a run file that cannot be read."""


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` looks like a run directory (a trace or a ``summary.json``)."""
    return path.is_dir() and ((path / "trace").is_dir() or (path / "summary.json").is_file())


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@functools.lru_cache(maxsize=65536)
def step_of(conversation: str | None) -> int | None:
    """The step a conversation belongs to (``merit-order/5`` -> 5), as ``vpp trace
    messages --step`` reads it; None when the conversation names no step."""
    if not conversation:
        return None
    _, sep, tail = conversation.rpartition("/")
    return int(tail) if sep and tail.isdigit() else None


def clock_text(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DD HH:MM:SS`` in UTC (a naive time is taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class _StepIndex:
    """Which message chunks of which shard hold each step's messages; built by one pass
    over the chunks, then extended with the chunks written since (a live run)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last: dict[str, int] = {}
        self.chunks: dict[int, dict[str, set[int]]] = {}
        self.events: dict[int, int] = {}

    def update(self, reader: TraceReader) -> None:
        conv_at = _FIELD["conversation"]
        for host, chunk, rows in reader.message_chunks(after=self.last):
            self.last[host] = chunk
            for conversation, n in Counter(raw[conv_at] for raw in rows).items():
                step = step_of(conversation)
                if step is None:
                    continue
                self.chunks.setdefault(step, {}).setdefault(host, set()).add(chunk)
                self.events[step] = self.events.get(step, 0) + n


_FIELD = {name: i for i, name in enumerate(MESSAGE_FIELDS)}
_KIND, _WALL_NS = _FIELD["kind"], _FIELD["wall_ns"]


class RunRecord:
    """One run directory, read-only.

    Args:
        path: the run directory.
        name: the name it is shown and addressed by (default: its folder's name).

    Raises:
        RecordError: when ``path`` is not a run directory.
    """

    def __init__(self, path: Path | str, name: str | None = None) -> None:
        self.path = Path(path)
        if not is_run_dir(self.path):
            raise RecordError(f"{self.path} is not a run directory (no trace/, no summary.json)")
        self.name = name or self.path.name
        self._index = _StepIndex()

    # -- what is there ----------------------------------------------------------------
    @property
    def has_trace(self) -> bool:
        """Whether the run holds trace shards."""
        return any((self.path / "trace").glob("*.sqlite"))

    def version(self) -> str:
        """A stamp that changes whenever any file of the run changes (size or time; not
        SQLite's ``-shm`` files, which readers touch too)."""
        parts = []
        for folder in (self.path, self.path / "trace"):
            if not folder.is_dir():
                continue
            for f in sorted(folder.iterdir()):
                if f.is_file() and not f.name.endswith("-shm"):
                    st = f.stat()
                    parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
        return f"{zlib.crc32('|'.join(parts).encode()):08x}"

    def modified(self) -> datetime:
        """When the run was last written (its newest file)."""
        times = [f.stat().st_mtime for folder in (self.path, self.path / "trace")
                 if folder.is_dir() for f in folder.iterdir()
                 if f.is_file() and not f.name.endswith("-shm")]
        return datetime.fromtimestamp(max(times) if times else self.path.stat().st_mtime)

    def has(self, name: str) -> bool:
        """Whether the run holds the file ``name`` (one of :data:`CSV_FILES` or
        ``summary.json``)."""
        if name not in (*CSV_FILES, "summary.json"):
            raise RecordError(f"unknown run file {name!r}")
        return (self.path / name).is_file()

    def summary(self) -> dict[str, Any]:
        """``summary.json`` (empty while a run has not written it yet)."""
        path = self.path / "summary.json"
        if not path.is_file():
            return {}
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            raise RecordError(f"{path}: larger than {MAX_SUMMARY_BYTES} bytes")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path}: not readable JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise RecordError(f"{path}: expected a JSON object")
        return _finite(data)

    def table(self, name: str) -> list[dict[str, str]]:
        """One of :data:`CSV_FILES` as rows of strings; empty when the run has none."""
        if name not in CSV_FILES:
            raise RecordError(f"unknown run table {name!r}")
        path = self.path / name
        if not path.is_file():
            return []
        if path.stat().st_size > MAX_CSV_BYTES:
            raise RecordError(f"{path}: larger than {MAX_CSV_BYTES} bytes")
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    # -- the trace --------------------------------------------------------------------
    @contextmanager
    def reader(self) -> Iterator[TraceReader]:
        """The run's trace, opened read-only for one use (connections are per thread)."""
        try:
            reader = TraceReader(self.path)
        except TraceError as exc:
            raise RecordError(str(exc)) from exc
        try:
            yield reader
        finally:
            reader.close()

    def meta(self) -> dict[str, Any]:
        """The trace's run facts (scenario, seed, start, step_minutes, ...); {} without."""
        if not self.has_trace:
            return {}
        with self.reader() as r:
            return r.meta()

    def clock(self, meta: dict[str, Any] | None = None) -> tuple[datetime | None, float]:
        """The run's start and its step length in minutes (from the trace's meta rows);
        the start is None when the trace does not say."""
        meta = self.meta() if meta is None else meta
        minutes = float(meta.get("step_minutes") or 15)
        start = meta.get("start")
        try:
            return (datetime.fromisoformat(start) if isinstance(start, str) else None), minutes
        except ValueError:
            return None, minutes

    def step_times(self, steps: list[int], meta: dict[str, Any] | None = None) -> list[str]:
        """Each step's clock time (ISO 8601), or its hours from the start as text when the
        run has no start."""
        start, minutes = self.clock(meta)
        if start is None:
            return [f"{k * minutes / 60:g} h" for k in steps]
        return [clock_text(start + timedelta(minutes=k * minutes)) for k in steps]

    def steps(self) -> list[dict[str, Any]]:
        """One row per simulated step (trace)."""
        if not self.has_trace:
            return []
        with self.reader() as r:
            return r.steps()

    def dispatch_matrix(self, steps: Sequence[int]) -> tuple[list[str], Any, Any]:
        """Each site's power and reserve over ``steps`` as two arrays (a row a site, a
        column a step; 0 where a site has no row), read row by row: a year of 1,000 sites
        is 35 million rows, too many for a dict each (``TraceReader.dispatch``). Returns the sites with a row
        in one of ``steps`` (sorted) and the two arrays."""
        import numpy as np

        if not self.has_trace:
            return [], np.zeros((0, len(steps))), np.zeros((0, len(steps)))
        column = {k: i for i, k in enumerate(steps)}
        with self.reader() as r:
            sites = r.dispatch_sites()
            row = {s: j for j, s in enumerate(sites)}
            power = np.zeros((len(sites), len(steps)))
            reserve = np.zeros((len(sites), len(steps)))
            seen = np.zeros(len(sites), dtype=bool)
            for step, site, p, q in r.dispatch_rows():
                i = column.get(step)
                if i is not None:
                    j = row[site]
                    power[j, i] = p
                    reserve[j, i] = q
                    seen[j] = True
        keep = np.flatnonzero(seen)
        return [sites[j] for j in keep.tolist()], power[keep], reserve[keep]

    def rounds(self, protocol: str | None = None) -> list[dict[str, Any]]:
        """Negotiation rounds (trace), optionally of one protocol only."""
        if not self.has_trace:
            return []
        with self.reader() as r:
            rows = r.rounds()
        return rows if protocol is None else [x for x in rows if x["protocol"] == protocol]

    def agents(self) -> list[dict[str, str]]:
        """Every traced agent: address, role, class."""
        if not self.has_trace:
            return []
        with self.reader() as r:
            return r.agents()

    def message_counts(self) -> dict[tuple[str, str], int]:
        """Events per (kind, direction) over the whole trace."""
        if not self.has_trace:
            return {}
        with self.reader() as r:
            return r.message_counts()

    def trace_level(self) -> dict[str, Any]:
        """The level the trace was recorded at: ``level``, ``sites`` (the fleet's size)
        and ``note`` (what it left out, e.g. ``sampled: 10 of 1000 sites``; None at
        ``full`` or without a trace)."""
        if not self.has_trace:
            return {"level": None, "sites": None, "note": None}
        with self.reader() as r:
            return r.level()

    def unrecorded(self, step: int) -> list[list[Any]]:
        """The messages of one step a trace level counted without recording them:
        ``[kind, direction, count]`` rows (none at ``full``)."""
        if not self.has_trace:
            return []
        with self.reader() as r:
            counts = r.unrecorded_counts(step)
        return [[k, d, n] for (k, d), n in sorted(counts.items(), key=str)]

    def messages(self, kind: str) -> list[MessageRow]:
        """Every event of one message kind (a pass over the whole trace)."""
        if not self.has_trace:
            return []
        with self.reader() as r:
            return r.messages(kind=kind)

    def step_numbers(self) -> dict[int, int]:
        """Steps whose conversations hold messages, with their event counts."""
        self._update_index()
        with self._index.lock:
            return dict(sorted(self._index.events.items()))

    def step_messages(self, step: int, kinds: Collection[str] | None = None,
                      limit: int | None = None) -> list[MessageRow]:
        """The events of one step's negotiation, oldest first: the same rows as
        ``vpp trace messages RUN --step STEP``, read from only the chunks that hold them;
        with ``kinds``, only the events of those message kinds, and with ``limit`` only the
        oldest ``limit`` of them (the others' bodies are not decoded: an ADMM step of
        4,000 sites holds 800,000 events)."""
        raws = [(raw[_WALL_NS], host, raw) for host, raw in self._step_raws(step)
                if kinds is None or raw[_KIND] in kinds]
        raws.sort(key=lambda t: t[0])
        return [MessageRow.from_raw(host, raw) for _, host, raw in raws[:limit]]

    def first_message(self, step: int, kind: str) -> MessageRow | None:
        """The oldest event of ``kind`` in one step's negotiation (None when there is
        none); only its body is decoded."""
        found = min(((raw[_WALL_NS], host, raw) for host, raw in self._step_raws(step)
                     if raw[_KIND] == kind), default=None, key=lambda t: t[0])
        if found is None:
            return None
        _, host, raw = found
        return MessageRow.from_raw(host, raw)

    def _step_raws(self, step: int) -> Iterator[tuple[str, Sequence[Any]]]:
        """Each raw message row of ``step`` with its host, from the chunks holding it."""
        self._update_index()
        with self._index.lock:
            only = {h: sorted(c) for h, c in self._index.chunks.get(step, {}).items()}
        if not only:
            return
        conv_at = _FIELD["conversation"]
        with self.reader() as r:
            for host, _, raws in r.message_chunks(only=only):
                for raw in raws:
                    if step_of(raw[conv_at]) == step:
                        yield host, raw

    def prepare(self) -> None:
        """Start building the step index in the background (a large run's first pass over
        its messages takes seconds): called when a run is opened, so that its steps are
        ready by the time one is asked for."""
        if self.has_trace and not self._index.last and not self._index.lock.locked():
            threading.Thread(target=self._update_index, name=f"index-{self.name}",
                             daemon=True).start()

    def _update_index(self) -> None:
        if not self.has_trace:
            return
        with self._index.lock, self.reader() as r:
            self._index.update(r)
