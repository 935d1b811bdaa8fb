"""What the coordinator knows of each site process that joined, and the liveness events of
a run (:mod:`.coordinator` keeps them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vpp.coordination.dispatch import Applied


@dataclass
class Member:
    """A site process that joined: its host name, its sites, its process id, the regional
    aggregators it runs (a region process)."""

    host: str
    sites: list[str]
    pid: int
    applied: dict[int, dict[str, Applied]] = field(default_factory=dict)
    regions: list[str] = field(default_factory=list)
    site_set: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.site_set = frozenset(self.sites)  # (Applied is checked against it: 50,000 a step)


@dataclass
class LivenessEvent:
    """A host joined, was lost, rejoined or stopped, at a step (``at_s``: monotonic
    seconds); ``reason`` says why a host was lost other than by silence (its key revoked,
    it stopped unasked)."""

    event: str
    host: str
    sites: list[str]
    step: int
    at_s: float
    reason: str | None = None
