"""The continuous market as a session: orders by message in, acks, trades and depth out.

Wraps :class:`vpp.markets.order_book.ContinuousMarket`. Participants name their orders with
their own ids; the session maps ``(participant, delivery period, order id)`` to an
exchange order id (1, 2, ... in arrival order) and the books see only those, so the
trades are exactly those of driving the books directly with the same ids.
Messages are in MW and EUR/MWh; the books in integer ticks (:class:`TickSize`).
"""

from __future__ import annotations

import logging
import math

from vpp.markets.messages import (
    CONTINUOUS_DEPTH_TOPIC,
    CONTINUOUS_TRADES_TOPIC,
    BookDepth,
    CancelOrder,
    ModifyOrder,
    OrderAck,
    OrderRejected,
    PriceLevel,
    PublicTrade,
    SubmitOrder,
    TradeReport,
)
from vpp.markets.order_book import ContinuousMarket
from vpp.markets.order_types import (
    OrderReport,
    TickSize,
    Trade,
    price_to_ticks,
    quantity_to_ticks,
    ticks_to_price,
    ticks_to_quantity,
)
from vpp.markets.sessions import Out, Outgoing, Publication

__all__ = ["ContinuousSession"]

log = logging.getLogger(__name__)

_SIDES = ("buy", "sell")
_TYPES = ("limit", "market", "ioc", "fok")


class _Invalid(ValueError):
    """An order field that cannot be taken (internal; becomes an OrderRejected)."""


