"""The VPP's trader: offers the fleet's flexibility to the markets and keeps its position.

It sends a day-ahead bid built by :mod:`vpp.markets.vpp_offer` from the sites' merit-order
bids, and ancillary offers of its storage capacity; it records what the markets answer.
The cleared day-ahead position per hour becomes the dispatch target: what was sold is
what the aggregator must then serve (:meth:`VppTraderAgent.dispatch_targets_kw`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.markets.day_ahead import AuctionRules
from vpp.markets.messages import (
    AncillaryAward,
    AncillaryOffer,
    BidAck,
    BidRejected,
    DayAheadBid,
    DayAheadResult,
    HourPosition,
)
from vpp.markets.vpp_offer import BidLike, day_ahead_curves, position_to_targets_kw

__all__ = ["VppTraderAgent"]

log = logging.getLogger(__name__)


class VppTraderAgent(Agent):
    """Trades for the VPP on the day-ahead and ancillary markets.

    Args:
        name: the agent's name.
        day_ahead_market: address (``host/name``) of the day-ahead market agent.
        ancillary_market: address of the ancillary market agent, if any.
        rules: the day-ahead rules (price floor and cap) the curves must respect.

    Attributes:
        positions: the cleared position per hour (:class:`HourPosition`).
        reserve_mw: awarded capacity per product (MW).
        acks, rejections: what the markets said about each bid and offer.
    """

    role = "vpp-trader"

    def __init__(self, name: str, day_ahead_market: str, ancillary_market: str | None = None,
                 *, rules: AuctionRules = AuctionRules()) -> None:
        super().__init__(name)
        self.day_ahead_market = day_ahead_market
        self.ancillary_market = ancillary_market
        self.rules = rules
        self.positions: dict[int, HourPosition] = {}
        self.reserve_mw: dict[str, float] = {}
        self.awards: list[AncillaryAward] = []
        self.acks: list[BidAck] = []
        self.rejections: list[BidRejected] = []
        self.result: DayAheadResult | None = None
        self.on(BidAck, lambda env, ack: self.acks.append(ack))
        self.on(BidRejected, self._on_rejected)
        self.on(DayAheadResult, self._on_result)
        self.on(AncillaryAward, self._on_award)

    # -- offering ----------------------------------------------------------------------
    def offer_day_ahead(self, bids_by_hour: Mapping[int, Iterable[BidLike]],
                        bid_id: str = "vpp") -> DayAheadBid:
        """Aggregate the sites' bids per hour into one day-ahead bid and send it."""
        bid = DayAheadBid(bid_id, day_ahead_curves(bids_by_hour, self.rules))
        self.send(self.day_ahead_market, bid, conversation="day-ahead")
        return bid

    def offer_ancillary(self, offer: AncillaryOffer) -> None:
        """Send a capacity offer (see :func:`vpp.markets.vpp_offer.ancillary_offer`)."""
        if self.ancillary_market is None:
            raise RuntimeError(f"trader {self.name} has no ancillary market to offer to")
        self.send(self.ancillary_market, offer, conversation="ancillary")

    # -- answers -----------------------------------------------------------------------
    def _on_rejected(self, envelope: Envelope, rejected: BidRejected) -> None:
        self.log.warning("%s: %s market rejected %s: %s", self.name, rejected.market,
                    rejected.bid_id, rejected.reason)
        self.rejections.append(rejected)

    def _on_result(self, envelope: Envelope, result: DayAheadResult) -> None:
        self.result = result
        for pos in result.positions:
            self.positions[pos.hour] = pos

    def _on_award(self, envelope: Envelope, award: AncillaryAward) -> None:
        self.awards.append(award)
        self.reserve_mw[award.product] = self.reserve_mw.get(award.product, 0.0) + award.awarded_mw

    # -- the position --------------------------------------------------------------------
    @property
    def net_position_mw(self) -> dict[int, float]:
        """Sold minus bought per hour (MW; positive: the VPP must inject)."""
        return {h: p.net_mw for h, p in sorted(self.positions.items())}

    def dispatch_targets_kw(self, hours: Sequence[int], steps_per_hour: int) -> list[float]:
        """The position as one swarm target per step (kW, + inject); 0 where none."""
        return position_to_targets_kw(self.net_position_mw, hours, steps_per_hour)
