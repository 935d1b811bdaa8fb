"""A day-ahead participant that sends one bid and keeps what the market answers.

Used for the rest of the market in a scenario run (a price-taking residual curve,
``markets/residual.py``); see ``docs/markets.md``.
"""

from __future__ import annotations

import logging

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.markets.messages import (
    BidAck,
    BidRejected,
    DayAheadBid,
    DayAheadResult,
    HourlyCurve,
)

__all__ = ["DayAheadBidder"]

log = logging.getLogger(__name__)


class DayAheadBidder(Agent):
    """Sends one :class:`DayAheadBid` to a day-ahead market agent; records the answers.

    Args:
        name: the agent's name.
        market: the day-ahead market agent's address (``host/name``).
    """

    role = "market-participant"

    def __init__(self, name: str, market: str) -> None:
        super().__init__(name)
        self.market = market
        self.acks: list[BidAck] = []
        self.rejections: list[BidRejected] = []
        self.result: DayAheadResult | None = None
        self.on(BidAck, lambda env, ack: self.acks.append(ack))
        self.on(BidRejected, self._on_rejected)
        self.on(DayAheadResult, self._on_result)

    def bid(self, curves: list[HourlyCurve], bid_id: str | None = None) -> DayAheadBid:
        """Send ``curves`` as one bid (it replaces any earlier bid of this participant)."""
        body = DayAheadBid(bid_id or self.name, curves)
        self.send(self.market, body, conversation="day-ahead")
        return body

    def _on_rejected(self, envelope: Envelope, rejected: BidRejected) -> None:
        self.log.warning("%s: %s rejected %s: %s", self.name, rejected.market, rejected.bid_id,
                    rejected.reason)
        self.rejections.append(rejected)

    def _on_result(self, envelope: Envelope, result: DayAheadResult) -> None:
        self.result = result
