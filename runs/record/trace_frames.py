"""A run's trace as pandas DataFrames: negotiation rounds, and message events read page by
page (a large run's messages never have to fit in memory at once).

Both are indexed by simulated time (the run's start plus the trace's ``sim_time``, UTC) and
carry ``step``: the step during which the row happened, numbered from 0 as in
``steps.csv`` (the last step that starts at or before the row's simulated time). The trace
is read through :class:`vpp.agents.runtime.trace_reader.TraceReader` (every shard as one).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vpp.agents.runtime.trace_reader import TraceReader, decode_body

MESSAGE_COLUMNS = ("step", "wall_time", "host", "direction", "kind", "sender", "receiver",
                   "conversation", "round", "size", "body", "error")
"""The columns of :func:`message_pages`' frames, after the ``time`` index."""

_AFTER_ALL = 2 ** 62  # a chunk id past every real one: message_chunks skips that host


class StepClock:
    """Simulated seconds since the run's start -> the step (from 0) and the UTC instant.

    Args:
        start: the run's start (a tz-aware ``pandas.Timestamp``).
        step_offsets_s: each step's start, in seconds since ``start``, ascending.
    """

    def __init__(self, start: Any, step_offsets_s: Sequence[float]) -> None:
        self.start = start
        self.offsets = list(step_offsets_s)

    def step(self, sim_time: float | None) -> int | None:
        """The step during which ``sim_time`` falls (a microsecond of slack for rounding);
        None for a row without a simulated time."""
        if sim_time is None or not self.offsets:
            return None
        return max(0, bisect.bisect_right(self.offsets, sim_time + 1e-6) - 1)

    def times(self, sim_times: Sequence[float | None]):
        """The instants of ``sim_times`` (NaT where None), as a tz-aware index named
        ``time``."""
        import pandas as pd

        seconds = pd.to_numeric(pd.Series(list(sim_times), dtype="object"), errors="coerce")
        return pd.DatetimeIndex(self.start + pd.to_timedelta(seconds, unit="s"), name="time")


def rounds_frame(trace: TraceReader, clock: StepClock, step: int | None = None):
    """One row per negotiation round (every protocol's), oldest first: ``step``,
    ``conversation``, ``protocol``, ``round``, the round's values (target, served, price,
    residuals, step size, bids, awards, declines), ``detail`` (a dict) and ``host``; the
    trace's own step field is ``trace_step`` (a protocol's own numbering: a day-ahead
    auction's delivery hour, for one)."""
    import pandas as pd

    rows = trace.rounds()
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.rename(columns={"step": "trace_step"})
    frame.insert(0, "step", [clock.step(t) for t in frame["sim_time"]])
    frame.index = clock.times(frame["sim_time"])
    frame = frame.sort_values(["sim_time", "conversation", "round"], kind="stable")
    if step is not None:
        frame = frame[frame["step"] == step]
    return frame


def _agent_matches(agent: str) -> Callable[[str | None], bool]:
    """``agent`` is a whole address (``sites/hydro``) or an agent's name (``hydro``)."""
    def match(address: str | None) -> bool:
        return address is not None and (address == agent or
                                        address.partition("/")[2] == agent)
    return match


def _shard_rows(trace: TraceReader, host: str) -> Iterator[tuple[int, str, list]]:
    """(wall_ns, host, raw row) of one shard, in its write order."""
    after = {other: _AFTER_ALL for other in trace.shards if other != host}
    for _, _, rows in trace.message_chunks(after=after):
        for raw in rows:
            yield raw[0], host, raw


def message_pages(trace: TraceReader, clock: StepClock, *, agent: str | None = None,
                  kind: str | None = None, direction: str | None = None,
                  step: int | None = None, limit: int | None = None, offset: int = 0,
                  page_rows: int = 50_000, bodies: bool = True) -> Iterator[Any]:
    """Message events as DataFrames of at most ``page_rows`` rows, in the order they
    happened (the shards merged by wall clock), filtered by ``agent`` (a name or an
    address, as sender or receiver), ``kind``, ``direction`` (``send``, ``recv``,
    ``drop``) and ``step``; ``offset`` rows of the filtered stream are skipped and at most
    ``limit`` are given. Bodies are decoded (``bodies``) only for the rows kept.

    Columns: :data:`MESSAGE_COLUMNS`, indexed by ``time`` (simulated, UTC; NaT for a
    row without a simulated time). A page is read when asked for: reading stops at the
    page where ``limit`` is reached.
    """
    import pandas as pd

    if page_rows < 1:
        raise ValueError(f"page_rows: {page_rows} must be at least 1")
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("offset and limit must not be negative")
    matches = _agent_matches(agent) if agent is not None else None
    streams = [_shard_rows(trace, host) for host in trace.shards]
    skip, left = offset, limit
    page: list[tuple] = []
    sim_times: list[float | None] = []

    def frame():
        out = pd.DataFrame(page, columns=MESSAGE_COLUMNS)
        out["wall_time"] = pd.to_datetime(out["wall_time"], unit="ns", utc=True)
        out.index = clock.times(sim_times)
        return out

    if left == 0:
        return
    for wall_ns, host, raw in heapq.merge(*streams, key=lambda item: item[0]):
        (_, sim_time, direc, kind_, sender, receiver, conversation, round_, size, body,
         error) = raw
        if kind is not None and kind_ != kind:
            continue
        if direction is not None and direc != direction:
            continue
        if matches is not None and not (matches(sender) or matches(receiver)):
            continue
        at = clock.step(sim_time)
        if step is not None and at != step:
            continue
        if skip:
            skip -= 1
            continue
        page.append((at, wall_ns, host, direc, kind_, sender, receiver, conversation,
                     round_, size, decode_body(body) if bodies else None, error))
        sim_times.append(sim_time)
        if left is not None:
            left -= 1
        if len(page) >= page_rows or left == 0:
            yield frame()
            page, sim_times = [], []
            if left == 0:
                return
    if page:
        yield frame()
