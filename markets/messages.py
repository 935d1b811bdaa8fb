"""Message kinds of the market agents (see ``docs/protocols/markets.md``).

Units: power per delivery period in MW (an hour's MW is that many MWh), prices in
EUR/MWh, capacity prices in EUR/MW/h, money in EUR, times in simulated seconds.
Enumerated fields (``side``, ``order_type``, ``product``) are plain strings so that a bad
value reaches the market and is rejected by message with a reason, not dropped unseen.
"""

from __future__ import annotations

import msgspec

CONTINUOUS_TRADES_TOPIC = "market.continuous.trades"
"""Topic of the public trade tape of the continuous market."""
CONTINUOUS_DEPTH_TOPIC = "market.continuous.depth"
"""Topic of the continuous market's depth snapshots."""
DAY_AHEAD_PRICES_TOPIC = "market.day_ahead.prices"
"""Topic of the day-ahead clearing prices."""
ANCILLARY_RESULTS_TOPIC = "market.ancillary.results"
"""Topic of the ancillary procurement results."""


# -- continuous market ---------------------------------------------------------------
class SubmitOrder(msgspec.Struct, frozen=True):
    """Participant -> market: a new order for one delivery period.

    ``side``: ``buy`` | ``sell``; ``order_type``: ``limit`` | ``market`` | ``ioc`` | ``fok``;
    ``price_eur_mwh`` is None for a market order.
    """

    order_id: int
    delivery_period: str
    side: str
    quantity_mw: float
    price_eur_mwh: float | None = None
    order_type: str = "limit"


class CancelOrder(msgspec.Struct, frozen=True):
    """Participant -> market: remove a resting order."""

    order_id: int
    delivery_period: str


class ModifyOrder(msgspec.Struct, frozen=True):
    """Participant -> market: a new price and/or remaining quantity (None keeps it)."""

    order_id: int
    delivery_period: str
    price_eur_mwh: float | None = None
    quantity_mw: float | None = None


class OrderAck(msgspec.Struct, frozen=True):
    """Market -> participant: a submit, cancel or modify was accepted (``action``)."""

    order_id: int
    exchange_order_id: int
    delivery_period: str
    action: str
    filled_mw: float
    resting_mw: float
    cancelled_mw: float
    time_s: int


class OrderRejected(msgspec.Struct, frozen=True):
    """Market -> participant: the message was refused; ``reason`` names the field."""

    order_id: int
    delivery_period: str
    action: str
    reason: str


class TradeReport(msgspec.Struct, frozen=True):
    """Market -> each side's owner: one execution of its order.

    ``aggressor`` is True when this side's incoming order took liquidity.
    """

    order_id: int
    exchange_order_id: int
    delivery_period: str
    trade_id: int
    side: str
    price_eur_mwh: float
    quantity_mw: float
    aggressor: bool
    time_s: int


class PublicTrade(msgspec.Struct, frozen=True):
    """Published on :data:`CONTINUOUS_TRADES_TOPIC`: one execution, anonymous."""

    delivery_period: str
    trade_id: int
    price_eur_mwh: float
    quantity_mw: float
    aggressor_side: str
    time_s: int


class PriceLevel(msgspec.Struct, array_like=True, frozen=True):
    """One aggregated level of a book: ``quantity_mw`` at ``price_eur_mwh``."""

    price_eur_mwh: float
    quantity_mw: float


class BookDepth(msgspec.Struct, frozen=True):
    """Published on :data:`CONTINUOUS_DEPTH_TOPIC`: the best levels, best first."""

    delivery_period: str
    time_s: int
    bids: list[PriceLevel]
    asks: list[PriceLevel]


# -- day-ahead auction ---------------------------------------------------------------
class CurveStep(msgspec.Struct, array_like=True, frozen=True):
    """One step of a bid curve: ``quantity_mw`` > 0 sells, < 0 buys, at a limit price."""

    quantity_mw: float
    price_eur_mwh: float


class HourlyCurve(msgspec.Struct, frozen=True):
    """The step curve of one delivery hour."""

    hour: int
    steps: list[CurveStep]


class DayAheadBid(msgspec.Struct, frozen=True):
    """Participant -> market: its whole bid (replaces an earlier one of the same sender)."""

    bid_id: str
    curves: list[HourlyCurve]


class BidAck(msgspec.Struct, frozen=True):
    """Market -> participant: a day-ahead bid or ancillary offer was recorded.

    ``steps``: curve steps (or 1 for an offer); ``replaced``: it replaced an earlier one.
    """

    bid_id: str
    market: str
    steps: int
    replaced: bool


class BidRejected(msgspec.Struct, frozen=True):
    """Market -> participant: a bid or offer was refused; ``reason`` names the field."""

    bid_id: str
    market: str
    reason: str


class HourPosition(msgspec.Struct, frozen=True):
    """A participant's cleared position in one hour (net = ``sold_mw - bought_mw``)."""

    hour: int
    sold_mw: float
    bought_mw: float
    clearing_price_eur_mwh: float | None   # None: no price (a one-sided hour)
    cash_eur: float

    @property
    def net_mw(self) -> float:
        """Sold minus bought, MW (positive: the participant injects)."""
        return self.sold_mw - self.bought_mw


class DayAheadResult(msgspec.Struct, frozen=True):
    """Market -> each bidder after clearing: its position per hour it bid in."""

    auction_id: str
    bid_id: str
    positions: list[HourPosition]


class HourPrice(msgspec.Struct, frozen=True):
    """The clearing of one hour, with the interval of prices that clear it.

    ``clearing_price_eur_mwh`` is None when no price is published: an hour with orders on
    one side only (``one_sided``), see ``docs/protocols/markets.md``.
    """

    hour: int
    clearing_price_eur_mwh: float | None
    volume_mwh: float
    price_low_eur_mwh: float
    price_high_eur_mwh: float
    determinate: bool
    one_sided: bool = False


class DayAheadPrices(msgspec.Struct, frozen=True):
    """Published on :data:`DAY_AHEAD_PRICES_TOPIC` after clearing."""

    auction_id: str
    hours: list[HourPrice]


# -- ancillary services ----------------------------------------------------------------
class AncillaryOffer(msgspec.Struct, frozen=True):
    """Provider -> market: ``capacity_mw`` of ``product`` at ``price_eur_mw_h``."""

    offer_id: str
    product: str
    capacity_mw: float
    price_eur_mw_h: float
    divisible: bool = True


class AncillaryAward(msgspec.Struct, frozen=True):
    """Market -> provider: what was accepted of an offer (zero awards too)."""

    offer_id: str
    product: str
    awarded_mw: float
    price_eur_mw_h: float
    hours: float
    payment_eur: float


class AncillaryResult(msgspec.Struct, frozen=True):
    """Published on :data:`ANCILLARY_RESULTS_TOPIC`: one product's procurement."""

    auction_id: str
    product: str
    requirement_mw: float
    procured_mw: float
    shortfall_mw: float
    marginal_price_eur_mw_h: float | None


MARKET_KINDS: tuple[type[msgspec.Struct], ...] = (
    SubmitOrder, CancelOrder, ModifyOrder, OrderAck, OrderRejected, TradeReport,
    PublicTrade, BookDepth, DayAheadBid, BidAck, BidRejected, DayAheadResult,
    DayAheadPrices, AncillaryOffer, AncillaryAward, AncillaryResult,
)
"""Every market message kind, for registering with a runtime."""
