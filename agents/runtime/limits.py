"""What a peer may make a host spend: a rate per peer, a bounded peer table, and drops
logged as counts per interval rather than one line each; the host's counters.

- :class:`RateLimiter`: a token bucket per peer, consulted by the host *before* it
  decodes a frame (a malformed frame costs its sender a token like any other), with at
  most ``max_peers`` buckets kept.
- :class:`DropLog`: the host's drops, counted by reason and logged as one line per reason
  per interval with the count and the top sources (a flood of 100,000 bad frames is a few
  lines, not 100,000); it also says how many drops of the interval the trace may still
  record one by one (:meth:`DropLog.note`), so that a flood cannot fill the disk.
- :class:`PeerLimiter`: what the host asks before delivering a peer's envelope (a
  :class:`RateLimiter` is one); :class:`HostStats`: frames sent, received, dropped.

See ``docs/runtime.md`` (Errors; Limits).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

RECEIVE_HWM = 1000
"""Messages (batches) queued for reading per connection, at most (ZeroMQ's ``RCVHWM``):
a peer's flood is held there, not in the host's memory (a healthy peer has a few)."""

SEND_HWM = 100
"""Messages (batches) queued for sending per connection, at most (``SNDHWM``): a peer that
does not read cannot make the host hold more; past it sends are dropped as
``unreachable`` (a PUB drops for that subscriber only). A healthy peer has one or two
batches a pass in flight; what a host sends is at most ``max_send_bytes`` a message."""

DEFAULT_MAX_PEERS = 4096
"""Per-peer tables (buckets, counters) keep at most this many peers."""

MAX_HOST_SITES = 100_000
"""The most sites one site (or region) process may claim in its registration, over all
of its parts (``Register.total``; see ``docs/protocols/distributed.md``)."""

SITES_PER_PEER_RATE = 100
"""Sites a peer's plain rate limit is meant for: a host admitted with more sites may send
``sites / SITES_PER_PEER_RATE`` times as much (its sites' bids come in one burst a round)."""

MAX_REGISTER_PARTS = 256
"""The most parts one registration may come in (``Register.parts``)."""

MAX_PENDING_JOINS = 64
"""The most registrations in parts a coordinator holds unfinished at once."""


def quote(text: str, limit: int = 80) -> str:
    """``text`` as a short, printable, quoted string (for logs and trace reasons: what a
    peer sent is never written out raw, nor at any length)."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else f"{shown}...({len(text)} chars)"


class RateLimiter:
    """A token bucket per peer: ``rate_per_s`` envelopes a second, bursts up to ``burst``.

    The table of peers is bounded: past ``max_peers`` the least recently seen peer's
    bucket is forgotten (a peer seen again starts with a full burst; a flood spread over
    more than ``max_peers`` connections is a denial of service that only authentication
    stops, see ``docs/protocols/distributed.md``).

    Args:
        rate_per_s: the sustained rate allowed to each peer.
        burst: the most envelopes a peer may send at once after a quiet spell.
        max_peers: the most peers whose buckets are kept.

    Attributes:
        limited: envelopes refused, by peer (at most ``max_peers`` peers named).
        limited_total: envelopes refused, whoever sent them.
    """

    def __init__(self, rate_per_s: float = 5000.0, burst: float = 10000.0,
                 max_peers: int = DEFAULT_MAX_PEERS) -> None:
        if not (rate_per_s > 0 and burst >= 1 and max_peers >= 1):
            raise ValueError(f"rate_per_s must be positive, burst >= 1 and max_peers >= 1, "
                             f"got {rate_per_s}, {burst} and {max_peers}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_peers = max_peers
        self.limited: Counter[str] = Counter()
        self.limited_total = 0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._weights: dict[str, float] = {}

    def weigh(self, peer: str, weight: float) -> None:
        """Give ``peer`` ``weight`` times the rate and the burst (1: the plain ones): what
        an admitted host serving many sites may send (at most ``max_peers`` weighed)."""
        if not weight >= 1.0:
            raise ValueError(f"weight must be >= 1, got {weight}")
        if weight == 1.0:
            self._weights.pop(peer, None)
        elif peer in self._weights or len(self._weights) < self.max_peers:
            self._weights[peer] = weight

    def weight(self, peer: str) -> float:
        """What :meth:`weigh` gave ``peer`` (1: the plain rate and burst)."""
        return self._weights.get(peer, 1.0)

    def allow(self, peer: str, now: float | None = None) -> bool:
        """Take one token from ``peer``'s bucket; False (and counted) when it is empty."""
        now = time.monotonic() if now is None else now
        buckets = self._buckets
        weight = self._weights.get(peer, 1.0)
        state = buckets.pop(peer, None)  # re-inserted below: the dict stays in LRU order
        if state is None:
            tokens = self.burst * weight
            if len(buckets) >= self.max_peers:
                del buckets[next(iter(buckets))]
        else:
            tokens, last = state
            tokens = min(self.burst * weight, tokens + (now - last) * self.rate_per_s * weight)
        if tokens < 1.0:
            buckets[peer] = (tokens, now)
            self.limited_total += 1
            if peer in self.limited or len(self.limited) < self.max_peers:
                self.limited[peer] += 1
            return False
        buckets[peer] = (tokens - 1.0, now)
        return True

    @property
    def peers(self) -> int:
        """How many peers' buckets are kept now (at most ``max_peers``)."""
        return len(self._buckets)


class DropLog:
    """A host's drops, logged as one line per reason per interval.

    :meth:`note` counts a drop (cheap: no formatting, no I/O); :meth:`flush` writes one
    WARNING per reason seen since the last flush: how many, over how long, the top
    sources, and the first drop's detail. The host flushes from a timer one interval
    after the first drop of an interval, and when it closes.

    Args:
        owner: who drops, as the lines name it (``host agg``, ``feed at tcp://...``).
        logger: where the lines go.
        interval_s: the longest a drop waits before it is logged.
        trace_per_interval: how many drops of each reason per interval the trace records
            one by one; the rest are in the line's count (and in the trace as one
            ``sampled`` row per reason, written by the host).
        max_sources: the most sources counted per reason and interval (the rest are
            counted as ``others``).
        clock: monotonic seconds (a test's fake clock).
        host: the records' ``host`` (see :mod:`vpp.agents.ops.logs`), when there is one.
        noun: what is dropped, as the lines say it.
    """

    def __init__(self, owner: str, logger: logging.Logger, *, interval_s: float = 1.0,
                 trace_per_interval: int = 1000, max_sources: int = 64,
                 clock: Callable[[], float] = time.monotonic, host: str | None = None,
                 noun: str = "frame(s)") -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be above 0, got {interval_s!r}")
        self.owner = owner
        self.host = host
        self.noun = noun
        self.logger = logger
        self.interval_s = interval_s
        self.trace_per_interval = trace_per_interval
        self.max_sources = max_sources
        self.clock = clock
        self.lines = 0
        self._since: float | None = None
        self._counts: Counter[str] = Counter()
        self._sources: dict[str, Counter[str]] = {}
        self._first: dict[str, str] = {}

    @property
    def pending(self) -> bool:
        """True when drops wait to be logged."""
        return self._since is not None

    def note(self, reason: str, detail: str, source: str | None, count: int = 1) -> bool:
        """Count ``count`` drops of ``reason`` (``detail``: the first one's full reason
        text) from ``source``; True while the trace may still record drops of this reason
        one by one this interval."""
        if self._since is None:
            self._since = self.clock()
        seen = self._counts[reason]
        self._counts[reason] = seen + count
        if not seen:
            self._first[reason] = detail
            self._sources[reason] = Counter()
        sources = self._sources[reason]
        who = source or "-"
        if who in sources or len(sources) < self.max_sources:
            sources[who] += count
        else:
            sources["others"] += count
        return seen < self.trace_per_interval

    def maybe_flush(self) -> None:
        """Flush when the first pending drop has waited ``interval_s`` (for owners without
        a timer, which call this whenever they run)."""
        if self._since is not None and self.clock() - self._since >= self.interval_s:
            self.flush()

    def flush(self) -> dict[str, int]:
        """Log one line per reason counted since the last flush; return the counts of
        the drops that the trace did not record one by one, by reason."""
        if self._since is None:
            return {}
        span = max(self.clock() - self._since, 0.0)
        untraced = {}
        extra = {} if self.host is None else {"host": self.host}
        for reason, count in sorted(self._counts.items()):
            top = ", ".join(f"{quote(who, 40)} x{n}"
                            for who, n in self._sources[reason].most_common(3))
            self.logger.warning(
                "%s dropped %d %s in %.1f s: %s (top sources: %s); first: %s",
                self.owner, count, self.noun, span, reason, top, self._first[reason],
                extra={**extra, "reason": reason, "count": count})
            self.lines += 1
            if count > self.trace_per_interval:
                untraced[reason] = count - self.trace_per_interval
        self._since = None
        self._counts.clear()
        self._sources.clear()
        self._first.clear()
        return untraced


class PeerLimiter(Protocol):
    """Decides whether one more envelope from a peer is let through (a rate limit)."""

    def allow(self, peer: str) -> bool:
        """True to deliver the envelope, False to drop it as ``rate-limited``."""
        ...

    def weigh(self, peer: str, weight: float) -> None:
        """Let ``peer`` send ``weight`` times as much (a host admitted with many sites)."""
        ...


@dataclass
class HostStats:
    """Counters of one host: frames sent, delivered and dropped (by reason)."""

    sent: int = 0
    received: int = 0
    dropped: Counter = field(default_factory=Counter)

    @property
    def dropped_total(self) -> int:
        """All frames dropped, whatever the reason."""
        return sum(self.dropped.values())
