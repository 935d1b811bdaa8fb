"""Trader agents: a :class:`TradingEngine` whose orders go to the market agents by message.

:class:`TraderAgent` runs a strategy with its portfolio and pre-trade risk checks
(``markets/trading/``) and trades on the market agents of ``agents/markets/exchange.py``: intraday
orders as ``SubmitOrder`` to the continuous market (delivery period ``h<hour>``; ``ioc``
at the limit, ``market`` without one), tomorrow's day-ahead orders as one
``DayAheadBid`` to that day's auction (a market buy is bid at the price cap, a market sell
at the floor). Fills come back as ``TradeReport`` and ``DayAheadResult``; what did not
trade (an ``OrderAck`` with nothing filled, an ``OrderRejected``, a ``BidRejected``) is
recorded as not filled. FCR capacity is not traded by message (the engine's backtest
covers it): such orders are refused as ``not_by_message``.

:class:`ReplayAgent` makes the markets trade at the historical prices: before each hour
it rests a deep bid and ask around the hour's intraday price in the continuous book, and
for each auction it bids a deep step at the hour's day-ahead price on both sides, so
that the auction clears at that price and a price-taking trader is filled in full.

Both take live prices when given ``price_feeds`` (feed name -> market data series):
every :class:`~agents.ops.feeds.FeedValue` on ``feed_topic`` is written into the agent's
own copy of the data (:class:`~agents.price_feed.PriceBoard`), so a trader's next
decision sees the published prices in its :class:`MarketView` and the replay quotes
them (``docs/operations.md``).

Whoever runs the simulation moves the clock and calls :meth:`TraderAgent.on_hour`
(as the swarm's model steps its aggregator); see ``docs/trading.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping

import msgspec
from vpp.agents.markets.price_feed import PriceBoard
from vpp.agents.ops.feeds import FeedValue
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.markets.day_ahead import AuctionRules
from vpp.markets.messages import (
    BidAck,
    BidRejected,
    CurveStep,
    DayAheadBid,
    DayAheadResult,
    HourlyCurve,
    OrderAck,
    OrderRejected,
    SubmitOrder,
    TradeReport,
)
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import (
    DAY_AHEAD_PUBLICATION_HOUR,
    MarketData,
    MarketView,
)
from vpp.markets.trading.types import Fill, Order, Rejection

__all__ = ["ReplayAgent", "TraderAgent", "delivery_period"]

log = logging.getLogger(__name__)

_PRICE_TICK = 0.01


def delivery_period(hour: int) -> str:
    """The continuous market's name of a delivery hour."""
    return f"h{hour}"


def _on_tick(price: float, side: str) -> float:
    """A limit price on the 0.01 EUR/MWh grid, rounded to the cautious side."""
    ticks = price / _PRICE_TICK
    ticks = math.floor(ticks + 1e-9) if side == "buy" else math.ceil(ticks - 1e-9)
    return round(ticks * _PRICE_TICK, 2)


