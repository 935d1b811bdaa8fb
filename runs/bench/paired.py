"""Paired, interleaved measurements: how benchmarks compare two configurations.

A benchmark that reports a ratio between two configurations (metrics on against off, the
swarm against a direct allocation, ADMM against a central solve, ...) measures them in
pairs, one right after the other, alternating which goes first (A B, B A, A B, ...), and
reports the median of the pairs' ratios with their spread (the interquartile range, and
the lowest and highest). A machine that gets busier or quieter during the run then moves
both sides of a pair alike, and one noisy pair moves the median little; comparing the
median of all A runs with the median of all B runs, measured in blocks, does neither.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """The two sides of ``len(first)`` pairs (``first[i]`` with ``second[i]``) and each
    pair's ratio ``first[i] / second[i]``."""

    first: list[float]
    second: list[float]

    @property
    def ratios(self) -> list[float]:
        """Each pair's ``first / second``."""
        return [a / b for a, b in zip(self.first, self.second)]

    def summary(self, name: str, digits: int = 3, scale: float = 1.0,
                offset: float = 0.0) -> dict:
        """``{name}_median``, ``{name}_iqr`` ([25th, 75th percentile]), ``{name}_min``,
        ``{name}_max`` of ``offset + scale * ratio`` over the pairs, and ``{name}_pairs``
        (e.g. ``scale=-100, offset=100`` turns a throughput ratio on/off into the percent
        lost)."""
        values = [offset + scale * r for r in self.ratios]
        return {f"{name}_median": round(statistics.median(values), digits),
                f"{name}_iqr": [round(q, digits) for q in quartiles(values)],
                f"{name}_min": round(min(values), digits),
                f"{name}_max": round(max(values), digits),
                f"{name}_pairs": len(values)}


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """The 25th and 75th percentiles of ``values`` (linear between order statistics; one
    value is its own quartiles)."""
    if len(values) == 1:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def interleave(first: Callable[[], float], second: Callable[[], float], pairs: int,
               ) -> Paired:
    """Measure ``pairs`` pairs: ``first()`` then ``second()``, then ``second()`` then
    ``first()``, and so on; each call returns its measurement (seconds, a rate, ...)."""
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    a, b = [], []
    for i in range(pairs):
        if i % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    return Paired(a, b)
