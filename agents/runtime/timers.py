"""Timers for a host's agents (negotiation deadlines, heartbeats), on a clock of their own.

A :class:`TimerQueue` is a heap of :class:`Timer` s ordered by when they are due, on one
clock: wall time (``time.monotonic``, the default) or a
:class:`~vpp.agents.runtime.clock.SimulatedClock` (a one-process simulated run, whose
deadlines are simulated time: see :class:`~vpp.agents.runtime.loop.EventLoop` and
``docs/runtime.md``, Time). The event loop asks the queue how long it may sleep
(:meth:`TimerQueue.next_in`) or, on simulated time, when the next timer is due
(:meth:`TimerQueue.next_due`), and runs what is due (:meth:`TimerQueue.run_due`).
Cancelling a timer only marks it: it is skipped when popped.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vpp.agents.runtime.clock import Clock, SimulatedClock


@dataclass(order=True)
class Timer:
    """A call scheduled by :meth:`Host.call_later`; cancel it at will.

    Attributes:
        due: when it is due, in its queue's clock (monotonic wall seconds, or simulated
            seconds since the run's start).
    """

    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class TimerQueue:
    """The timers of one host on one clock, earliest first (ties in the order scheduled).

    Args:
        clock: the clock the timers are due on; None: wall time (``time.monotonic``).
            With a :class:`SimulatedClock` a timer ``delay_s`` ahead is due at
            ``clock.now() + delay_s`` simulated seconds, and only a driver that moves the
            clock (the event loop, or the run's step) makes it due.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self._now: Callable[[], float] = time.monotonic if clock is None else clock.now
        self._heap: list[Timer] = []
        self._seq = 0

    @property
    def simulated(self) -> bool:
        """True when the timers are due on simulated time."""
        return isinstance(self.clock, SimulatedClock)

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once ``delay_s`` seconds of this queue's clock have passed
        (a negative delay is due at once; ``math.inf``: never, unless cancelled first)."""
        if math.isnan(delay_s):
            raise ValueError("a timer's delay must be a number of seconds, got NaN")
        timer = Timer(self._now() + max(delay_s, 0.0), self._seq, callback)
        self._seq += 1
        heapq.heappush(self._heap, timer)
        return timer

    def next_due(self) -> float | None:
        """When the next live timer is due (this queue's clock), or None."""
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        return heap[0].due if heap else None

    def next_in(self) -> float | None:
        """Seconds of this queue's clock until the next live timer (0 when one is due),
        or None."""
        due = self.next_due()
        return None if due is None else max(due - self._now(), 0.0)

    def run_due(self) -> int:
        """Run every timer due now, in order; return how many ran. A timer that a
        callback schedules waits for the next call, even when it is due at once (so that
        what the callback sent is delivered first)."""
        heap = self._heap
        now = self._now()
        if not heap or heap[0].due > now:
            return 0  # (most passes of an event loop: nothing due, nothing built)
        ran = 0
        before = self._seq
        later: list[Timer] = []
        while heap and heap[0].due <= now:
            timer = heapq.heappop(heap)
            if timer.seq >= before:
                later.append(timer)
            elif not timer.cancelled:
                timer.callback()
                ran += 1
        for timer in later:
            heapq.heappush(heap, timer)
        return ran

    def __len__(self) -> int:
        """Timers scheduled and not yet run (cancelled ones included until popped)."""
        return len(self._heap)


class HostTimers:
    """A host's timers: deadlines on the host's timer clock, housekeeping on wall time.

    Args:
        clock: the deadlines' clock (None: wall time). With a :class:`SimulatedClock`
            the housekeeping timers (:meth:`later_wall`) get a wall-time queue of their
            own; otherwise both share one.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.deadlines = TimerQueue(clock)
        self.wall = TimerQueue() if self.deadlines.simulated else self.deadlines

    @property
    def simulated_clock(self) -> SimulatedClock | None:
        """The simulated clock the deadlines run on, or None (wall deadlines)."""
        clock = self.deadlines.clock
        return clock if isinstance(clock, SimulatedClock) else None

    def later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """A deadline ``delay_s`` seconds ahead on the timer clock."""
        return self.deadlines.schedule(delay_s, callback)

    def later_wall(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """A timer ``delay_s`` wall seconds ahead, whatever the timer clock."""
        return self.wall.schedule(delay_s, callback)

    def next_in(self) -> float | None:
        """Wall seconds an event loop may sleep before one of these timers is due, or
        None: the next wall timer's, or 0 when a simulated deadline is due at the present
        simulated instant (a later one waits for the loop to move the clock)."""
        wall = self.wall.next_in()
        if self.wall is self.deadlines or wall == 0.0:
            return wall
        return 0.0 if self.deadlines.next_in() == 0.0 else wall

    def next_simulated_due(self) -> float | None:
        """The simulated instant the next deadline is due, or None (none, or the deadlines
        are on wall time)."""
        return None if self.wall is self.deadlines else self.deadlines.next_due()

    def run_due(self) -> int:
        """Run every due timer (wall, then simulated); return how many ran."""
        ran = self.wall.run_due()
        if self.wall is not self.deadlines:
            ran += self.deadlines.run_due()
        return ran
