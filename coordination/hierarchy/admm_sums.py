"""The sums of the hierarchical sharing form, and a node's bookkeeping of its children.

The sharing ADMM's aggregator needs, each iteration, only sums over the sites: the mean of
the relaxed schedules (for the coupling step and the dual update) and, for the stopping
test, norms over the stacked schedules. With ``d = xbar - zbar`` (known only once every
sum is in) each norm expands into sums a region can form on its own (``Sums``):

- ``x_i - z_i = (x_i - x_hat_i) + d``: ``r^2 = sq_relax + 2 d.sum_relax + N |d|^2``;
- ``z_i = x_hat_i - d``: ``|z|^2 = sq_x_hat - 2 d.sum_x_hat + N |d|^2``;
- ``z_i - z_i_prev = (x_hat_i - z_i_prev) - d``: ``s^2/rho^2 = sq_step - 2 d.sum_step + N|d|^2``.

A region keeps each of its sites' last ``x_i`` and ``z_i`` (as the flat aggregator does), so
the iterates are the flat run's; only the order of additions differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np
from vpp.coordination.admm.feasibility import check_bounds
from vpp.coordination.admm.messages import AdmmRound, AdmmSchedule
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.messages import RegionalSums, SiteDecline
from vpp.coordination.hierarchy.topology import SITE, Topology


@dataclass
class Sums:
    """Sums over some active sites for one iteration (see the module's doc)."""

    sites: int
    sum_x: np.ndarray
    sum_x_hat: np.ndarray
    sum_relax: np.ndarray
    sum_step: np.ndarray
    sq_x: float
    sq_x_hat: float
    sq_relax: float
    sq_step: float
    cost_eur: float

    @classmethod
    def zero(cls, horizon: int) -> Sums:
        """No sites."""
        z = np.zeros(horizon)
        return cls(0, z, z.copy(), z.copy(), z.copy(), 0.0, 0.0, 0.0, 0.0, 0.0)

    def add(self, other: Sums) -> None:
        """Add ``other`` in place."""
        self.sites += other.sites
        self.sum_x = self.sum_x + other.sum_x
        self.sum_x_hat = self.sum_x_hat + other.sum_x_hat
        self.sum_relax = self.sum_relax + other.sum_relax
        self.sum_step = self.sum_step + other.sum_step
        self.sq_x += other.sq_x
        self.sq_x_hat += other.sq_x_hat
        self.sq_relax += other.sq_relax
        self.sq_step += other.sq_step
        self.cost_eur += other.cost_eur

    def message(self, round: int, dropped: list[SiteDecline],
                bounds: tuple[np.ndarray, np.ndarray] | None = None) -> RegionalSums:
        """As the message a region sends up (with the summed capacity ``bounds``, if
        given)."""
        low, high = ([], []) if bounds is None else (bounds[0].tolist(), bounds[1].tolist())
        return RegionalSums(round, self.sites, self.sum_x.tolist(), self.sum_x_hat.tolist(),
                            self.sum_relax.tolist(), self.sum_step.tolist(), self.sq_x,
                            self.sq_x_hat, self.sq_relax, self.sq_step, self.cost_eur, dropped,
                            low, high)


def check_schedule(msg: AdmmSchedule, horizon: int) -> str | None:
    """Why a site's schedule (or its capacity bounds) cannot be used (the flat
    aggregator's words), or None."""
    if len(msg.schedule_kw) != horizon:
        return f"AdmmSchedule.schedule_kw has {len(msg.schedule_kw)} values, expected {horizon}"
    if not all(map(math.isfinite, msg.schedule_kw)):
        return "AdmmSchedule.schedule_kw has a non-finite value"
    if not math.isfinite(msg.local_cost_eur):
        return "AdmmSchedule.local_cost_eur is not finite"
    if msg.low_kw or msg.high_kw:
        return check_bounds(msg.low_kw, msg.high_kw, horizon)
    return None


def _bounds_from(msg: RegionalSums, horizon: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A region's summed capacity bounds (None: not given); ProtocolError when unusable."""
    if not (msg.low_kw or msg.high_kw):
        return None
    problem = check_bounds(msg.low_kw, msg.high_kw, horizon)
    if problem is not None:
        raise ProtocolError(problem.replace("AdmmSchedule.", "RegionalSums."))
    return np.asarray(msg.low_kw, dtype=float), np.asarray(msg.high_kw, dtype=float)


def _sums_from(msg: RegionalSums, horizon: int) -> Sums:
    vectors = (msg.sum_x, msg.sum_x_hat, msg.sum_relax, msg.sum_step)
    if any(len(v) != horizon for v in vectors):
        raise ProtocolError(f"RegionalSums vectors must have {horizon} values")
    scalars = (msg.sq_x, msg.sq_x_hat, msg.sq_relax, msg.sq_step)
    if not (all(all(map(math.isfinite, v)) for v in vectors)
            and all(math.isfinite(v) and v >= 0.0 for v in scalars)
            and math.isfinite(msg.cost_eur)):
        raise ProtocolError("RegionalSums has a value that is not finite (or a negative "
                            "sum of squares)")
    return Sums(msg.sites, *(np.asarray(v, dtype=float) for v in vectors), *scalars,
                msg.cost_eur)


class Children:
    """One aggregator's children in the hierarchical sharing ADMM.

    Direct site children answer ``AdmmSchedule``; the node keeps their last schedule ``x``
    and consensus ``z`` and relaxes them itself. Region children answer
    :class:`RegionalSums` for their subtrees.

    Args:
        node: the root or a region.
        topology: the fleet's hierarchy.
        horizon: steps in the schedules.
    """

    def __init__(self, node: str, topology: Topology, horizon: int) -> None:
        self.node = node
        self.horizon = horizon
        self.children = topology.children(node)
        self.is_site = {c: topology.kind(c) == SITE for c in self.children}
        self.active: list[str] = list(self.children)
        self.region_sites: dict[str, list[str]] = {
            c: list(topology.sites_under(c)) for c in self.children if not self.is_site[c]}
        self.dropped: dict[str, str] = {}
        self.pending: set[str] = set()
        self.round = -1
        self._alpha = 1.0
        self._x: dict[str, np.ndarray] = {}
        self._z: dict[str, np.ndarray] = {}
        self._x_hat: dict[str, np.ndarray] = {}
        self._answers: dict[str, tuple[np.ndarray, float]] = {}
        self._region_sums: dict[str, Sums] = {}
        self._round_dropped: list[SiteDecline] = []
        self.costs: dict[str, float] = {}
        self.bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        """Capacity bounds by child: a direct site's round-0 ones, a region's last sums."""

    def sites(self) -> list[str]:
        """The active sites below this node (direct ones, then each region's)."""
        out = []
        for c in self.active:
            out += [c] if self.is_site[c] else self.region_sites[c]
        return out

    def begin(self, signal: AdmmRound, close_relaxation: float) -> None:
        """A new iteration: each direct site's consensus ``z`` from the signal's imbalance
        (``-imbalance`` in round 0: ``z = zbar``; then ``z = x_hat - imbalance``)."""
        if signal.round != self.round + 1:
            raise ProtocolError(f"AdmmRound.round is {signal.round} at {self.node}, which "
                                f"closed round {self.round} last")
        if len(signal.mean_imbalance) != self.horizon:
            raise ProtocolError(f"AdmmRound.mean_imbalance must have {self.horizon} values")
        if not (math.isfinite(close_relaxation) and 0.0 < close_relaxation < 2.0):
            raise ProtocolError(f"RegionalRound.close_relaxation must be in (0, 2), "
                                f"got {close_relaxation!r}")
        imbalance = np.asarray(signal.mean_imbalance, dtype=float)
        if not np.isfinite(imbalance).all():
            raise ProtocolError("AdmmRound.mean_imbalance is not finite")
        for c in self.active:
            if self.is_site[c]:
                self._z[c] = (-imbalance if signal.round == 0 else self._x_hat[c] - imbalance)
        self.round = signal.round
        self._alpha = close_relaxation
        self.pending = set(self.active)
        self._answers = {}
        self._region_sums = {}
        self._round_dropped = []

    def _drop(self, site: str, reason: str) -> None:
        self.dropped[site] = reason
        self._round_dropped.append(SiteDecline(site, reason))

    def expect(self, child: str, kind: str, site: bool) -> None:
        """Raise :class:`ProtocolError` unless ``child`` is an awaited child of that kind."""
        if child not in self.is_site or self.is_site[child] != site:
            raise ProtocolError(f"{kind} from {child}, which is not a "
                                f"{'site' if site else 'region'} below {self.node}")
        if child not in self.pending:
            raise ProtocolError(f"unexpected {kind} from {child} in round {self.round} at "
                                f"{self.node} (late or duplicate)")

    def on_schedule(self, site: str, msg: AdmmSchedule) -> None:
        """A direct site's schedule; an invalid one drops the site and raises."""
        self.expect(site, "AdmmSchedule", True)
        if msg.round != self.round:
            raise ProtocolError(f"unexpected AdmmSchedule from {site} for round {msg.round} "
                                f"(now round {self.round}): late or duplicate")
        self.pending.discard(site)
        problem = check_schedule(msg, self.horizon)
        if problem is not None:
            self.active.remove(site)
            self._drop(site, f"invalid schedule in round {self.round}: {problem}")
            raise ProtocolError(f"{site}: {problem}")
        self._answers[site] = (np.asarray(msg.schedule_kw, dtype=float),
                               float(msg.local_cost_eur))
        if msg.round == 0 and msg.low_kw:
            self.bounds[site] = (np.asarray(msg.low_kw, dtype=float),
                                 np.asarray(msg.high_kw, dtype=float))

    def on_sums(self, region: str, msg: RegionalSums) -> None:
        """A region child's sums; invalid ones drop its whole subtree and raise."""
        self.expect(region, "RegionalSums", False)
        if msg.round != self.round:
            raise ProtocolError(f"unexpected RegionalSums from {region} for round "
                                f"{msg.round} (now round {self.round}): late or duplicate")
        self.pending.discard(region)
        try:
            sums = _sums_from(msg, self.horizon)
            active = set(self.region_sites[region])
            named = [d.site for d in msg.dropped]
            if len(set(named)) != len(named) or not set(named) <= active:
                raise ProtocolError(f"RegionalSums.dropped names sites that are not active "
                                    f"below {region}")
            if msg.sites != len(active) - len(named):
                raise ProtocolError(f"RegionalSums.sites is {msg.sites}, {region} has "
                                    f"{len(active) - len(named)} active sites")
            bounds = _bounds_from(msg, self.horizon)
        except ProtocolError as exc:
            self._drop_region(region, f"invalid sums from region {region} in round "
                                      f"{self.round}: {exc}")
            raise
        for d in msg.dropped:
            self._drop(d.site, d.reason)
        gone = set(named)
        self.region_sites[region] = [s for s in self.region_sites[region] if s not in gone]
        if not self.region_sites[region]:
            self.active.remove(region)
        self._region_sums[region] = sums
        if bounds is not None:
            self.bounds[region] = bounds
        elif msg.round == 0 or named:  # its sites changed and it did not say their bounds
            self.bounds.pop(region, None)

    def bounds_sum(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The summed capacity bounds of the active children, or None unless every one
        gave them."""
        if not self.active or not all(c in self.bounds for c in self.active):
            return None
        low = np.sum([self.bounds[c][0] for c in self.active], axis=0)
        high = np.sum([self.bounds[c][1] for c in self.active], axis=0)
        return low, high

    def _drop_region(self, region: str, reason: str) -> None:
        for s in self.region_sites[region]:
            self._drop(s, reason)
        self.region_sites[region] = []
        self.active.remove(region)

    def on_deadline(self) -> None:
        """The children still awaited are dropped (a region: every active site below it)."""
        for c in [c for c in self.active if c in self.pending]:
            if self.is_site[c]:
                self.active.remove(c)
                self._drop(c, f"missed the deadline of round {self.round}")
            else:
                self._drop_region(c, f"region {c} missed the deadline of round {self.round}")
        self.pending.clear()

    def close(self) -> tuple[Sums, list[SiteDecline]]:
        """The iteration's sums over every active site below, and the sites dropped in it."""
        total = Sums.zero(self.horizon)
        alpha = self._alpha
        for c in self.active:
            if not self.is_site[c]:
                total.add(self._region_sums[c])
                continue
            x, cost = self._answers[c]
            z_prev = self._z[c]
            x_hat = x if alpha == 1.0 else alpha * x + (1.0 - alpha) * z_prev
            relax = x - x_hat
            step = x_hat - z_prev
            self._x[c], self._x_hat[c] = x, x_hat
            self.costs[c] = cost
            total.add(Sums(1, x, x_hat, relax, step, float(x @ x), float(x_hat @ x_hat),
                           float(relax @ relax), float(step @ step), cost))
        for c in list(self.costs):
            if c not in self.active:
                del self.costs[c]
        return total, list(self._round_dropped)

    def schedule(self, site: str) -> np.ndarray | None:
        """A direct active site's last schedule."""
        return self._x.get(site) if site in self.active else None

    def relay(self, signal: AdmmRound, close_relaxation: float, deadline_ms: int,
              round_kind: type) -> list[tuple[str, msgspec.Struct]]:
        """The iteration's signal for each active child (sites: the ``AdmmRound`` itself;
        regions: ``round_kind(signal, close_relaxation)``), with ``deadline_ms``."""
        relayed = msgspec.structs.replace(signal, deadline_ms=deadline_ms)
        regional = round_kind(relayed, close_relaxation)
        return [(c, relayed if self.is_site[c] else regional) for c in self.active]