class TraderAgent(Agent):
    """A trader: strategy, portfolio and risk (an engine), trading by message.

    Args:
        name: the agent's name.
        engine: the engine (strategy, portfolio, risk limits).
        data: the market data the trader's :class:`MarketView` reads (what is published).
        continuous_market: address of the continuous market agent.
        day_ahead_market: the address of the auction for a day's delivery (a function of
            the delivery day).
        rules: the auction's price floor and cap (for market orders).
        price_feeds: feed name -> the series of ``data`` its values replace (e.g.
            ``{"epex": "intraday_eur_mwh"}``); None: the data as given.
        feed_topic: the topic those feeds are published on.
    """

    role = "trader"

    def __init__(self, name: str, engine: TradingEngine, data: MarketData, *,
                 continuous_market: str, day_ahead_market: Callable[[int], str],
                 rules: AuctionRules = AuctionRules(),
                 price_feeds: Mapping[str, str] | None = None,
                 feed_topic: str = "feed.prices") -> None:
        super().__init__(name)
        self.engine = engine
        self.feed_topic = feed_topic
        self.prices, self.data = _board(self, data, price_feeds, feed_topic)
        self.continuous_market = continuous_market
        self.day_ahead_market = day_ahead_market
        self.rules = rules
        self.now = -1
        self._next_id = 0
        self._intraday: dict[int, Order] = {}          # our order id -> order
        self._day_ahead: dict[str, list[Order]] = {}    # bid id -> its orders
        self._results: list[DayAheadResult] = []
        self._awaiting: set[str] = set()                 # bid ids without a result yet
        self._unacked: set[str] = set()                  # bid ids without an answer yet
        self.open_orders = 0
        self._fill_expected_mw = 0.0
        self._fill_received_mw = 0.0
        self.valuation: tuple[float, float] = (0.0, 0.0)
        self.on(TradeReport, self._on_trade)
        self.on(OrderAck, self._on_ack)
        self.on(OrderRejected, self._on_order_rejected)
        self.on(BidAck, lambda env, ack: self._unacked.discard(ack.bid_id))
        self.on(BidRejected, self._on_bid_rejected)
        self.on(DayAheadResult, self._on_result)

    def started(self) -> None:
        """Subscribe to the price feeds' topic, if any."""
        _subscribe(self)

    @property
    def waiting(self) -> bool:
        """True while an order or bid has no answer (or not all its trades) yet."""
        return self.open_orders > 0 or bool(self._unacked) or \
            abs(self._fill_expected_mw - self._fill_received_mw) > 1e-9

    @property
    def awaiting_results(self) -> bool:
        """True while a day-ahead bid has no result yet."""
        return bool(self._awaiting)

    def _on_result(self, envelope: Envelope, result: DayAheadResult) -> None:
        self._awaiting.discard(result.bid_id)
        self._results.append(result)

    def on_hour(self, now: int) -> None:
        """Deliver hour ``now``, book tomorrow's day-ahead result at publication, decide,
        and send the orders."""
        self.now = now
        engine = self.engine
        engine.deliver(now, float(self.data.intraday_eur_mwh[now]))
        if now % 24 == DAY_AHEAD_PUBLICATION_HOUR:
            self._book_day_ahead()
        view = MarketView(self.data, now)
        self.valuation = engine.portfolio.valuation(view)
        equity = self.valuation[0]
        bid_orders = []
        for order in engine.decide(view, equity):
            engine.sent.append(order)
            if order.market == "intraday":
                self._submit(order)
            elif order.market == "day_ahead":
                engine.hold(order)
                bid_orders.append(order)
            else:
                engine.rejections.append(Rejection(order, "not_by_message",
                                                   f"not_by_message: {order.market} is not "
                                                   f"traded by message"))
        if bid_orders:
            self._bid(bid_orders)

    # -- sending -----------------------------------------------------------------------
    def _submit(self, order: Order) -> None:
        self._next_id += 1
        self._intraday[self._next_id] = order
        self.open_orders += 1
        if order.limit_price_eur_mwh is None:
            msg = SubmitOrder(self._next_id, delivery_period(order.delivery_hour), order.side,
                              order.quantity_mw, None, "market")
        else:
            msg = SubmitOrder(self._next_id, delivery_period(order.delivery_hour), order.side,
                              order.quantity_mw, _on_tick(order.limit_price_eur_mwh,
                                                          order.side), "ioc")
        self.send(self.continuous_market, msg, conversation="continuous")

    def _bid(self, orders: list[Order]) -> None:
        day = orders[0].delivery_hour // 24
        curves = []
        for order in orders:
            if order.limit_price_eur_mwh is not None:
                price = order.limit_price_eur_mwh
            else:
                price = (self.rules.price_cap_eur_mwh if order.side == "buy"
                         else self.rules.price_floor_eur_mwh)
            curves.append(HourlyCurve(order.delivery_hour, [CurveStep(
                order.quantity_mw if order.side == "sell" else -order.quantity_mw, price)]))
        bid_id = f"{self.name}-{day}"
        self._day_ahead[bid_id] = orders
        self._awaiting.add(bid_id)
        self._unacked.add(bid_id)
        self.send(self.day_ahead_market(day), DayAheadBid(bid_id, curves),
                  conversation="day-ahead")

    # -- answers -----------------------------------------------------------------------
    def _on_trade(self, envelope: Envelope, report: TradeReport) -> None:
        order = self._intraday.get(report.order_id)
        if order is None:
            self.log.warning("%s: trade report for unknown order %s", self.name, report.order_id)
            return
        self._fill_received_mw += report.quantity_mw
        part = msgspec.structs.replace(order, quantity_mw=report.quantity_mw)
        self.engine.filled(Fill(part, report.price_eur_mwh,
                                report.quantity_mw * self.engine.fees.of("intraday")))

    def _on_ack(self, envelope: Envelope, ack: OrderAck) -> None:
        order = self._intraday.get(ack.order_id)
        if order is None or ack.action != "submit":
            return
        self.open_orders -= 1
        self._fill_expected_mw += ack.filled_mw
        if ack.cancelled_mw > 0:
            part = msgspec.structs.replace(order, quantity_mw=ack.cancelled_mw)
            self.engine.not_filled(Rejection(part, "not_filled",
                                             f"not_filled: {ack.cancelled_mw} MW found no "
                                             f"counterpart within the limit"))

    def _on_order_rejected(self, envelope: Envelope, rejected: OrderRejected) -> None:
        order = self._intraday.get(rejected.order_id)
        if order is None:
            return
        self.open_orders -= 1
        self.engine.not_filled(Rejection(order, "market_rejected",
                                         f"market_rejected: {rejected.reason}"))

    def _on_bid_rejected(self, envelope: Envelope, rejected: BidRejected) -> None:
        self._awaiting.discard(rejected.bid_id)
        self._unacked.discard(rejected.bid_id)
        for order in self._day_ahead.pop(rejected.bid_id, []):
            self.engine.not_filled(Rejection(order, "market_rejected",
                                             f"market_rejected: {rejected.reason}"))

    def _book_day_ahead(self) -> None:
        """Turn the auction results into fills of the pending day-ahead orders."""
        fee = self.engine.fees.of("day_ahead")
        for result in self._results:
            orders = {o.delivery_hour: o for o in self._day_ahead.pop(result.bid_id, [])}
            for pos in result.positions:
                order = orders.pop(pos.hour, None)
                if order is None:
                    continue
                filled = pos.sold_mw if order.side == "sell" else pos.bought_mw
                if filled > 0:
                    part = msgspec.structs.replace(order, quantity_mw=round(filled, 6))
                    self.engine.filled(Fill(part, pos.clearing_price_eur_mwh, filled * fee))
                if order.quantity_mw - filled > 1e-9:
                    rest = msgspec.structs.replace(order, quantity_mw=order.quantity_mw - filled)
                    self.engine.not_filled(Rejection(rest, "not_filled",
                                                     "not_filled: the auction did not clear it"))
            for order in orders.values():
                self.engine.not_filled(Rejection(order, "not_filled",
                                                 "not_filled: no result for its hour"))
        self._results.clear()


