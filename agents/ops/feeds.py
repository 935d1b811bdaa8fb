"""Live data feeds: one source interface, two sources, and the feed agent.

A *source* (:class:`FeedSource`) hands over the points due by a wall-clock offset; the
:class:`FeedAgent` polls it from a host timer and publishes each point as a
:class:`FeedValue` on its topic (``feed.prices``, ``feed.frequency``, ``feed.weather``),
so any agent that subscribes gets it, traced like every other message. A real exchange
or SCADA adapter is a new source class: nothing in the agents changes
(``docs/operations.md``).

- :class:`CsvReplaySource` replays a CSV column at wall-clock speed times ``speed``.
- :class:`ZmqPushSource` binds a ZeroMQ PULL socket; an external process pushes
  MessagePack-encoded :class:`FeedPoint`s; a malformed frame is counted by reason,
  logged as a count per interval and dropped (its size and nesting are bounded before it
  is decoded; at most ``RECEIVE_HWM`` wait, and one poll reads at most ``MAX_PER_POLL``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import msgspec
import zmq
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.codec import DecodeError, check_depth
from vpp.agents.runtime.host import RECEIVE_HWM
from vpp.agents.runtime.limits import DropLog
from vpp.physics.timeseries import SeriesMapping, ValueColumn

log = logging.getLogger(__name__)


class FeedPoint(msgspec.Struct, array_like=True, frozen=True):
    """One value of a series at a source time (ISO 8601 text, as the source says it)."""

    series: str
    time: str
    value: float


class FeedValue(msgspec.Struct, frozen=True):
    """Published on a feed's topic: the ``seq``-th point of the feed."""

    feed: str
    seq: int
    series: str
    time: str
    value: float


class FeedSource(Protocol):
    """Where a feed's values come from.

    :meth:`poll` is called from the feed agent's timer with the wall seconds since the
    feed started; it returns the points due by then, oldest first, and must not block.
    :meth:`next_due` says when to poll again (None: poll at the agent's period).
    """

    exhausted: bool
    """True once no point will ever come again (a replay that ended)."""

    def poll(self, elapsed_s: float) -> list[FeedPoint]:
        """The points due by ``elapsed_s`` not handed over yet."""
        ...

    def next_due(self) -> float | None:
        """The elapsed seconds at which the next point is due, if known."""
        ...

    def close(self) -> None:
        """Release what the source holds (files, sockets)."""
        ...


class CsvReplaySource:
    """A column of a time series replayed at wall-clock speed times ``speed``, read by the
    one time-series reader (:mod:`vpp.physics.timeseries`): a plain CSV by default, or any
    layout a ``mapping`` names (a market's export, Parquet, local times with DST).

    Args:
        path: the file (already confined by the caller, when it came from a peer).
        value_column: the value replayed (a column of a plain CSV, or a value of the
            mapping).
        time_column: ISO 8601 timestamps (times without an offset are UTC), increasing.
        series: the series' name in the points (default: ``value_column``).
        speed: 1 replays in real time; 3600 plays an hour a second.
        start, end: only rows whose time is within [start, end] (ISO; UTC when no offset).
        mapping: how to read the file, instead of a plain CSV (``path`` still says where).

    Each point's ``time`` is the row's time as the file writes it; rows without a value
    are skipped (a replay has no gaps to fill).

    Raises:
        ValueError: naming the file, the column or the line at fault.
    """

    def __init__(self, path: Path | str, value_column: str, *, time_column: str = "timestamp_utc",
                 series: str | None = None, speed: float = 1.0, start: str | None = None,
                 end: str | None = None, mapping: SeriesMapping | None = None) -> None:
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a number above 0, got {speed!r}")
        self.path = Path(path)
        self.series = series or value_column
        self.speed = float(speed)
        import numpy as np
        from vpp.physics.timeseries import read_series

        if mapping is None:
            mapping = SeriesMapping(file=str(path), time_column=time_column,
                                    values=[ValueColumn(column=value_column)], gaps="keep")
        data = read_series(mapping, self.path, keep_time_text=True)
        try:
            data = data.window(start, end)
        except ValueError as exc:
            raise ValueError(f"{self.path}: start/end: {exc}") from None
        values = data.column(value_column)
        keep = np.isfinite(values)
        if not keep.any():
            raise ValueError(f"{self.path}: no rows of {value_column!r} in the window")
        seconds = data.times.asi8[keep] / 1e9
        texts = [t for t, k in zip(data.time_text, keep) if k]
        self.due = [(t - seconds[0]) / self.speed for t in seconds.tolist()]
        self.points = [FeedPoint(self.series, text, float(v))
                       for text, v in zip(texts, values[keep].tolist())]
        self._next = 0
        self.exhausted = False

    def poll(self, elapsed_s: float) -> list[FeedPoint]:
        """The rows due by ``elapsed_s`` (at ``(t - t_first) / speed``)."""
        start = self._next
        while self._next < len(self.points) and self.due[self._next] <= elapsed_s:
            self._next += 1
        self.exhausted = self._next == len(self.points)
        return self.points[start:self._next]

    def next_due(self) -> float | None:
        """When the next row is due."""
        return self.due[self._next] if self._next < len(self.due) else None

    def close(self) -> None:
        """Nothing to release."""


