"""A regional aggregator in the hierarchical sharing ADMM, as a state machine (no sockets).

Each iteration the parent's :class:`~.messages.RegionalRound` comes in; the region passes
its ``AdmmRound`` to its sites (and the ``RegionalRound`` to regions below) with a shorter
deadline, gathers the schedules (and sums), relaxes each of its sites' schedules as the
flat aggregator would, and answers one :class:`~.messages.RegionalSums`. A site that
misses the region's deadline, or answers an invalid schedule, is dropped and named in the
sums. At the end the parent's :class:`~.messages.RegionalDone` becomes each site's
``AdmmDone`` with the schedule the region holds for it. ``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

import numpy as np
from vpp.coordination.admm.messages import AdmmDone, AdmmSchedule
from vpp.coordination.admm.protocol import Outgoing
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_sums import Children
from vpp.coordination.hierarchy.merit_region import child_deadline_ms
from vpp.coordination.hierarchy.messages import (
    RegionalDone,
    RegionalRound,
    RegionalSums,
)
from vpp.coordination.hierarchy.topology import Topology


class RegionalAdmm:
    """One ADMM negotiation, seen from the regional aggregator ``region``.

    Args:
        region: the region's name (a ``region`` node of ``topology``).
        topology: the fleet's hierarchy.
        horizon: steps in the schedules.
        deadline_share: the part of the parent's deadline the region gives its children.
    """

    def __init__(self, region: str, topology: Topology, horizon: int, *,
                 deadline_share: float = 0.8) -> None:
        if topology.kind(region) != "region":
            raise ValueError(f"{region!r} is a {topology.kind(region)}, not a region")
        if not 0.0 < deadline_share < 1.0:
            raise ValueError(f"deadline_share must be in (0, 1), got {deadline_share!r}")
        self.region = region
        parent = topology.parent(region)
        assert parent is not None
        self.parent = parent
        self.horizon = horizon
        self.deadline_share = deadline_share
        self.deadline_ms = 0
        self.children = Children(region, topology, horizon)
        self.phase = "new"
        self.final: RegionalDone | None = None
        self._pending_error: list[Outgoing] = []

    @property
    def done(self) -> bool:
        """True once the parent said the negotiation ended."""
        return self.phase == "done"

    @property
    def waiting_for(self) -> frozenset[str]:
        """The children the current iteration still waits for."""
        return frozenset(self.children.pending) if self.phase == "running" else frozenset()

    def on_round(self, msg: RegionalRound) -> list[Outgoing]:
        """The parent's signal of an iteration: passed to every active child."""
        if self.phase not in ("new", "running") or self.children.pending:
            raise ProtocolError(f"unexpected RegionalRound {msg.signal.round} at region "
                                f"{self.region} ({self.phase}, round {self.children.round})")
        signal = msg.signal
        if signal.horizon != self.horizon or len(signal.scaled_price) != self.horizon:
            raise ProtocolError(f"AdmmRound.horizon must be {self.horizon} at region "
                                f"{self.region}, got {signal.horizon}")
        if signal.round != self.children.round + 1:
            raise ProtocolError(f"AdmmRound.round is {signal.round}, region {self.region} "
                                f"closed round {self.children.round} last")
        self.children.begin(signal, msg.close_relaxation)
        self.phase = "running"
        self.deadline_ms = child_deadline_ms(signal.deadline_ms, self.deadline_share)
        out = [Outgoing(c, body, signal.round) for c, body in
               self.children.relay(signal, msg.close_relaxation, self.deadline_ms,
                                   RegionalRound)]
        if not out:  # every site below was dropped: answer empty sums at once
            return self._close()
        return out

    def on_schedule(self, site: str, msg: AdmmSchedule) -> list[Outgoing]:
        """A site's schedule; an invalid one drops the site and raises."""
        self._running("AdmmSchedule", site)
        try:
            self.children.on_schedule(site, msg)
        except ProtocolError:
            self._pending_error = self._after_answer()
            raise
        return self._after_answer()

    def on_sums(self, child: str, msg: RegionalSums) -> list[Outgoing]:
        """A region child's sums; invalid ones drop its subtree and raise."""
        self._running("RegionalSums", child)
        try:
            self.children.on_sums(child, msg)
        except ProtocolError:
            self._pending_error = self._after_answer()
            raise
        return self._after_answer()

    def take_after_error(self) -> list[Outgoing]:
        """What handling an invalid message wants sent (the raise could not return it)."""
        out, self._pending_error = self._pending_error, []
        return out

    def on_deadline(self) -> list[Outgoing]:
        """The region's deadline passed: the children still awaited are dropped."""
        if self.phase != "running" or not self.children.pending:
            return []
        self.children.on_deadline()
        return self._close()

    def on_done(self, msg: RegionalDone) -> list[Outgoing]:
        """The end: each site gets its ``AdmmDone`` (its schedule if still included)."""
        if self.phase == "done":
            raise ProtocolError(f"RegionalDone twice at region {self.region}")
        self.phase = "done"
        self.final = msg
        self.children.pending.clear()
        out: list[Outgoing] = []
        for c in self.children.children:
            if self.children.is_site[c]:
                x = self.children.schedule(c) if msg.included else None
                out.append(Outgoing(c, AdmmDone(msg.round, msg.converged, msg.iterations,
                                                x is not None, [] if x is None else x.tolist(),
                                                msg.price_eur_mwh), msg.round))
            else:
                included = msg.included and c in self.children.active
                out.append(Outgoing(c, RegionalDone(msg.round, msg.converged, msg.iterations,
                                                    included, msg.price_eur_mwh), msg.round))
        return out

    def site_schedules(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The last schedule and private cost of each direct site still active."""
        kids = self.children
        schedules = {s: kids.schedule(s) for s in kids.active if kids.is_site[s]}
        return ({s: x.copy() for s, x in schedules.items() if x is not None},
                {s: kids.costs[s] for s in schedules if s in kids.costs})

    def _running(self, kind: str, child: str) -> None:
        if self.phase != "running":
            raise ProtocolError(f"unexpected {kind} from {child} at region {self.region} "
                                f"({self.phase}): late or duplicate")

    def _after_answer(self) -> list[Outgoing]:
        if self.children.pending or self.phase != "running":
            return []
        return self._close()

    def _close(self) -> list[Outgoing]:
        """The iteration's sums to the parent; in round 0, or when sites were dropped, with
        the active sites' summed capacity bounds (when every one gave them)."""
        sums, dropped = self.children.close()
        round_ = self.children.round
        bounds = self.children.bounds_sum() if round_ == 0 or dropped else None
        return [Outgoing(self.parent, sums.message(round_, dropped, bounds), round_)]
