"""Message kinds between an aggregator and a regional aggregator below it.

Between a region and its own sites the flat protocols' kinds are used unchanged
(``CallForBids``, ``Bid``, ``Award``, ``Accept``, ``Decline`` of
:mod:`~vpp.coordination.merit_order.messages`; ``AdmmRound``, ``AdmmSchedule``,
``AdmmDone`` of :mod:`~vpp.coordination.admm.messages`); so are ``CallForBids`` from a
parent to a region and ``StepCleared``. The kinds here carry what a region says for its
whole subtree. Units as in the flat protocols: kW (+ injection), EUR/MWh, EUR/MW/h.
The sequences: ``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

import msgspec
from vpp.coordination.admm.messages import AdmmRound


class SiteDecline(msgspec.Struct, array_like=True, frozen=True):
    """A site of the subtree that is out of the step, and why (as the flat auction says it:
    the site's ``Decline.reason``, ``invalid bid: ...``, or for ADMM the drop reason)."""

    site: str
    reason: str


# -- merit order ---------------------------------------------------------------------------

class AggregateBid(msgspec.Struct, frozen=True):
    """Region -> parent: the bids of the region's subtree as one curve, sorted by price.

    Columns, one entry per segment, sorted by (price, the site's fleet order, the segment's
    position in its site's bid): ``segment_site`` (an index into ``sites``),
    ``segment_index`` (the segment's position in that site's own bid), ``quantity_kw``
    (> 0 injection, < 0 absorption, a deviation from the site's baseline) and
    ``price_eur_mwh``. Per site that bid (in fleet order): its ``baseline_kw`` and its
    upward reserve price. ``silent`` names the subtree's sites that did not bid in time,
    ``rejected`` those whose bid was invalid.

    A curve too large for one message comes in parts, runs of sites in fleet order, each
    one a curve of its own: ``more`` is True on every part but the last (which names the
    silent and rejected sites).
    """

    step: int
    sites: list[str]
    baseline_kw: list[float]
    reserve_price_eur_mw_h: list[float]
    segment_site: list[int]
    segment_index: list[int]
    quantity_kw: list[float]
    price_eur_mwh: list[float]
    silent: list[str] = []
    rejected: list[SiteDecline] = []
    more: bool = False


class SegmentAward(msgspec.Struct, array_like=True, frozen=True):
    """The award of one segment (``segment`` = its position in ``site``'s bid), in kW of the
    segment's own direction (>= 0)."""

    site: str
    segment: int
    kw: float


class SiteReserve(msgspec.Struct, array_like=True, frozen=True):
    """The upward reserve awarded to one site (kW, >= 0)."""

    site: str
    kw: float


class Clearing(msgspec.Struct, frozen=True):
    """Where the parent's merit order stopped within one child's curve.

    The child's segments on the awarded ``side`` (+1 injection, -1 absorption), taken in
    merit order (price, fleet order, segment position), are awarded in full up to and
    including the segment (``price``, ``site``, ``segment``) and not at all after it,
    except the few listed in ``partial`` with their exact award (the marginal segment,
    usually the only one). Likewise the reserve: every site up to (``reserve_price``,
    ``reserve_site``) in (reserve price, fleet order) gets all its headroom, except those
    in ``reserve_partial``. None for the point means nothing is awarded.
    """

    side: int
    price: float | None = None
    site: str | None = None
    segment: int | None = None
    partial: list[SegmentAward] = []
    reserve_price: float | None = None
    reserve_site: str | None = None
    reserve_partial: list[SiteReserve] = []


class RegionAward(msgspec.Struct, frozen=True):
    """Parent -> region: the subtree's share of award round ``round``.

    ``deviation_kw`` is the power awarded beyond the baselines of the subtree's sites still
    in the step (signed: > 0 more injection, < 0 more absorption) and ``reserve_kw`` the
    upward reserve, in total; ``clearing`` says where the parent's merit order stopped in
    the subtree's curve, so that the region splits the award down its own merit order to
    the parent's numbers exactly. ``marginal_price_eur_mwh`` is the parent's marginal
    price, passed on in each site's ``Award``. It replaces the region's earlier award.
    """

    step: int
    round: int
    deviation_kw: float
    reserve_kw: float
    marginal_price_eur_mwh: float | None
    clearing: Clearing


class RegionAnswer(msgspec.Struct, frozen=True):
    """Region -> parent: the subtree's answer to a :class:`RegionAward`.

    It repeats the award (``deviation_kw``, ``reserve_kw``) as ``Accept`` does. Every site
    the award round asked (its set-point changed) accepted, except those in ``declined``
    (they stay at their baselines) and ``silent`` (they did not answer in time).
    """

    step: int
    round: int
    deviation_kw: float
    reserve_kw: float
    declined: list[SiteDecline] = []
    silent: list[str] = []


# -- ADMM (hierarchical sharing form) -------------------------------------------------------

class RegionalRound(msgspec.Struct, frozen=True):
    """Parent -> region: iteration ``signal.round``'s price signal, for the region to pass
    to its subtree, and the over-relaxation ``close_relaxation`` the parent will use when it
    closes this iteration (the region relaxes its sites' schedules with it before summing).
    """

    signal: AdmmRound
    close_relaxation: float


class RegionalSums(msgspec.Struct, frozen=True):
    """Region -> parent: the sums over its subtree's active sites for iteration ``round``.

    With ``x_i`` a site's schedule, ``z_i`` its consensus value of the last iteration and
    ``x_hat_i = alpha x_i + (1 - alpha) z_i`` (``alpha`` = ``close_relaxation``):
    ``sum_x``, ``sum_x_hat``, ``sum_relax = sum (x_i - x_hat_i)`` and
    ``sum_step = sum (x_hat_i - z_i)`` (T values each), the matching sums of squared norms,
    and the sites' private costs. ``sites`` counts the sites summed; ``dropped`` names the
    subtree's sites dropped in this iteration, with why.

    ``low_kw`` and ``high_kw`` (T values each, or empty: not given) are the sums of the
    active sites' capacity bounds (each site's round-0 ``AdmmSchedule.low_kw`` and
    ``high_kw``), sent in round 0 and again in an iteration that dropped sites, and only
    when every active site below gave its bounds: the parent tells an infeasible target
    from them as the flat aggregator does (``docs/protocols/admm.md``). Checked by the
    receiver as a site's are (T values, finite, low <= high); the frame cap bounds them.
    """

    round: int
    sites: int
    sum_x: list[float]
    sum_x_hat: list[float]
    sum_relax: list[float]
    sum_step: list[float]
    sq_x: float
    sq_x_hat: float
    sq_relax: float
    sq_step: float
    cost_eur: float
    dropped: list[SiteDecline] = []
    low_kw: list[float] = []
    high_kw: list[float] = []


class RegionalDone(msgspec.Struct, frozen=True):
    """Parent -> region: the negotiation ended; ``included`` is False for a region dropped
    on the way (its sites then count for nothing). ``price_eur_mwh`` is the final price,
    capped as the flat aggregator caps it (the value of lost load where the target is
    left unserved)."""

    round: int
    converged: bool
    iterations: int
    included: bool
    price_eur_mwh: list[float]


HIERARCHY_KINDS: tuple[type[msgspec.Struct], ...] = (
    AggregateBid, RegionAward, RegionAnswer, RegionalRound, RegionalSums, RegionalDone,
)
"""Every message kind of the hierarchy, for registering with a runtime."""
