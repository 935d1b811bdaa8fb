"""Day-ahead auction: hourly uniform-price (pay-as-clear) clearing of step curves.

Units: prices in EUR/MWh, quantities in MW held for one delivery hour, so a
quantity of ``q`` MW is ``q`` MWh of energy and the cleared volume is in MWh.

Clearing rule (per delivery hour, all hours at once, vectorised with numpy):

* The allocation maximises welfare: sum over accepted buy MWh of the bid price
  minus sum over accepted sell MWh of the ask price, with the balance
  ``bought == sold``.  Its dual, the clearing price, is any price ``p`` at which
  ``supply(<= p) >= demand(> p)`` and ``demand(>= p) >= supply(< p)``.  Those
  prices form the interval ``[price_low, price_high]``.
* Indeterminate price (vertical overlap of the curves): the interval is wider
  than one point; the clearing price is its **midpoint** (EUPHEMIA's rule for an
  indeterminate price: the middle of the interval of prices that clear).
* One-sided hour (only buy orders, or only sell orders): nothing can trade, and
  the interval's open end is no order's price, only the harmonised limit, so a
  midpoint would be an artefact (2,050 EUR/MWh for a lone buyer at 100).  **No
  price is published**: the clearing price is NaN (``None`` in the typed
  records), ``one_sided`` is True and the volume is 0.  One exception follows
  SDAC's curtailment rule (a price area whose curves do not meet is priced at
  the harmonised maximum, resp. minimum, clearing price and the orders there are
  curtailed pro rata): when the lone side's best order is at the cap (buy) or
  the floor (sell), the interval is that single limit and it is the price.
* Volume tie rule (horizontal overlap): at the clearing price the **largest**
  volume that the orders priced exactly at the clearing price allow is traded.
* Rationing rule: orders priced better than the clearing price (buy above,
  sell below) are filled in full; orders priced exactly at the clearing price on
  the long side are filled **pro rata to their quantity**; orders priced worse
  get nothing.  There is no time priority in the auction.
* Price cap and floor: every order price must lie in ``[floor, cap]``
  (an order outside is an error naming the order); the clearing price always
  does too.
* Pricing: ``pay_as_clear`` (default) settles every fill at the hour's clearing
  price; ``pay_as_bid`` keeps the same allocation and settles each fill at the
  order's own price.

Quantities are compared with a relative tolerance of 1e-9 of the hour's total
offered MW, to absorb floating-point round-off in cumulative sums.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Sequence

import msgspec
import numpy as np

__all__ = [
    "AuctionOrder",
    "AuctionRules",
    "AuctionResult",
    "HourClearing",
    "OrderFill",
    "clear_day_ahead",
    "clear_orders",
]

logger = logging.getLogger(__name__)

Pricing = Literal["pay_as_clear", "pay_as_bid"]


class AuctionRules(msgspec.Struct, frozen=True, kw_only=True):
    """Market rules of the auction: harmonised price limits and the pricing rule.

    The default limits are the SDAC harmonised maximum and minimum clearing
    prices (+4000 and -500 EUR/MWh).
    """

    price_floor_eur_mwh: float = -500.0
    price_cap_eur_mwh: float = 4000.0
    pricing: Pricing = "pay_as_clear"


class AuctionOrder(msgspec.Struct, frozen=True):
    """One step of a bid curve: buy or sell ``quantity_mw`` in ``hour`` at a limit price."""

    order_id: str
    hour: int
    side: Literal["buy", "sell"]
    price_eur_mwh: float
    quantity_mw: float


class HourClearing(msgspec.Struct, frozen=True):
    """The result of one delivery hour.

    ``price_low_eur_mwh``/``price_high_eur_mwh`` bound the interval of prices that
    clear the hour; ``clearing_price_eur_mwh`` is its midpoint and
    ``price_determinate`` says whether the interval is a single point. In an hour
    with orders on one side only (``one_sided``) no price is published
    (``clearing_price_eur_mwh`` is None) unless the lone side is at the cap or the
    floor (see the module).
    """

    hour: int
    clearing_price_eur_mwh: float | None
    volume_mwh: float
    price_low_eur_mwh: float
    price_high_eur_mwh: float
    price_determinate: bool
    one_sided: bool = False


class OrderFill(msgspec.Struct, frozen=True):
    """How much of one order was accepted and at which price (None when not filled)."""

    order_id: str
    hour: int
    side: Literal["buy", "sell"]
    filled_mw: float
    settlement_price_eur_mwh: float | None


@dataclass(frozen=True, slots=True)
class AuctionResult:
    """Vectorised auction result.

    Per hour (aligned with ``hours``): clearing price (NaN: no price published, a
    one-sided hour), price interval, volume and ``one_sided``. Per order (aligned
    with the input arrays): ``fill_mw`` and ``settlement_price_eur_mwh`` (NaN for an
    order that got nothing).
    """

    hours: np.ndarray
    clearing_price_eur_mwh: np.ndarray
    price_low_eur_mwh: np.ndarray
    price_high_eur_mwh: np.ndarray
    volume_mwh: np.ndarray
    fill_mw: np.ndarray
    settlement_price_eur_mwh: np.ndarray
    pricing: Pricing
    one_sided: np.ndarray | None = None

    def hour_clearings(self) -> list[HourClearing]:
        """Per-hour results as typed records."""
        one_sided = (np.zeros(self.hours.size, dtype=bool) if self.one_sided is None
                     else self.one_sided)
        return [
            HourClearing(
                hour=int(h),
                clearing_price_eur_mwh=None if np.isnan(p) else float(p),
                volume_mwh=float(v),
                price_low_eur_mwh=float(lo),
                price_high_eur_mwh=float(hi),
                price_determinate=bool(lo == hi),
                one_sided=bool(side),
            )
            for h, p, v, lo, hi, side in zip(
                self.hours,
                self.clearing_price_eur_mwh,
                self.volume_mwh,
                self.price_low_eur_mwh,
                self.price_high_eur_mwh,
                one_sided,
            )
        ]


def _validate(
    hour: np.ndarray,
    is_buy: np.ndarray,
    price: np.ndarray,
    quantity: np.ndarray,
    rules: AuctionRules,
) -> None:
    """Raise ValueError naming the first bad field and order index."""
    n = hour.shape[0]
    for name, arr in (("is_buy", is_buy), ("price_eur_mwh", price), ("quantity_mw", quantity)):
        if arr.shape != (n,):
            raise ValueError(f"{name}: shape {arr.shape} does not match hour shape ({n},)")
    if rules.pricing not in ("pay_as_clear", "pay_as_bid"):
        raise ValueError(f"pricing: {rules.pricing!r} is not 'pay_as_clear' or 'pay_as_bid'")
    if rules.price_floor_eur_mwh > rules.price_cap_eur_mwh:
        raise ValueError(
            f"price_floor_eur_mwh {rules.price_floor_eur_mwh} exceeds "
            f"price_cap_eur_mwh {rules.price_cap_eur_mwh}"
        )
    bad = np.flatnonzero(~np.isfinite(quantity) | (quantity < 0.0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"quantity_mw[{i}] = {quantity[i]}: must be a finite MW value >= 0")
    bad = np.flatnonzero(
        ~np.isfinite(price)
        | (price < rules.price_floor_eur_mwh)
        | (price > rules.price_cap_eur_mwh)
    )
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"price_eur_mwh[{i}] = {price[i]}: must lie within the floor "
            f"{rules.price_floor_eur_mwh} and the cap {rules.price_cap_eur_mwh} EUR/MWh"
        )


def _hour_index(hour: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct hours (sorted) and each order's index into them (like ``np.unique``, faster)."""
    low = int(hour.min())
    span = int(hour.max()) - low + 1
    if span > 4 * hour.size + 1024:
        hours, hidx = np.unique(hour, return_inverse=True)
        return hours, hidx.reshape(-1)
    offset = hour - low
    present = np.bincount(offset, minlength=span) > 0
    remap = np.cumsum(present) - 1
    return np.flatnonzero(present) + low, remap[offset]


