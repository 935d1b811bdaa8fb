"""Who is alive: heartbeat bookkeeping without sockets or clocks of its own.

Both classes take ``now`` (monotonic seconds) from their caller, so a test drives them
with made-up times. See ``docs/protocols/distributed.md`` (Liveness).
"""

from __future__ import annotations

from enum import Enum


class PeerLiveness:
    """The aggregator's view: when each peer was last heard of, and who is lost.

    Args:
        timeout_s: a peer silent for longer than this is lost, unless :meth:`allow` gave
            it longer.
    """

    def __init__(self, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self._last: dict[str, float] = {}
        self._allowed: dict[str, float] = {}

    def seen(self, peer: str, now: float) -> None:
        """``peer`` sent something at ``now``."""
        self._last[peer] = now

    def allow(self, peer: str, timeout_s: float) -> float:
        """Let ``peer`` be silent for ``timeout_s`` (never less than the timeout of all
        peers): a host that answers for many sites in one pass sends nothing meanwhile.
        Returns the timeout that holds for ``peer``; kept until :meth:`forget`."""
        timeout_s = max(self.timeout_s, timeout_s)
        if timeout_s > self.timeout_s:
            self._allowed[peer] = timeout_s
        else:
            self._allowed.pop(peer, None)
        return timeout_s

    def timeout_of(self, peer: str) -> float:
        """The silence after which ``peer`` is lost."""
        return self._allowed.get(peer, self.timeout_s)

    def alive(self, peer: str) -> bool:
        """True while ``peer`` is tracked and not lost."""
        return peer in self._last

    def last_seen(self, peer: str) -> float | None:
        """When ``peer`` was last heard of (the clock given to :meth:`seen`), or None."""
        return self._last.get(peer)

    def forget(self, peer: str) -> None:
        """Stop tracking ``peer`` (it left)."""
        self._last.pop(peer, None)
        self._allowed.pop(peer, None)

    def expire(self, now: float) -> list[str]:
        """The peers silent for longer than their timeout, sorted; they are no longer
        tracked."""
        allowed, default = self._allowed, self.timeout_s
        lost = sorted(p for p, t in self._last.items()
                      if now - t > allowed.get(p, default))
        for peer in lost:
            del self._last[peer]
        return lost

    @property
    def peers(self) -> list[str]:
        """The peers alive, sorted."""
        return sorted(self._last)


class LinkMode(str, Enum):
    """A site process's relation to its aggregator."""

    JOINING = "joining"
    """not (yet) welcomed"""
    JOINED = "joined"
    """welcomed, and the aggregator is heard from"""
    HOLDING = "holding"
    """the aggregator is silent: the last set-point is held for the grace period"""
    LOCAL = "local"
    """the grace period passed: no set-point, local rules only"""


class AggregatorWatch:
    """The site's view of its aggregator: joined, holding the last set-point, or local.

    Args:
        timeout_s: the aggregator is taken as gone after this long without a word.
        grace_s: how long the last set-point is held once it is gone.
    """

    def __init__(self, timeout_s: float, grace_s: float) -> None:
        if timeout_s <= 0 or grace_s < 0:
            raise ValueError(f"timeout_s must be positive and grace_s >= 0, got "
                             f"{timeout_s} and {grace_s}")
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self.mode = LinkMode.JOINING
        self._last: float | None = None

    def welcomed(self, now: float) -> None:
        """The aggregator welcomed this process at ``now``."""
        self.mode = LinkMode.JOINED
        self._last = now

    def seen(self, now: float) -> None:
        """The aggregator sent something at ``now``."""
        if self.mode is not LinkMode.JOINING:
            self.mode = LinkMode.JOINED
            self._last = now

    def update(self, now: float) -> LinkMode:
        """The mode at ``now`` (moving to holding, then local, as silence lasts)."""
        if self._last is not None and self.mode is not LinkMode.JOINING:
            silent = now - self._last
            if silent > self.timeout_s + self.grace_s:
                self.mode = LinkMode.LOCAL
            elif silent > self.timeout_s:
                self.mode = LinkMode.HOLDING
        return self.mode


def few(names: list[str], limit: int = 10) -> str:
    """``names`` for a log line: all of them up to ``limit``, else the first ``limit`` and
    how many there are (a region process's 50,000 sites are not one line)."""
    if len(names) <= limit:
        return str(list(names))
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}, ...] ({len(names)} sites)"
