"""Continuous order book with price-time priority, one book per delivery period.

Prices and quantities are integer ticks (see :mod:`vpp.markets.order_types` for the
conversions from EUR/MWh and MW).  Time is the caller's clock in integer seconds
(a simulated or a wall clock; the book never reads the system time).

Rules:

* Matching: an incoming order trades against the best opposite price first and,
  within a price level, the oldest order first.  Every trade is at the resting
  order's price and records the incoming order's side as the aggressor.
* Order types: ``limit`` (the remainder rests), ``market`` (no price; trades at
  any price, the remainder is cancelled), ``ioc`` (limit price, the remainder is
  cancelled) and ``fok`` (limit price; fills completely at once or is rejected
  with no trade).
* Modify sets a new price and/or a new remaining quantity.  Reducing the quantity
  at the same price keeps time priority; raising it or changing the price is a
  cancel plus a new limit order with the same id, which loses time priority and
  may trade at once.  A modify to quantity 0 is a cancel.
* Gate closure: from ``gate_closure_s`` on, submits and modifies are rejected
  with the reason ``"gate closed ..."``; cancels are still accepted.
* Rejections (duplicate id, bad field, unknown order, FOK not fillable, gate
  closed) are reported in the result with a reason naming the field; they never
  raise.  There is no self-trade prevention.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, insort
from collections import deque

from vpp.markets.order_types import (
    CancelReport,
    DepthSnapshot,
    OrderReport,
    OrderType,
    Side,
    Trade,
)

__all__ = ["OrderBook", "ContinuousMarket"]

logger = logging.getLogger(__name__)

_ORDER_TYPES = frozenset(("limit", "market", "ioc", "fok"))


class _Resting:
    """A resting order; ``quantity`` 0 marks a cancelled order left lazily in its queue."""

    __slots__ = ("order_id", "is_buy", "price", "quantity", "owner")

    def __init__(self, order_id: int, is_buy: bool, price: int, quantity: int, owner: str):
        self.order_id = order_id
        self.is_buy = is_buy
        self.price = price
        self.quantity = quantity
        self.owner = owner


class _BookSide:
    """One side: sorted price keys (best last), a FIFO queue and the volume per level."""

    __slots__ = ("keys", "queues", "volume", "sign")

    def __init__(self, is_buy: bool):
        self.keys: list[int] = []  # key = price for bids, -price for asks; best = keys[-1]
        self.queues: dict[int, deque[_Resting]] = {}
        self.volume: dict[int, int] = {}
        self.sign = 1 if is_buy else -1

    def add(self, order: _Resting) -> None:
        """Append an order at the back of its price level (creating the level)."""
        price = order.price
        queue = self.queues.get(price)
        if queue is None:
            self.queues[price] = deque((order,))
            self.volume[price] = order.quantity
            insort(self.keys, self.sign * price)
        else:
            queue.append(order)
            self.volume[price] += order.quantity

    def drop_level(self, price: int) -> None:
        """Remove an emptied price level."""
        del self.queues[price]
        del self.volume[price]
        keys = self.keys
        key = self.sign * price
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def levels(self, n: int) -> list[tuple[int, int]]:
        """The best ``n`` levels as (price, quantity) ticks, best first."""
        sign, volume = self.sign, self.volume
        return [(sign * k, volume[sign * k]) for k in reversed(self.keys[-n:])] if n else []


class OrderBook:
    """The order book of one delivery period (see the module docstring for the rules).

    ``gate_closure_s``: clock time (s) from which new orders are rejected;
    ``min_price``/``max_price``: the allowed price range in ticks.
    """

    def __init__(
        self,
        gate_closure_s: int,
        delivery_period: str = "",
        min_price: int = -999_900,
        max_price: int = 999_900,
    ) -> None:
        self.delivery_period = delivery_period
        self.gate_closure_s = gate_closure_s
        self.min_price = min_price
        self.max_price = max_price
        self._bids = _BookSide(True)
        self._asks = _BookSide(False)
        self._orders: dict[int, _Resting] = {}
        self._next_trade_id = 1

    # -- queries --------------------------------------------------------------------
    def best_bid(self) -> int | None:
        """Best bid price in ticks, or None when there is no bid."""
        keys = self._bids.keys
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        """Best ask price in ticks, or None when there is no ask."""
        keys = self._asks.keys
        return -keys[-1] if keys else None

    def depth(self, time_s: int, levels: int = 10) -> DepthSnapshot:
        """Aggregated quantity of the best ``levels`` price levels per side."""
        return DepthSnapshot(time_s, self._bids.levels(levels), self._asks.levels(levels))

    def resting_quantity(self, order_id: int) -> int:
        """Remaining quantity (ticks) of a resting order, 0 when it is not in the book."""
        order = self._orders.get(order_id)
        return order.quantity if order is not None else 0

    def __len__(self) -> int:
        return len(self._orders)

    # -- order entry ------------------------------------------------------------------
    def _reject(self, order_id: int, reason: str) -> OrderReport:
        logger.debug("order %s rejected: %s", order_id, reason)
        return OrderReport(order_id, False, reason=reason)

    def submit(
        self,
        order_id: int,
        side: Side,
        quantity: int,
        price: int | None = None,
        order_type: OrderType = "limit",
        time_s: int = 0,
        owner: str = "",
    ) -> OrderReport:
        """Enter an order; returns its fills, resting and cancelled ticks, or the rejection."""
        if time_s >= self.gate_closure_s:
            return self._reject(
                order_id,
                f"gate closed for delivery period {self.delivery_period!r} at "
                f"{self.gate_closure_s} s (order time {time_s} s)",
            )
        if order_id in self._orders:
            return self._reject(order_id, f"order_id: {order_id} is already resting")
        if type(quantity) is not int or quantity <= 0:
            return self._reject(order_id, f"quantity: {quantity!r} must be a positive int of ticks")
        if side == "buy":
            is_buy = True
        elif side == "sell":
            is_buy = False
        else:
            return self._reject(order_id, f"side: {side!r} must be 'buy' or 'sell'")
        if order_type == "market":
            if price is not None:
                return self._reject(order_id, "price: a market order takes no price")
            limit = self.max_price if is_buy else self.min_price
        elif order_type in _ORDER_TYPES:
            if type(price) is not int or not self.min_price <= price <= self.max_price:
                return self._reject(
                    order_id,
                    f"price: {price!r} must be an int of ticks in "
                    f"[{self.min_price}, {self.max_price}]",
                )
            limit = price
        else:
            return self._reject(order_id, f"order_type: {order_type!r} is not one of {sorted(_ORDER_TYPES)}")
        if order_type == "fok" and self._available(is_buy, limit, quantity) < quantity:
            return self._reject(order_id, "fok: not enough opposite quantity to fill completely")
        trades: list[Trade] = []
        remaining = self._match(order_id, is_buy, quantity, limit, time_s, trades)
        if remaining and order_type == "limit":
            order = _Resting(order_id, is_buy, limit, remaining, owner)
            self._orders[order_id] = order
            (self._bids if is_buy else self._asks).add(order)
            return OrderReport(order_id, True, quantity - remaining, remaining, 0, trades)
        return OrderReport(order_id, True, quantity - remaining, 0, remaining, trades)

    def _available(self, is_buy: bool, limit: int, wanted: int) -> int:
        """Opposite quantity at prices acceptable to ``limit``, summed until ``wanted``."""
        opposite = self._asks if is_buy else self._bids
        sign, volume = opposite.sign, opposite.volume
        total = 0
        for key in reversed(opposite.keys):
            price = sign * key
            if (price > limit) if is_buy else (price < limit):
                break
            total += volume[price]
            if total >= wanted:
                break
        return total

    def _match(
        self, order_id: int, is_buy: bool, quantity: int, limit: int, time_s: int,
        trades: list[Trade],
    ) -> int:
        """Trade ``quantity`` against the opposite side up to ``limit``; return the remainder."""
        opposite = self._asks if is_buy else self._bids
        keys, queues, volume, sign = opposite.keys, opposite.queues, opposite.volume, opposite.sign
        orders = self._orders
        aggressor: Side = "buy" if is_buy else "sell"
        while quantity and keys:
            price = sign * keys[-1]
            if (price > limit) if is_buy else (price < limit):
                break
            queue = queues[price]
            while quantity and queue:
                resting = queue[0]
                available = resting.quantity
                if available == 0:  # cancelled earlier, removed lazily
                    queue.popleft()
                    continue
                fill = quantity if quantity < available else available
                trade_id = self._next_trade_id
                self._next_trade_id = trade_id + 1
                if is_buy:
                    trades.append(Trade(trade_id, time_s, order_id, resting.order_id, price, fill, aggressor))
                else:
                    trades.append(Trade(trade_id, time_s, resting.order_id, order_id, price, fill, aggressor))
                quantity -= fill
                volume[price] -= fill
                if fill == available:
                    resting.quantity = 0
                    queue.popleft()
                    del orders[resting.order_id]
                else:
                    resting.quantity = available - fill
            if volume[price] == 0:
                opposite.drop_level(price)
        return quantity

    def cancel(self, order_id: int, time_s: int = 0) -> CancelReport:
        """Remove a resting order (allowed after gate closure too)."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return CancelReport(order_id, False, reason=f"order_id: {order_id} is not resting")
        side = self._bids if order.is_buy else self._asks
        cancelled = order.quantity
        order.quantity = 0
        price = order.price
        left = side.volume[price] - cancelled
        if left:
            side.volume[price] = left
        else:
            side.drop_level(price)
        return CancelReport(order_id, True, cancelled)

    def modify(
        self,
        order_id: int,
        time_s: int,
        price: int | None = None,
        quantity: int | None = None,
    ) -> OrderReport:
        """Change a resting order's price and/or remaining quantity (see the priority rule)."""
        if time_s >= self.gate_closure_s:
            return self._reject(
                order_id,
                f"gate closed for delivery period {self.delivery_period!r} at "
                f"{self.gate_closure_s} s (modify time {time_s} s)",
            )
        order = self._orders.get(order_id)
        if order is None:
            return self._reject(order_id, f"order_id: {order_id} is not resting")
        new_price = order.price if price is None else price
        new_quantity = order.quantity if quantity is None else quantity
        if type(new_quantity) is not int or new_quantity < 0:
            return self._reject(order_id, f"quantity: {quantity!r} must be an int of ticks >= 0")
        if type(new_price) is not int or not self.min_price <= new_price <= self.max_price:
            return self._reject(
                order_id,
                f"price: {price!r} must be an int of ticks in [{self.min_price}, {self.max_price}]",
            )
        if new_quantity == 0:
            report = self.cancel(order_id, time_s)
            return OrderReport(order_id, True, 0, 0, report.cancelled)
        if new_price == order.price and new_quantity <= order.quantity:
            side = self._bids if order.is_buy else self._asks
            side.volume[new_price] -= order.quantity - new_quantity
            order.quantity = new_quantity
            return OrderReport(order_id, True, 0, new_quantity, 0)
        self.cancel(order_id, time_s)
        return self.submit(
            order_id, "buy" if order.is_buy else "sell", new_quantity, new_price, "limit",
            time_s, order.owner,
        )