class _PriceGroups:
    """Distinct (hour, price) candidates, sorted, with the MW offered at each (internal)."""

    __slots__ = ("hour", "price", "sell", "buy", "h_first")

    def __init__(self, hour: np.ndarray, price: np.ndarray, sell: np.ndarray,
                 buy: np.ndarray, h_first: np.ndarray) -> None:
        self.hour, self.price, self.sell, self.buy, self.h_first = hour, price, sell, buy, h_first

    @classmethod
    def build(cls, hidx: np.ndarray, n_hours: int, price: np.ndarray, qty: np.ndarray,
              q_buy: np.ndarray) -> "_PriceGroups":
        """Sort by hour then price (argsort of price, then a stable radix sort of the hour)."""
        by_price = np.argsort(price)
        hour_key = hidx.astype(np.int16 if n_hours < 2**15 else np.int64)[by_price]
        order = by_price[np.argsort(hour_key, kind="stable")]
        del by_price, hour_key
        s_hour = hidx[order]
        s_price = price[order]
        new_group = np.empty(order.size, dtype=bool)
        new_group[0] = True
        np.not_equal(s_hour[1:], s_hour[:-1], out=new_group[1:])
        new_group[1:] |= s_price[1:] != s_price[:-1]
        g_start = np.flatnonzero(new_group)
        del new_group
        g_hour = s_hour[g_start]
        g_price = s_price[g_start]
        del s_hour, s_price
        g_buy = np.add.reduceat(q_buy[order], g_start)
        g_sell = np.add.reduceat(qty[order], g_start)
        g_sell -= g_buy
        h_first = np.flatnonzero(np.r_[True, g_hour[1:] != g_hour[:-1]])
        return cls(g_hour, g_price, g_sell, g_buy, h_first)

    def price_interval(self, demand_total: np.ndarray, supply_total: np.ndarray,
                       tol: np.ndarray, floor: float, cap: float) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest clearing price per hour (EUR/MWh)."""
        g_hour, h_first = self.hour, self.h_first
        # Within-hour cumulative MW priced <= each candidate.
        sell_le = np.cumsum(self.sell)
        sell_le -= (sell_le - self.sell)[h_first][g_hour]
        buy_le = np.cumsum(self.buy)
        buy_le -= (buy_le - self.buy)[h_first][g_hour]
        # Low end: supply(<= p) >= demand(> p), i.e. sell_le + buy_le >= D_total.
        both_le = sell_le + buy_le
        threshold = demand_total[g_hour]
        threshold -= tol[g_hour]
        holds_low = both_le >= threshold
        # High end: demand(>= p) >= supply(< p), i.e.
        # D_total - buy_le + buy + sell >= sell_le, i.e. D_total + buy + sell + tol >= both_le.
        threshold += self.buy
        threshold += self.sell
        threshold += 2.0 * tol[g_hour]
        holds_high = threshold >= both_le
        del both_le, threshold, sell_le, buy_le
        g_index = np.arange(g_hour.size)
        first = np.minimum.reduceat(np.where(holds_low, g_index, g_hour.size), h_first)
        last = np.maximum.reduceat(np.where(holds_high, g_index, -1), h_first)
        price_low = np.where(demand_total <= tol, floor, self.price[first])
        price_high = np.where(supply_total <= tol, cap, self.price[last])
        return price_low, price_high

    def volume_and_rationing(
        self, clearing: np.ndarray, n_hours: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Volume per hour (MWh) and the pro-rata share of at-price buy and sell orders."""
        lam = clearing[self.hour]
        above = self.price > lam
        at = self.price == lam
        below = ~(above | at)
        d_in = np.bincount(self.hour, weights=np.where(above, self.buy, 0.0), minlength=n_hours)
        d_at = np.bincount(self.hour, weights=np.where(at, self.buy, 0.0), minlength=n_hours)
        s_in = np.bincount(self.hour, weights=np.where(below, self.sell, 0.0), minlength=n_hours)
        s_at = np.bincount(self.hour, weights=np.where(at, self.sell, 0.0), minlength=n_hours)
        volume = np.minimum(d_in + d_at, s_in + s_at)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_buy = np.where(d_at > 0.0, np.clip((volume - d_in) / d_at, 0.0, 1.0), 0.0)
            ratio_sell = np.where(s_at > 0.0, np.clip((volume - s_in) / s_at, 0.0, 1.0), 0.0)
        return volume, ratio_buy, ratio_sell