MAX_PER_POLL = 1000
"""The most messages one poll of a :class:`ZmqPushSource` reads (the rest wait for the
next poll: a flood cannot hold the host's loop)."""


class ZmqPushSource:
    """Values pushed by an external process: a PULL socket bound at ``endpoint``; each
    ZeroMQ message is one MessagePack-encoded :class:`FeedPoint` (an array
    ``[series, time, value]``). A malformed message is counted in ``dropped`` (and by
    reason in ``dropped_by_reason``: ``malformed-frames``, ``too-deep``, ``malformed``,
    ``not-finite``) and logged as one line per reason per second.

    Args:
        endpoint: where to bind (``tcp://127.0.0.1:*`` picks a port: see ``endpoint``).
        context: the ZeroMQ context.
        max_bytes: a longer message is dropped (by ZeroMQ, which closes that connection).
    """

    def __init__(self, endpoint: str, context: zmq.Context | None = None,
                 max_bytes: int = 4096) -> None:
        self.context = context or zmq.Context.instance()
        self.socket = self.context.socket(zmq.PULL)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, max_bytes)
        self.socket.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        self.socket.bind(endpoint)
        self.endpoint = self.socket.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._decoder = msgspec.msgpack.Decoder(FeedPoint)
        self.dropped = 0
        self.dropped_by_reason: Counter[str] = Counter()
        self.drops = DropLog(f"feed at {self.endpoint}", log, noun="pushed message(s)")
        self.exhausted = False

    def poll(self, elapsed_s: float) -> list[FeedPoint]:
        """The points pushed since the last poll (at most ``MAX_PER_POLL``), in arrival
        order."""
        out = []
        for _ in range(MAX_PER_POLL):
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            point = self._decode(frames)
            if point is not None:
                out.append(point)
        self.drops.maybe_flush()
        return out

    def _decode(self, frames: list[bytes]) -> FeedPoint | None:
        """The point in one pushed message, or None (counted and logged) when it is not."""
        try:
            if len(frames) != 1:
                return self._drop("malformed-frames", f"{len(frames)} frames, expected 1")
            check_depth(frames[0])
            point = self._decoder.decode(frames[0])
        except DecodeError as exc:  # ours: too deep
            return self._drop(exc.reason, exc.detail)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # a ValidationError too
            return self._drop("malformed", str(exc))
        if not math.isfinite(point.value):
            return self._drop("not-finite", f"value {point.value!r} is not finite")
        return point

    def _drop(self, reason: str, detail: str) -> None:
        self.dropped += 1
        self.dropped_by_reason[reason] += 1
        self.drops.note(reason, f"{reason}: {detail}", None)

    def next_due(self) -> float | None:
        """Unknown: pushes come when they come."""
        return None

    def close(self) -> None:
        """Close the socket (and log the drops not logged yet)."""
        self.drops.flush()
        self.socket.close(linger=0)


class FeedAgent(Agent):
    """Publishes a source's points on ``topic`` as :class:`FeedValue`, in order.

    Args:
        name: the agent's (and the feed's) name.
        source: any :class:`FeedSource`.
        topic: where to publish (``feed.prices``...); the host needs a PUB endpoint.
        period_s: the longest wait between polls.
    """

    role = "feed"

    def __init__(self, name: str, source: FeedSource, topic: str, *,
                 period_s: float = 0.01) -> None:
        super().__init__(name)
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"period_s must be above 0, got {period_s!r}")
        self.source = source
        self.topic = topic
        self.period_s = period_s
        self.seq = 0
        self.started_at: float | None = None
        self._timer = None

    def start(self) -> None:
        """Start the feed now (elapsed time counts from here)."""
        self.started_at = time.monotonic()
        self._timer = self.host.call_later(0.0, self._tick)

    @property
    def done(self) -> bool:
        """True once the source is exhausted and everything was published."""
        return self.source.exhausted

    def _tick(self) -> None:
        elapsed = time.monotonic() - self.started_at
        for point in self.source.poll(elapsed):
            self.publish(self.topic, FeedValue(self.name, self.seq, point.series,
                                               point.time, point.value),
                         conversation=f"feed/{self.name}", round=self.seq)
            self.seq += 1
        if self.source.exhausted:
            self._timer = None
            return
        due = self.source.next_due()
        wait = self.period_s if due is None else min(max(due - elapsed, 0.0), self.period_s)
        self._timer = self.host.call_later(wait, self._tick)

    def stop(self) -> None:
        """Stop polling and close the source."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.source.close()


FEED_KINDS: Sequence[type[msgspec.Struct]] = (FeedValue,)
