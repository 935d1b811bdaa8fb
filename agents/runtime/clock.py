"""Time for agents: one protocol, a simulated and a wall-clock implementation.

Agent code never reads ``time.time()``: it asks its host's clock. A simulated clock is
moved by whoever drives the run (the swarm's ``mesa.Model``), so a run is reproducible;
a wall clock follows real time for live, distributed operation.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What agents may ask about time."""

    def now(self) -> float:
        """Seconds since the run's start."""
        ...

    def datetime(self) -> datetime:
        """The current instant as an aware UTC ``datetime``."""
        ...


class SimulatedClock:
    """A clock that only moves when told to.

    Args:
        start: the instant that simulated time 0 stands for (UTC).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or datetime(2019, 1, 1, tzinfo=timezone.utc)
        self._now = 0.0

    def now(self) -> float:
        """Simulated seconds since ``start``."""
        return self._now

    def datetime(self) -> datetime:
        """``start`` plus the simulated seconds."""
        return self.start + timedelta(seconds=self._now)

    def advance_to(self, seconds: float) -> None:
        """Move to ``seconds``; simulated time never runs backwards."""
        if seconds < self._now:
            raise ValueError(f"simulated time cannot go back from {self._now} s to {seconds} s")
        self._now = float(seconds)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (>= 0)."""
        self.advance_to(self._now + seconds)


class WallClock:
    """Real time, measured from the moment the clock was made."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._start = datetime.now(timezone.utc)

    def now(self) -> float:
        """Seconds since the clock was made (monotonic)."""
        return time.monotonic() - self._t0

    def datetime(self) -> datetime:
        """The current UTC instant."""
        return self._start + timedelta(seconds=self.now())


def wall_ns() -> int:
    """Wall-clock nanoseconds since the epoch, for trace rows (never for decisions)."""
    return time.time_ns()