class ContinuousSession:
    """Order books per delivery period, taking orders as messages.

    Args:
        gate_closure_lead_s: each book closes this many seconds before its delivery start.
        tick: the tick grid of prices (EUR/MWh) and quantities (MW).
        depth_levels: levels per side in the published depth snapshots.
    """

    def __init__(self, gate_closure_lead_s: int = 300, tick: TickSize = TickSize(),
                 depth_levels: int = 5) -> None:
        self.market = ContinuousMarket(gate_closure_lead_s)
        self.tick = tick
        self.depth_levels = depth_levels
        self._next_id = 1
        self._exchange: dict[tuple[str, str, int], int] = {}
        self._owner: dict[int, tuple[str, int]] = {}
        self.trades: list[Trade] = []

    def open_period(self, delivery_period: str, delivery_start_s: int) -> None:
        """Open the book of ``delivery_period`` (delivery starts at ``delivery_start_s``)."""
        self.market.open_period(delivery_period, delivery_start_s)

    # -- conversions -------------------------------------------------------------------
    def _quantity(self, quantity_mw: float) -> int:
        if not math.isfinite(quantity_mw):
            raise _Invalid(f"quantity_mw: {quantity_mw} is not a finite number")
        if quantity_mw <= 0:
            raise _Invalid(f"quantity_mw: {quantity_mw} MW must be > 0")
        return quantity_to_ticks(quantity_mw, self.tick)

    def _price(self, price_eur_mwh: float) -> int:
        if not math.isfinite(price_eur_mwh):
            raise _Invalid(f"price_eur_mwh: {price_eur_mwh} is not a finite number")
        ticks = price_to_ticks(price_eur_mwh, self.tick)
        low, high = self.market.min_price, self.market.max_price
        if not low <= ticks <= high:
            raise _Invalid(f"price_eur_mwh: {price_eur_mwh} EUR/MWh is outside "
                           f"[{ticks_to_price(low, self.tick)}, "
                           f"{ticks_to_price(high, self.tick)}]")
        return ticks

    # -- handlers ----------------------------------------------------------------------
    def submit(self, sender: str, order: SubmitOrder, time_s: int) -> list[Out]:
        """Validate and enter an order; return the ack or reject, trade reports and depth."""
        period = order.delivery_period
        try:
            if order.side not in _SIDES:
                raise _Invalid(f"side: {order.side!r} must be one of {list(_SIDES)}")
            if order.order_type not in _TYPES:
                raise _Invalid(f"order_type: {order.order_type!r} must be one of {list(_TYPES)}")
            if order.order_id < 0:
                raise _Invalid(f"order_id: {order.order_id} must be >= 0")
            if (sender, period, order.order_id) in self._exchange:
                raise _Invalid(f"order_id: {order.order_id} was already used for "
                               f"delivery period {period!r}")
            quantity = self._quantity(order.quantity_mw)
            if order.order_type == "market":
                if order.price_eur_mwh is not None:
                    raise _Invalid("price_eur_mwh: a market order takes no price")
                price = None
            elif order.price_eur_mwh is None:
                raise _Invalid(f"price_eur_mwh: a {order.order_type} order needs a price")
            else:
                price = self._price(order.price_eur_mwh)
        except ValueError as exc:  # _Invalid, or an off-grid value from the tick conversion
            return [self._reject(sender, order.order_id, period, "submit", str(exc))]
        exchange_id = self._next_id
        report = self.market.submit(period, exchange_id, order.side, quantity, price,
                                    order.order_type, time_s, sender)
        if not report.accepted:
            return [self._reject(sender, order.order_id, period, "submit", report.reason or "")]
        self._next_id += 1
        self._exchange[(sender, period, order.order_id)] = exchange_id
        self._owner[exchange_id] = (sender, order.order_id)
        return self._accepted(sender, order.order_id, exchange_id, period, "submit",
                              report, time_s)

    def cancel(self, sender: str, order: CancelOrder, time_s: int) -> list[Out]:
        """Cancel a resting order of the sender's (allowed after gate closure too)."""
        period = order.delivery_period
        exchange_id = self._exchange.get((sender, period, order.order_id))
        if exchange_id is None:
            return [self._reject(sender, order.order_id, period, "cancel",
                                 f"order_id: {order.order_id} is not an order of yours for "
                                 f"delivery period {period!r}")]
        report = self.market.cancel(period, exchange_id, time_s)
        if not report.accepted:
            return [self._reject(sender, order.order_id, period, "cancel",
                                 f"order_id: {order.order_id} is not resting")]
        ack = OrderAck(order.order_id, exchange_id, period, "cancel", 0.0, 0.0,
                       ticks_to_quantity(report.cancelled, self.tick), time_s)
        return [Outgoing(sender, ack), self._depth(period, time_s)]

    def modify(self, sender: str, order: ModifyOrder, time_s: int) -> list[Out]:
        """Change a resting order's price and/or remaining quantity."""
        period = order.delivery_period
        exchange_id = self._exchange.get((sender, period, order.order_id))
        if exchange_id is None:
            return [self._reject(sender, order.order_id, period, "modify",
                                 f"order_id: {order.order_id} is not an order of yours for "
                                 f"delivery period {period!r}")]
        try:
            price = None if order.price_eur_mwh is None else self._price(order.price_eur_mwh)
            quantity = None
            if order.quantity_mw is not None:
                if not math.isfinite(order.quantity_mw) or order.quantity_mw < 0:
                    raise _Invalid(f"quantity_mw: {order.quantity_mw} must be a finite "
                                   f"MW value >= 0")
                quantity = quantity_to_ticks(order.quantity_mw, self.tick)
        except ValueError as exc:
            return [self._reject(sender, order.order_id, period, "modify", str(exc))]
        report = self.market.modify(period, exchange_id, time_s, price, quantity)
        if not report.accepted:
            return [self._reject(sender, order.order_id, period, "modify", report.reason or "")]
        return self._accepted(sender, order.order_id, exchange_id, period, "modify",
                              report, time_s)

    # -- output ------------------------------------------------------------------------
    def _reject(self, sender: str, order_id: int, period: str, action: str,
                reason: str) -> Outgoing:
        log.debug("%s %s of %s rejected: %s", action, order_id, sender, reason)
        return Outgoing(sender, OrderRejected(order_id, period, action, reason))

    def _accepted(self, sender: str, order_id: int, exchange_id: int, period: str,
                  action: str, report: OrderReport, time_s: int) -> list[Out]:
        q = self.tick
        out: list[Out] = [Outgoing(sender, OrderAck(
            order_id, exchange_id, period, action, ticks_to_quantity(report.filled, q),
            ticks_to_quantity(report.resting, q), ticks_to_quantity(report.cancelled, q),
            time_s))]
        for trade in report.trades:
            self.trades.append(trade)
            price = ticks_to_price(trade.price, q)
            quantity = ticks_to_quantity(trade.quantity, q)
            for side, ex_id in (("buy", trade.buy_order_id), ("sell", trade.sell_order_id)):
                owner, client_id = self._owner[ex_id]
                out.append(Outgoing(owner, TradeReport(
                    client_id, ex_id, period, trade.trade_id, side, price, quantity,
                    trade.aggressor == side, trade.time_s)))
            out.append(Publication(CONTINUOUS_TRADES_TOPIC, PublicTrade(
                period, trade.trade_id, price, quantity, trade.aggressor, trade.time_s)))
        out.append(self._depth(period, time_s))
        return out

    def _depth(self, period: str, time_s: int) -> Publication:
        snap = self.market.books[period].depth(time_s, self.depth_levels)
        q = self.tick
        return Publication(CONTINUOUS_DEPTH_TOPIC, BookDepth(
            period, time_s,
            [PriceLevel(ticks_to_price(p, q), ticks_to_quantity(v, q)) for p, v in snap.bids],
            [PriceLevel(ticks_to_price(p, q), ticks_to_quantity(v, q)) for p, v in snap.asks]))
