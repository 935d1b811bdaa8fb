"""The quick-start's trading calculations with results read as mappings or attributes.

``calculate_arbitrage_opportunity`` and ``optimize_trading_schedule`` keep the reference
library's names, arguments and result keys, computed by the project's own code
(:mod:`vpp.markets.trading.schedule`); ``docs/trading.md`` ("Coming from the reference
library") says what differs. Every result is a frozen record: ``result['total_profit']``
and ``result.total_profit`` are the same value, and ``dict(result)`` has every key.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from vpp.markets.trading import schedule as _schedule

__all__ = ["ArbitrageQuote", "Record", "TradingScheduleResult",
           "calculate_arbitrage_opportunity", "optimize_trading_schedule"]

_PER_MWH = {"kWh": 1000.0, "MWh": 1.0}


class Record(Mapping):
    """A read-only mapping over a frozen dataclass's fields (item and attribute access)."""

    def __getitem__(self, key: str) -> Any:
        if key in self._keys():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def _keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self))


@dataclasses.dataclass(frozen=True, eq=False)
class ArbitrageQuote(Record):
    """Buy where energy is cheaper, sell where it is dearer, net of both legs' costs.

    Prices and ``profit_per_unit`` are per ``energy_unit``; ``profit_per_mwh`` per MWh.
    ``buy_market``/``sell_market`` are ``"market1"``/``"market2"`` (the argument order);
    ``transaction_cost`` is what both legs cost per unit bought; ``profit_margin`` is the
    profit as a percentage of the sell price (negative when the trade loses).
    """

    profitable: bool
    buy_market: str
    sell_market: str
    buy_price: float
    sell_price: float
    price_difference: float
    transaction_cost: float
    efficiency: float
    profit_per_unit: float
    profit_per_mwh: float
    profit_margin: float
    energy_unit: str


def calculate_arbitrage_opportunity(price1: float, price2: float,
                                    transaction_cost: float = 0.001, *,
                                    efficiency: float = 1.0,
                                    energy_unit: Literal["kWh", "MWh"] = "kWh"
                                    ) -> ArbitrageQuote:
    """Is buying at the lower price and selling at the higher one worth it?

    Args:
        price1, price2: the price of the same energy in two markets, per ``energy_unit``
            (the reference's quick-start gives $/kWh).
        transaction_cost: the cost of one trade per unit traded, paid on each leg (the
            purchase and the sale), per ``energy_unit``.
        efficiency: the share of a unit bought that can be sold (a storage round trip; 1
            for two markets of the same delivery).
        energy_unit: ``kWh`` (default, as the reference) or ``MWh``.

    Per unit bought: ``profit = efficiency * high - low - transaction_cost * (1 +
    efficiency)``; ``profit_per_mwh`` is that per MWh.
    """
    if energy_unit not in _PER_MWH:
        raise ValueError(f"energy_unit: {energy_unit!r} must be 'kWh' or 'MWh'")
    for name, value in (("price1", price1), ("price2", price2),
                        ("transaction_cost", transaction_cost), ("efficiency", efficiency)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise ValueError(f"{name}: {value!r} is not a finite number")
    if transaction_cost < 0:
        raise ValueError(f"transaction_cost: {transaction_cost} must be >= 0")
    legs = transaction_cost * (1.0 + efficiency)
    core = _schedule.calculate_arbitrage_opportunity(price1, price2, legs, efficiency)
    profit = core.profit_per_unit
    return ArbitrageQuote(
        profitable=core.profitable, buy_market=f"market{core.buy_market}",
        sell_market=f"market{core.sell_market}", buy_price=core.buy_price,
        sell_price=core.sell_price, price_difference=core.spread, transaction_cost=legs,
        efficiency=float(efficiency), profit_per_unit=profit,
        profit_per_mwh=profit * _PER_MWH[energy_unit],
        profit_margin=100.0 * profit / core.sell_price if core.sell_price else math.nan,
        energy_unit=energy_unit)


@dataclasses.dataclass(frozen=True, eq=False)
class TradingScheduleResult(Record):
    """A battery's optimal schedule over the prices (units: the caller's, e.g. kW and $).

    ``battery_schedule``: net power per period (positive: discharge, energy sold);
    ``charge``/``discharge`` (>= 0), ``energy`` and ``state_of_charge`` at the end of each
    period; ``total_profit`` = ``revenue - cost - fees``; ``utilization``: the energy
    moved (charged plus discharged) as a percentage of what the power rating could move
    over the horizon (the mean of ``|power| / rating``); ``cycles``: energy discharged over
    the usable capacity (``capacity * (soc_max - soc_min)``); ``status``: the solver's.
    """

    success: bool
    status: str
    total_profit: float
    revenue: float
    cost: float
    fees: float
    utilization: float
    cycles: float
    power_rating: float
    battery_schedule: list[float]
    charge: list[float]
    discharge: list[float]
    energy: list[float]
    state_of_charge: list[float]
    solve_time: float


def optimize_trading_schedule(prices: Sequence[float], capacity: float,
                              efficiency: float = 0.95, **options: Any
                              ) -> TradingScheduleResult:
    """The profit-maximising schedule of a battery of ``capacity`` (energy units) over
    ``prices`` (per energy unit, one per hour), round-trip ``efficiency``.

    ``options`` are those of :func:`vpp.markets.trading.schedule.optimize_trading_schedule`
    (``power`` (default ``capacity / 4``), ``soc_min`` 0.1, ``soc_max`` 0.9,
    ``initial_soc`` 0.5, ``final_soc`` (default: the initial one), ``dt_h`` 1, ``fee``).
    ``ValueError`` names the argument that is out of range.
    """
    t0 = time.perf_counter()
    plan = _schedule.optimize_trading_schedule(prices, capacity, efficiency, **options)
    elapsed = time.perf_counter() - t0
    dt_h = float(options.get("dt_h", 1.0))
    rating = float(options["power"]) if options.get("power") is not None else capacity / 4.0
    charge, discharge = np.asarray(plan.charge), np.asarray(plan.discharge)
    moved = float((charge + discharge).sum())
    usable = capacity * (options.get("soc_max", 0.9) - options.get("soc_min", 0.1))
    return TradingScheduleResult(
        success=True, status=plan.status, total_profit=float(plan.profit),
        revenue=float(plan.revenue), cost=float(plan.cost), fees=float(plan.fees),
        utilization=100.0 * moved / (rating * charge.size) if rating > 0 else 0.0,
        cycles=float(discharge.sum() * dt_h / usable) if usable > 0 else 0.0,
        power_rating=rating,
        battery_schedule=(discharge - charge).tolist(), charge=charge.tolist(),
        discharge=discharge.tolist(), energy=np.asarray(plan.energy).tolist(),
        state_of_charge=(np.asarray(plan.energy) / capacity).tolist(), solve_time=elapsed)