def clear_day_ahead(
    hour: np.ndarray | Sequence[int],
    is_buy: np.ndarray | Sequence[bool],
    price_eur_mwh: np.ndarray | Sequence[float],
    quantity_mw: np.ndarray | Sequence[float],
    rules: AuctionRules = AuctionRules(),
) -> AuctionResult:
    """Clear every delivery hour present in ``hour`` (see the module docstring for the rules).

    Arrays are aligned, one element per curve step: the delivery hour (int),
    ``True`` for a buy step, its limit price (EUR/MWh) and its quantity (MW).
    """
    hour_in = np.asarray(hour)
    if hour_in.dtype.kind not in "iu":
        if hour_in.size and not np.all(np.mod(hour_in, 1) == 0):
            raise ValueError("hour: delivery hours must be whole numbers")
    hour_a = hour_in.astype(np.int64, copy=False)
    buy = np.asarray(is_buy, dtype=bool)
    price = np.asarray(price_eur_mwh, dtype=np.float64)
    qty = np.asarray(quantity_mw, dtype=np.float64)
    if hour_a.ndim != 1:
        raise ValueError(f"hour: expected a 1-D array, got shape {hour_a.shape}")
    _validate(hour_a, buy, price, qty, rules)
    floor, cap = rules.price_floor_eur_mwh, rules.price_cap_eur_mwh
    empty = np.empty(0)
    if hour_a.size == 0:
        return AuctionResult(
            np.empty(0, np.int64), empty, empty, empty, empty, empty, empty, rules.pricing,
            np.empty(0, dtype=bool),
        )

    hours, hidx = _hour_index(hour_a)
    n_hours = hours.size
    q_buy = np.where(buy, qty, 0.0)
    demand_total = np.bincount(hidx, weights=q_buy, minlength=n_hours)
    supply_total = np.bincount(hidx, weights=qty, minlength=n_hours) - demand_total
    tol = 1e-9 * np.maximum(1.0, supply_total + demand_total)
    groups = _PriceGroups.build(hidx, n_hours, price, qty, q_buy)
    del q_buy
    price_low, price_high = groups.price_interval(demand_total, supply_total, tol, floor, cap)
    clearing = np.clip(0.5 * (price_low + price_high), floor, cap)
    # one side empty: no price, unless the lone side sits at the limit (SDAC curtailment)
    one_sided = (demand_total <= tol) | (supply_total <= tol)
    clearing[one_sided & (price_low != price_high)] = np.nan
    volume, ratio_buy, ratio_sell = groups.volume_and_rationing(clearing, n_hours)
    del groups

    # Fills: better-priced orders in full, at-price orders pro rata, the rest nothing.
    lam = clearing[hidx]
    fill = qty * np.where(buy, price > lam, price < lam)
    at = np.flatnonzero(price == lam)
    if at.size:
        ratio = np.where(buy[at], ratio_buy[hidx[at]], ratio_sell[hidx[at]])
        fill[at] = qty[at] * ratio
    own_or_clear = price if rules.pricing == "pay_as_bid" else lam
    settlement = np.where(fill > 0.0, own_or_clear, np.nan)
    n_indeterminate = int(np.count_nonzero(price_low != price_high))
    if n_indeterminate:
        logger.debug("%d of %d hours had an indeterminate price (midpoint used)",
                     n_indeterminate, n_hours)
    return AuctionResult(
        hours=hours,
        clearing_price_eur_mwh=clearing,
        price_low_eur_mwh=price_low,
        price_high_eur_mwh=price_high,
        volume_mwh=volume,
        fill_mw=fill,
        settlement_price_eur_mwh=settlement,
        pricing=rules.pricing,
        one_sided=one_sided,
    )


def clear_orders(
    orders: Sequence[AuctionOrder], rules: AuctionRules = AuctionRules()
) -> tuple[list[HourClearing], list[OrderFill]]:
    """Clear typed orders; returns the per-hour results and one fill per order, in input order."""
    ids = [o.order_id for o in orders]
    if len(set(ids)) != len(ids):
        raise ValueError("order_id: duplicate order ids in the auction")
    for o in orders:
        if o.side not in ("buy", "sell"):
            raise ValueError(f"side: order {o.order_id!r} has side {o.side!r}, not 'buy' or 'sell'")
    result = clear_day_ahead(
        [o.hour for o in orders],
        [o.side == "buy" for o in orders],
        [o.price_eur_mwh for o in orders],
        [o.quantity_mw for o in orders],
        rules,
    )
    fills = [
        OrderFill(
            order_id=o.order_id,
            hour=o.hour,
            side=o.side,
            filled_mw=float(f),
            settlement_price_eur_mwh=None if np.isnan(s) else float(s),
        )
        for o, f, s in zip(orders, result.fill_mw, result.settlement_price_eur_mwh)
    ]
    return result.hour_clearings(), fills