def _board(agent: Agent, data: MarketData, feeds: Mapping[str, str] | None,
           topic: str) -> tuple[PriceBoard | None, MarketData]:
    """A price board taking ``agent``'s feed values (``topic`` is subscribed to when the
    agent is hosted), and the data the agent reads from now on."""
    if not feeds:
        return None, data
    board = PriceBoard(data, feeds)
    agent.on(FeedValue, lambda envelope, value: board.take(value))
    return board, board.data


def _subscribe(agent: TraderAgent | ReplayAgent) -> None:
    if agent.prices is not None:
        agent.host.subscribe(agent, agent.feed_topic)


class ReplayAgent(Agent):
    """Makes the market agents trade at the historical prices (a deep market maker).

    Args:
        name: the agent's name.
        data: the prices to replay.
        continuous_market: address of the continuous market.
        depth_mw: the quantity on each side (far more than any trader's).
        price_feeds, feed_topic: live prices, as for :class:`TraderAgent` (the replay
            then quotes the published intraday price).
    """

    role = "replay"

    def __init__(self, name: str, data: MarketData, *, continuous_market: str,
                 depth_mw: float = 10_000.0, price_feeds: Mapping[str, str] | None = None,
                 feed_topic: str = "feed.prices") -> None:
        super().__init__(name)
        self.feed_topic = feed_topic
        self.prices, self.data = _board(self, data, price_feeds, feed_topic)
        self.continuous_market = continuous_market
        self.depth_mw = depth_mw
        self._next_id = 0
        self.answers = 0
        for kind in (OrderAck, OrderRejected, TradeReport, BidAck, BidRejected,
                     DayAheadResult):
            self.on(kind, self._count)

    def started(self) -> None:
        """Subscribe to the price feeds' topic, if any."""
        _subscribe(self)

    def _count(self, envelope: Envelope, body: msgspec.Struct) -> None:
        if isinstance(body, (OrderAck, OrderRejected, BidAck, BidRejected)):
            self.answers += 1
        if isinstance(body, (OrderRejected, BidRejected)):
            self.log.warning("%s: the market refused the replay: %s", self.name, body.reason)

    def quote(self, hour: int) -> None:
        """Rest the bid and ask of ``hour`` (on the 0.01 grid) in the continuous book."""
        mid = float(self.data.intraday_eur_mwh[hour])
        half = self.data.intraday_half_spread_eur_mwh
        for side, price in (("buy", _on_tick(mid - half, "buy")),
                            ("sell", _on_tick(mid + half, "sell"))):
            self._next_id += 1
            self.send(self.continuous_market, SubmitOrder(
                self._next_id, delivery_period(hour), side, self.depth_mw, price, "limit"),
                conversation="continuous")

    def bid_day(self, auction: str, hours: range) -> None:
        """Bid a deep step at each hour's day-ahead price, on both sides."""
        curves = [HourlyCurve(h, [CurveStep(self.depth_mw, float(self.data.day_ahead_eur_mwh[h])),
                                  CurveStep(-self.depth_mw,
                                            float(self.data.day_ahead_eur_mwh[h]))])
                  for h in hours]
        self.send(auction, DayAheadBid(f"replay-{hours.start // 24}", curves),
                  conversation="day-ahead")
