"""Typed records of the continuous market and the tick conversions.

Prices and quantities inside the order book are integer ticks.  A tick size
states what one tick is worth: by default 0.01 EUR/MWh of price and 0.1 MW of
quantity (the quantity of an order for one delivery period, held for the whole
period).  Conversions refuse values that are not on the tick grid rather than
rounding them silently.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "Side",
    "OrderType",
    "TickSize",
    "Trade",
    "OrderReport",
    "CancelReport",
    "DepthSnapshot",
    "price_to_ticks",
    "ticks_to_price",
    "quantity_to_ticks",
    "ticks_to_quantity",
]

Side = Literal["buy", "sell"]
OrderType = Literal["limit", "market", "ioc", "fok"]

_GRID_TOLERANCE = 1e-9


class TickSize(msgspec.Struct, frozen=True):
    """Value of one tick: ``price_eur_mwh`` EUR/MWh and ``quantity_mw`` MW."""

    price_eur_mwh: float = 0.01
    quantity_mw: float = 0.1


def _to_ticks(value: float, tick: float, field: str, unit: str) -> int:
    """Convert ``value`` to an integer number of ``tick``; refuse off-grid values."""
    if tick <= 0.0:
        raise ValueError(f"{field}: tick size {tick} {unit} must be > 0")
    n = round(value / tick)
    if abs(n * tick - value) > _GRID_TOLERANCE * max(1.0, abs(value)):
        raise ValueError(f"{field}: {value} {unit} is not a multiple of the tick {tick} {unit}")
    return int(n)


def price_to_ticks(price_eur_mwh: float, tick: TickSize = TickSize()) -> int:
    """Price in EUR/MWh to integer price ticks (ValueError when off the tick grid)."""
    return _to_ticks(price_eur_mwh, tick.price_eur_mwh, "price_eur_mwh", "EUR/MWh")


def ticks_to_price(ticks: int, tick: TickSize = TickSize()) -> float:
    """Integer price ticks to EUR/MWh."""
    return round(ticks * tick.price_eur_mwh, 12)


def quantity_to_ticks(quantity_mw: float, tick: TickSize = TickSize()) -> int:
    """Quantity in MW to integer quantity ticks (ValueError when off the tick grid)."""
    return _to_ticks(quantity_mw, tick.quantity_mw, "quantity_mw", "MW")


def ticks_to_quantity(ticks: int, tick: TickSize = TickSize()) -> float:
    """Integer quantity ticks to MW."""
    return round(ticks * tick.quantity_mw, 12)


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One execution: ``quantity`` ticks at the resting order's ``price`` ticks.

    ``aggressor`` is the side of the incoming order that took liquidity.
    """

    trade_id: int
    time_s: int
    buy_order_id: int
    sell_order_id: int
    price: int
    quantity: int
    aggressor: Side


class OrderReport(msgspec.Struct):
    """Outcome of a submit or modify.

    ``accepted`` is False with a ``reason`` when the order was rejected as a whole;
    otherwise ``filled`` ticks traded (``trades``), ``resting`` ticks rest in the
    book and ``cancelled`` ticks were dropped (market/IOC remainder).
    """

    order_id: int
    accepted: bool
    filled: int = 0
    resting: int = 0
    cancelled: int = 0
    trades: list[Trade] = []
    reason: str | None = None


class CancelReport(msgspec.Struct, frozen=True):
    """Outcome of a cancel: ``cancelled`` ticks removed, or a ``reason`` why not."""

    order_id: int
    accepted: bool
    cancelled: int = 0
    reason: str | None = None


class DepthSnapshot(msgspec.Struct, frozen=True):
    """Aggregated book: ``(price ticks, quantity ticks)`` per level, best level first."""

    time_s: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
