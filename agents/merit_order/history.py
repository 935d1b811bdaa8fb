"""What a merit-order aggregator keeps of its steps: the outcomes, whole or a window of
the last ones, and the running totals of all of them.

A step's outcome holds a few dicts of per-site figures (power, reserve, cost): about
150 KB a step for 1,000 sites, 5 GB over a 15-minute year. A run of many steps keeps
only the last outcomes (:class:`OutcomeHistory` with a ``window``); the totals a summary
needs are summed as the steps go (:class:`OutcomeTotals`), in the order and with the
arithmetic of Python's ``sum`` over the whole list, so that they are the same numbers to
the last bit (``docs/architecture.md``, the run record).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

from vpp.coordination.merit_order.auction import StepOutcome

_COMPENSATED = sys.version_info >= (3, 12)   # sum() of floats is Neumaier's from 3.12


class RunningSum:
    """A sum of floats added one at a time that equals ``sum()`` of them all.

    Python's ``sum`` adds floats left to right; from 3.12 it carries a Neumaier
    compensation and adds it at the end. This does the same, so a total kept as the
    steps go is the total ``sum`` gives over the list of every step's figure.
    """

    __slots__ = ("_compensation", "_empty", "_sum")

    def __init__(self) -> None:
        self._sum = 0.0
        self._compensation = 0.0
        self._empty = True

    def add(self, x: float) -> None:
        """Add ``x`` (a float)."""
        x = float(x)
        self._empty = False
        if _COMPENSATED:
            s = self._sum
            t = s + x
            if abs(s) >= abs(x):
                self._compensation += (s - t) + x
            else:
                self._compensation += (x - t) + s
            self._sum = t
        else:
            self._sum += x

    @property
    def value(self) -> float:
        """The sum so far (``0`` before anything was added, as ``sum([])``)."""
        if self._empty:
            return 0
        c = self._compensation
        return self._sum + c if c and c - c == 0.0 else self._sum  # (c finite, as sum())


class OutcomeTotals:
    """The running totals of a merit-order run's step outcomes (every step's, whatever
    the history keeps): the energy, cost and negotiation totals of its summary."""

    def __init__(self) -> None:
        self.steps = 0
        self.target_kw = RunningSum()      # of |target|
        self.served_kw = RunningSum()      # of |served|
        self.unserved_kw = RunningSum()
        self.reserve_shortfall_kw = RunningSum()
        self.cost_eur = RunningSum()
        self.steps_with_unserved = 0
        self.declines = 0
        self.rounds = 0

    def add(self, o: StepOutcome) -> None:
        """Count one step's outcome."""
        self.steps += 1
        self.target_kw.add(abs(o.target_kw))
        self.served_kw.add(abs(o.served_kw))
        self.unserved_kw.add(o.unserved_kw)
        self.reserve_shortfall_kw.add(o.reserve_target_kw - o.reserve_served_kw)
        self.cost_eur.add(o.cost_eur)
        self.steps_with_unserved += o.unserved_kw > 0
        self.declines += len(o.declined)
        self.rounds += o.rounds

    def summary(self, dt_h: float) -> dict[str, Any]:
        """The totals as a run's summary has them (energies in kWh over steps of
        ``dt_h`` hours)."""
        return {
            "target_kwh": self.target_kw.value * dt_h,
            "served_kwh": self.served_kw.value * dt_h,
            "unserved_kwh": self.unserved_kw.value * dt_h,
            "steps_with_unserved": self.steps_with_unserved,
            "reserve_shortfall_kwh": self.reserve_shortfall_kw.value * dt_h,
            "cost_eur": self.cost_eur.value,
            "declines": self.declines,
            "rounds": self.rounds,
        }


class OutcomeHistory:
    """The outcomes an aggregator keeps, oldest first, with the totals of all of them.

    Without a ``window`` every outcome is kept (``outcomes`` is a list: index it by
    step, slice it). With one, only the last ``window`` (``outcomes`` is a
    ``deque``: the last is ``[-1]``; ``first_step`` is the step of ``[0]``) and
    ``dropped`` says how many went; ``totals`` counts every step either way.
    """

    def __init__(self, window: int | None = None) -> None:
        if window is not None and window < 1:
            raise ValueError(f"an outcome window of {window} steps: expected at least 1")
        self.window = window
        self.outcomes: list[StepOutcome] | deque[StepOutcome] = (
            [] if window is None else deque(maxlen=window))
        self.totals = OutcomeTotals()

    def append(self, outcome: StepOutcome) -> None:
        """Keep ``outcome`` (the oldest goes past the window) and count it."""
        self.outcomes.append(outcome)
        self.totals.add(outcome)

    @property
    def dropped(self) -> int:
        """How many outcomes are no longer kept."""
        return self.totals.steps - len(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    def __iter__(self) -> Iterator[StepOutcome]:
        return iter(self.outcomes)
