"""Trace levels: how much of a run's traffic the trace keeps (``--trace full|rounds|sample:N``).

- ``full``: every message sent, received or dropped, with its body (the default up to a
  size: :func:`vpp.runs.record.trace_level.choose_level`);
- ``rounds``: no message rows; every ``rounds``, ``steps`` and ``dispatch`` row, and the
  messages that were not recorded counted per round, kind and direction (the
  ``message_counts`` table), so the counts a reader shows stay right;
- ``sample:N``: every message to or from N sites chosen from the fleet and the run's seed
  (:func:`sample_sites`: evenly spaced in fleet order, the offset drawn from the seed),
  every message that is about no site (the aggregator's own, the coordinator's, a
  broadcast as sent), the round and step rows, and the rest counted as under ``rounds``.

Dropped frames are recorded at every level (they are few, and what one looks for). See
``docs/runtime.md`` ("Trace levels").
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

LEVELS = ("full", "rounds", "sample:N")
"""The levels, as the command line spells them."""


@dataclass(frozen=True)
class TraceLevel:
    """A trace level: ``kind`` (``full``, ``rounds``, ``sample``) and, for ``sample``,
    ``n`` the number of sites whose messages are kept."""

    kind: str
    n: int = 0

    @property
    def text(self) -> str:
        """The level as the command line and the manifest spell it (``sample:10``)."""
        return f"sample:{self.n}" if self.kind == "sample" else self.kind

    def __str__(self) -> str:
        return self.text


FULL = TraceLevel("full")
ROUNDS = TraceLevel("rounds")


def parse_level(text: str | TraceLevel) -> TraceLevel:
    """The level ``text`` names; :class:`ValueError` saying what is expected otherwise
    (``sample:0``, ``sample:x``, ``foo``)."""
    if isinstance(text, TraceLevel):
        return text
    value = str(text).strip().lower()
    if value in ("full", "rounds"):
        return TraceLevel(value)
    if value.startswith("sample:"):
        count = value.partition(":")[2]
        if count.isdigit() and int(count) >= 1:
            return TraceLevel("sample", int(count))
        raise ValueError(f"sample:N takes a whole number of sites N >= 1, got {text!r}")
    raise ValueError(f"expected one of {', '.join(LEVELS)}, got {text!r}")


def sample_sites(names: Sequence[str], n: int, seed: int) -> list[str]:
    """The ``n`` sites of ``names`` (the fleet, in scenario order) whose messages a
    ``sample:n`` trace keeps: evenly spaced in fleet order (every ``len/n``-th), starting
    at an offset within the first stride drawn from ``seed``; every site when ``n`` is at
    least the fleet's size. The same fleet and seed give the same sites in every
    process."""
    m = len(names)
    if n >= m:
        return list(names)
    frac = random.Random(f"vpp-trace-sample-{seed}").random()
    return [names[int((i + frac) * m / n)] for i in range(n)]


class SampleFilter:
    """Which messages a ``sample:N`` trace leaves out: those to or from an agent of a site
    not in the sample (an address ``host/site``).

    Args:
        sites: the fleet, in scenario order.
        n: the sites sampled.
        seed: the run's seed.
    """

    MAX_CACHED = 1_000_000
    """Addresses whose answer is kept (a peer may name many)."""

    def __init__(self, sites: Sequence[str], n: int, seed: int) -> None:
        self.sampled = sample_sites(sites, n, seed)
        self._left_out = frozenset(sites) - frozenset(self.sampled)
        self._cache: dict[str, bool] = {}

    def _out(self, address: str | None) -> bool:
        if address is None:
            return False
        out = self._cache.get(address)
        if out is None:
            out = address.rpartition("/")[2] in self._left_out
            if len(self._cache) < self.MAX_CACHED:
                self._cache[address] = out
        return out

    def leaves_out(self, sender: str | None, receiver: str | None) -> bool:
        """Whether a message from ``sender`` to ``receiver`` is left out."""
        return self._out(sender) or self._out(receiver)
