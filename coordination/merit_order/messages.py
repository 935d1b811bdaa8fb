"""Message kinds of the merit-order contract net.

Power is in kW (positive = injection into the grid, negative = absorption), prices in
EUR/MWh, reserve capacity prices in EUR/MW/h, times in seconds of simulated time.

The kinds hold numbers, strings and lists of segments, so none can be part of a reference
cycle: they are not tracked by the garbage collector (``gc=False``), which would otherwise
scan the four messages a site exchanges each step, twice (as sent and as decoded).
"""

from __future__ import annotations

import msgspec


class CallForBids(msgspec.Struct, frozen=True, gc=False):
    """Aggregator -> site: bid for the window that starts at ``window_start_s``.

    ``target_kw`` and ``reserve_kw`` are told so that a strategy may use them; a site
    bids its whole flexibility whatever the target.
    """

    step: int
    window_start_s: float
    window_s: float
    target_kw: float
    reserve_kw: float
    deadline_ms: int


class BidSegment(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One step of a bid curve: up to ``quantity_kw`` at ``price_eur_mwh``.

    A positive quantity offers injection, a negative one offers absorption; the price is
    what the site asks per MWh in either case (it may be negative).
    """

    quantity_kw: float
    price_eur_mwh: float


class Bid(msgspec.Struct, frozen=True, gc=False):
    """Site -> aggregator: the bid curve for one step, and its upward reserve price.

    ``baseline_kw`` is the site's net power when it is not dispatched (a load's demand, 0
    for a generator or an idle store); the segments are deviations from it.
    """

    step: int
    segments: list[BidSegment]
    reserve_price_eur_mw_h: float = 0.0
    baseline_kw: float = 0.0


class Award(msgspec.Struct, frozen=True, gc=False):
    """Aggregator -> site: the site's net set-point for the step (baseline plus the awarded
    deviation; it replaces earlier awards).

    An award of zero power and zero reserve tells a bidder it was not needed.
    """

    step: int
    power_kw: float
    reserve_kw: float
    marginal_price_eur_mwh: float | None


class Accept(msgspec.Struct, frozen=True, gc=False):
    """Site -> aggregator: the award of this round will be delivered."""

    step: int
    power_kw: float
    reserve_kw: float


class Decline(msgspec.Struct, frozen=True, gc=False):
    """Site -> aggregator: the award cannot be delivered; the site drops out of the step."""

    step: int
    reason: str



MERIT_ORDER_KINDS: tuple[type[msgspec.Struct], ...] = (
    CallForBids, Bid, Award, Accept, Decline,
)
"""Every message kind of this protocol, for registering with a runtime (the step's
outcome, ``StepCleared``, is the dispatch outcome shared with ADMM:
:mod:`vpp.coordination.dispatch`)."""
