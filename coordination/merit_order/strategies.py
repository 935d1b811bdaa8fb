"""Built-in bidding strategies (registered under the entry-point group ``vpp.strategies``)."""

from __future__ import annotations

from collections.abc import Sequence

from vpp.coordination.merit_order.bidding import Offer
from vpp.coordination.merit_order.messages import Bid, BidSegment, CallForBids


class MarginalCostBidder:
    """Bid every device at its marginal cost: the truthful, competitive default.

    Each device gives one injection segment (from its baseline up to ``p_max_kw``, at
    ``cost_eur_mwh``) and one absorption segment (down to ``p_min_kw``, at
    ``absorb_price_eur_mwh``) where it has them.

    Args:
        reserve_price_eur_mw_h: the price asked per MW of upward reserve per hour.
    """

    def __init__(self, reserve_price_eur_mw_h: float = 5.0) -> None:
        self.reserve_price_eur_mw_h = float(reserve_price_eur_mw_h)

    def price_up(self, offer: Offer) -> float:
        """The price of injecting from ``offer``."""
        return offer.cost_eur_mwh

    def price_down(self, offer: Offer) -> float:
        """The price of absorbing into ``offer``."""
        return offer.absorb_price_eur_mwh

    def bid(self, call: CallForBids, offers: Sequence[Offer]) -> Bid:
        """One segment per device and direction, at its price."""
        segments = []
        if type(self) is MarginalCostBidder:  # (the offers' own prices: no method call)
            baseline = 0  # (sum() of the baselines, in the same order)
            for offer in offers:
                base = offer[5]  # baseline_kw
                baseline += base
                up = offer[2] - base  # p_max_kw
                down = offer[1] - base  # p_min_kw
                if up > 0:
                    segments.append(BidSegment(up, offer[3]))  # cost_eur_mwh
                if down < 0:
                    segments.append(BidSegment(down, offer[4]))  # absorb_price_eur_mwh
            return Bid(call.step, segments, self.reserve_price_eur_mw_h, baseline)
        baseline = 0  # (sum() of the baselines, in the same order)
        for offer in offers:
            base = offer.baseline_kw
            baseline += base
            up = offer.p_max_kw - base
            down = offer.p_min_kw - base
            if up > 0:
                segments.append(BidSegment(up, self.price_up(offer)))
            if down < 0:
                segments.append(BidSegment(down, self.price_down(offer)))
        return Bid(call.step, segments, self.reserve_price_eur_mw_h, baseline)


class MarkupBidder(MarginalCostBidder):
    """Bid at marginal cost plus a fixed markup (a simple strategic bidder).

    Args:
        markup_eur_mwh: added to the injection price and to the absorption price.
        reserve_price_eur_mw_h: the price asked per MW of upward reserve per hour.
    """

    def __init__(self, markup_eur_mwh: float = 10.0, reserve_price_eur_mw_h: float = 5.0) -> None:
        super().__init__(reserve_price_eur_mw_h)
        self.markup_eur_mwh = float(markup_eur_mwh)

    def price_up(self, offer: Offer) -> float:
        """Marginal cost plus the markup."""
        return offer.cost_eur_mwh + self.markup_eur_mwh

    def price_down(self, offer: Offer) -> float:
        """Absorption price plus the markup."""
        return offer.absorb_price_eur_mwh + self.markup_eur_mwh
