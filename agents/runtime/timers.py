"""Wall-clock timers for a host's agents (negotiation deadlines, heartbeats).

A :class:`TimerQueue` is a heap of :class:`Timer` s ordered by when they are due; the event
loop asks it how long it may sleep (:meth:`TimerQueue.next_in`) and runs what is due
(:meth:`TimerQueue.run_due`). Cancelling a timer only marks it: it is skipped when popped.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class Timer:
    """A call scheduled on the wall clock by :meth:`Host.call_later`; cancel it at will."""

    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True


class TimerQueue:
    """The timers of one host, earliest first (ties in the order they were scheduled)."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once ``delay_s`` wall seconds have passed."""
        timer = Timer(time.monotonic() + delay_s, next(self._seq), callback)
        heapq.heappush(self._heap, timer)
        return timer

    def next_in(self) -> float | None:
        """Seconds until the next live timer, or None."""
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)
        if not heap:
            return None
        return max(heap[0].due - time.monotonic(), 0.0)

    def run_due(self) -> int:
        """Run every due timer; return how many ran."""
        ran = 0
        now = time.monotonic()
        heap = self._heap
        while heap and heap[0].due <= now:
            timer = heapq.heappop(heap)
            if not timer.cancelled:
                timer.callback()
                ran += 1
        return ran