class ContinuousMarket:
    """Order books per delivery period, each closing ``gate_closure_lead_s`` before delivery."""

    def __init__(self, gate_closure_lead_s: int = 300, min_price: int = -999_900,
                 max_price: int = 999_900) -> None:
        self.gate_closure_lead_s = gate_closure_lead_s
        self.min_price = min_price
        self.max_price = max_price
        self.books: dict[str, OrderBook] = {}

    def open_period(self, delivery_period: str, delivery_start_s: int) -> OrderBook:
        """Open the book of a delivery period starting at ``delivery_start_s`` (clock seconds)."""
        if delivery_period in self.books:
            raise ValueError(f"delivery_period: {delivery_period!r} is already open")
        book = OrderBook(delivery_start_s - self.gate_closure_lead_s, delivery_period,
                         self.min_price, self.max_price)
        self.books[delivery_period] = book
        return book

    def submit(self, delivery_period: str, order_id: int, side: Side, quantity: int,
               price: int | None = None, order_type: OrderType = "limit", time_s: int = 0,
               owner: str = "") -> OrderReport:
        """Enter an order for a delivery period (rejected if that period is not open)."""
        book = self.books.get(delivery_period)
        if book is None:
            return OrderReport(order_id, False,
                               reason=f"delivery_period: {delivery_period!r} is not open")
        return book.submit(order_id, side, quantity, price, order_type, time_s, owner)

    def cancel(self, delivery_period: str, order_id: int, time_s: int = 0) -> CancelReport:
        """Cancel a resting order of a delivery period."""
        book = self.books.get(delivery_period)
        if book is None:
            return CancelReport(order_id, False,
                                reason=f"delivery_period: {delivery_period!r} is not open")
        return book.cancel(order_id, time_s)

    def modify(self, delivery_period: str, order_id: int, time_s: int,
               price: int | None = None, quantity: int | None = None) -> OrderReport:
        """Modify a resting order of a delivery period (same priority rule as the book)."""
        book = self.books.get(delivery_period)
        if book is None:
            return OrderReport(order_id, False,
                               reason=f"delivery_period: {delivery_period!r} is not open")
        return book.modify(order_id, time_s, price, quantity)
