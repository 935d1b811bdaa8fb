"""The site's side of the merit-order contract net.

A site turns its devices' live limits into :class:`Offer` s, asks its bidding strategy for a
:class:`~coordination.merit_order.messages.Bid`, and when an award comes checks that it can
deliver it and splits it over its devices, cheapest first.

A bidding strategy is any object with the method of :class:`BiddingStrategy`; a plug-in
names its class in the scenario (``strategy: my_pkg.my_mod:MyBidder``) or registers it under
the entry-point group ``vpp.strategies``. See ``docs/strategies.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import NamedTuple, Protocol, runtime_checkable

from vpp.coordination.merit_order.messages import Bid, CallForBids

TOLERANCE_KW = 1e-6


class Offer(NamedTuple):
    """What one device can do in the window, at the time of asking.

    Attributes:
        device: the device's name within its site.
        p_min_kw: the lowest power (<= 0; negative means it can absorb that much).
        p_max_kw: the highest power (>= 0).
        cost_eur_mwh: the marginal cost of injecting more than the baseline.
        absorb_price_eur_mwh: the price the device asks per MWh it absorbs beyond it.
        baseline_kw: where the device runs when not dispatched, within its limits (0 for
            a generator or an idle store; a load's demand, as a negative number).
    """

    device: str
    p_min_kw: float
    p_max_kw: float
    cost_eur_mwh: float
    absorb_price_eur_mwh: float
    baseline_kw: float = 0.0


@runtime_checkable
class BiddingStrategy(Protocol):
    """The plug-in seam of a site: build a bid from a call and the site's live offers."""

    def bid(self, call: CallForBids, offers: Sequence[Offer]) -> Bid:
        """Return the site's bid for ``call.step``.

        Segments are deviations from the baseline (the sum of ``offer.baseline_kw``):
        positive quantity offers more injection, negative more absorption. Bidding more
        than the offers allow makes the site decline the award later.
        """
        ...


_cost = attrgetter("cost_eur_mwh")
_absorb_price = attrgetter("absorb_price_eur_mwh")


def site_limits(offers: Sequence[Offer]) -> tuple[float, float]:
    """The site's total (lowest, highest) power."""
    low = high = 0.0
    for o in offers:
        low += o.p_min_kw
        high += o.p_max_kw
    return low, high


def check_award(offers: Sequence[Offer], power_kw: float, reserve_kw: float) -> str | None:
    """Why the site cannot deliver ``power_kw`` plus ``reserve_kw`` now, or None if it can."""
    low, high = site_limits(offers)
    return limits_reason(low, high, power_kw, reserve_kw)


def limits_reason(low: float, high: float, power_kw: float, reserve_kw: float) -> str | None:
    """:func:`check_award` on the site's limits already summed (``low``, ``high``: what
    :func:`site_limits` gives)."""
    if power_kw < low - TOLERANCE_KW:
        return f"award {power_kw:.3f} kW is below the site's minimum {low:.3f} kW"
    if power_kw + reserve_kw > high + TOLERANCE_KW:
        return (f"award {power_kw:.3f} kW + reserve {reserve_kw:.3f} kW exceeds the site's "
                f"maximum {high:.3f} kW")
    return None


def split_award(offers: Sequence[Offer], power_kw: float) -> dict[str, float]:
    """Split a site's net set-point over its devices, cheapest first (the merit order).

    Each device starts at its baseline; the deviation from the site's baseline is placed
    by ``cost_eur_mwh`` when it is upward and by ``absorb_price_eur_mwh`` when downward;
    ties go to the earlier device. A deviation that the devices cannot take is not placed
    (the caller checks the award first with :func:`check_award`).
    """
    result = {}
    baseline = 0  # (what sum() of the baselines adds, in the same order)
    for o in offers:  # (one loop, no comprehension: a site calls this every step)
        result[o.device] = base = o.baseline_kw
        baseline += base
    deviation = power_kw - baseline
    if deviation == 0.0:
        return result
    # ranked by (price, position): the same order as sorting the offers by that key; each
    # device's room is max(room, 0.0) and its take min(room, need), written out as the
    # builtins compute them
    if deviation > 0:
        ranked = sorted(zip(map(_cost, offers), range(len(offers))))
        sign = 1.0
    else:
        ranked = sorted(zip(map(_absorb_price, offers), range(len(offers))))
        sign = -1.0
    need = abs(deviation)
    for _, i in ranked:
        if need <= 0.0:
            break
        o = offers[i]
        room = o.p_max_kw - o.baseline_kw if sign > 0 else o.baseline_kw - o.p_min_kw
        if 0.0 > room:
            room = 0.0
        take = need if need < room else room
        result[o.device] += sign * take
        need -= take
    return result


def setpoints(offers: Sequence[Offer], power_kw: float, baseline: float) -> list[float]:
    """:func:`split_award` as a list in the offers' order, for offers with unique device
    names; ``baseline`` is the sum of their ``baseline_kw`` (as ``sum()`` adds them).

    The same operations in the same order: each device starts at its baseline and the
    deviation is placed by price, ties to the earlier device. Two offers are ranked with
    one comparison (what sorting them by (price, position) gives).
    """
    result = []
    for o in offers:  # (a loop, not a comprehension: no frame)
        result.append(o[5])  # baseline_kw
    deviation = power_kw - baseline
    if deviation == 0.0:
        return result
    n = len(offers)
    if deviation > 0:
        price, sign = 3, 1.0  # cost_eur_mwh
    else:
        price, sign = 4, -1.0  # absorb_price_eur_mwh
    if n == 2:
        # sorted() on (price, position) pairs: the second first only when its pair is
        # less, that is when its price is less
        ranked = (1, 0) if offers[1][price] < offers[0][price] else (0, 1)
    else:
        ranked = [i for _, i in sorted(zip([o[price] for o in offers], range(n)))]
    need = abs(deviation)
    for i in ranked:
        if need <= 0.0:
            break
        o = offers[i]
        room = o[2] - o[5] if sign > 0 else o[5] - o[1]
        if 0.0 > room:
            room = 0.0
        take = need if need < room else room
        result[i] += sign * take
        need -= take
    return result
