"""Registrations that come in parts: a host with more sites than fit one frame.

A site (or region) process lists its sites in ``Register`` messages of at most one frame
each, sent in order on its one connection (``docs/protocols/distributed.md``, "Joining").
:class:`JoinAssembler` puts them together for the coordinator and bounds what a peer can
make it hold: at most :data:`~vpp.agents.runtime.limits.MAX_PENDING_JOINS` hosts part-way
through a registration, at most ``len(scenario sites)`` (and
:data:`~vpp.agents.runtime.limits.MAX_HOST_SITES`) names each and twice the scenario's
sites over all of them (each registration's ``total`` reserved at its part 0), every name
one of the scenario's and listed once, at most
:data:`~vpp.agents.runtime.limits.MAX_REGISTER_PARTS` parts; a registration not finished
within its deadline is dropped and counted (:attr:`JoinAssembler.expired`). A part that
finds no registration begun (its part 0 dropped for these bounds, or the registration
expired) is dropped, not refused: the host sends its parts again at its next heartbeat.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from vpp.agents.membership.messages import Register
from vpp.agents.runtime.limits import (
    MAX_HOST_SITES,
    MAX_PENDING_JOINS,
    MAX_REGISTER_PARTS,
)
from vpp.coordination.errors import ProtocolError


class JoinRefused(ValueError):
    """A registration (or one of its parts) that is refused; the message names the field
    (``Register.part``, ``Register.parts``, ``Register.total``, ``Register.sites``)."""


@dataclass
class Joined:
    """A whole registration: the host's sites in the order it listed them, the regional
    aggregators it runs, its process id, and how many parts it came in."""

    sites: list[str]
    regions: list[str]
    pid: int
    parts: int


@dataclass
class _Pending:
    parts: int
    total: int
    started_s: float
    sites: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    next_part: int = 1


class JoinAssembler:
    """Puts a host's registration parts together.

    Args:
        known: the scenario's site names.
        deadline_s: how long a registration in parts may take from its part 0.
        max_sites: the most sites one host may claim (at most ``len(known)``).
        max_pending: the most hosts part-way through a registration at once.

    Attributes:
        expired: registrations dropped for not finishing within ``deadline_s``.
    """

    def __init__(self, known: Collection[str], deadline_s: float, *,
                 max_sites: int = MAX_HOST_SITES,
                 max_pending: int = MAX_PENDING_JOINS) -> None:
        self.known = known
        self.deadline_s = deadline_s
        self.max_sites = min(max_sites, len(known))
        self.max_pending = max_pending
        self.max_reserved = 2 * len(known)
        self.expired = 0
        self._pending: dict[str, _Pending] = {}

    @property
    def pending(self) -> int:
        """How many hosts are part-way through a registration."""
        return len(self._pending)

    def add(self, host: str, reg: Register, now_s: float) -> Joined | None:
        """Take one part of ``host``'s registration; return the whole registration once its
        last part came (None before). Raises :class:`JoinRefused` naming the field (the
        host's registration in progress is dropped), or ``ProtocolError`` when too many
        hosts are part-way through theirs (the part is dropped; the host sends it again)."""
        try:
            return self._add(host, reg, now_s)
        except JoinRefused:
            self._pending.pop(host, None)
            raise

    def _add(self, host: str, reg: Register, now_s: float) -> Joined | None:
        if not 1 <= reg.parts <= MAX_REGISTER_PARTS:
            raise JoinRefused(f"Register.parts must be 1 to {MAX_REGISTER_PARTS}, got "
                              f"{reg.parts}")
        if not 0 <= reg.part < reg.parts:
            raise JoinRefused(f"Register.part must be 0 to {reg.parts - 1}, got {reg.part}")
        total = len(reg.sites) if reg.total == -1 and reg.parts == 1 else reg.total
        if not reg.parts <= total <= self.max_sites:
            raise JoinRefused(f"Register.total must be {reg.parts} (one site a part) to "
                              f"{self.max_sites} (the most sites a host may claim), got "
                              f"{reg.total}")
        if not reg.sites:
            raise JoinRefused("Register.sites: no sites named")
        if reg.part == 0:
            self._pending.pop(host, None)  # part 0 again: the registration begins afresh
            reserved = sum(p.total for p in self._pending.values())
            if len(self._pending) >= self.max_pending or reserved + total > self.max_reserved:
                raise ProtocolError(f"Register from {host}: {len(self._pending)} "
                                    f"registrations in parts under way already, for "
                                    f"{reserved} sites; dropped (it comes again)")
            pending = self._pending[host] = _Pending(reg.parts, total, now_s)
        else:
            pending = self._pending.get(host)
            if pending is None:  # dropped or expired: the host sends part 0 again
                raise ProtocolError(f"Register.part {reg.part} of {reg.parts} from {host} "
                                    "with no part 0 before it; dropped")
            if reg.part != pending.next_part:
                what = "again (a duplicate)" if reg.part < pending.next_part else "out of order"
                raise JoinRefused(f"Register.part {reg.part} {what}: expected part "
                                  f"{pending.next_part}")
            if (reg.parts, total) != (pending.parts, pending.total):
                field_name = "parts" if reg.parts != pending.parts else "total"
                raise JoinRefused(f"Register.{field_name} changed within the registration "
                                  f"(part 0 said {getattr(pending, field_name)}, part "
                                  f"{reg.part} says {getattr(reg, field_name)})")
            pending.next_part += 1
        self._take(pending, reg)
        if reg.part < reg.parts - 1:
            return None
        del self._pending[host]
        if len(pending.sites) != pending.total:
            raise JoinRefused(f"Register.total says {pending.total} sites; the "
                              f"{pending.parts} parts listed {len(pending.sites)}")
        return Joined(pending.sites, list(reg.regions), reg.pid, reg.parts)

    def _take(self, pending: _Pending, reg: Register) -> None:
        if len(pending.sites) + len(reg.sites) > pending.total:
            raise JoinRefused(f"Register.total says {pending.total} sites; part {reg.part} "
                              f"brings the count to {len(pending.sites) + len(reg.sites)}")
        names = [s.name for s in reg.sites]
        unknown = [n for n in names if n not in self.known]
        if unknown:
            raise JoinRefused(f"Register.sites: sites not in the scenario: {unknown[:20]}"
                              + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""))
        for n in names:
            if n in pending.seen:
                raise JoinRefused(f"Register.sites: site {n!r} listed twice")
            pending.seen.add(n)
        pending.sites.extend(names)

    def expire(self, now_s: float) -> list[str]:
        """Drop the registrations begun more than ``deadline_s`` ago and not finished;
        return their hosts (counted in :attr:`expired`)."""
        late = [h for h, p in self._pending.items() if now_s - p.started_s > self.deadline_s]
        for host in late:
            del self._pending[host]
        self.expired += len(late)
        return late

    def forget(self, host: str) -> None:
        """Drop ``host``'s registration in progress, if any."""
        self._pending.pop(host, None)
