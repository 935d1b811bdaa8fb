"""The strategy protocol, and what every strategy needs: the battery's headroom.

A strategy is any object with a ``name`` and ``decide(view, book) -> list[Signal]``:
``view`` (:class:`~markets.trading.market_data.MarketView`) is what is published at
``view.now``, ``book`` (:class:`~markets.trading.portfolio.PortfolioView`) its share of the
positions and the battery. A :class:`~markets.trading.types.Signal` is a target
position, so a signal repeated is not an order repeated: the engine orders only the
difference from what is held.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import PortfolioView
from vpp.markets.trading.types import Signal

__all__ = ["PLAN_MARGIN_MWH", "Strategy", "headroom", "intraday_signal", "plan_battery",
           "round_plan"]

PLAN_MARGIN_MWH = 0.1
"""Plans keep this far inside the state-of-charge window, so that rounding the plan to the
0.1 MW grid (:func:`round_plan`) never takes the battery out of it."""


@runtime_checkable
class Strategy(Protocol):
    """Signals from market data and the portfolio's state."""

    name: str

    def decide(self, view: MarketView, book: PortfolioView) -> list[Signal]:
        """The positions wanted now (possibly none)."""
        ...


def round_plan(net_mw: np.ndarray, step: float = 0.1) -> np.ndarray:
    """Round a plan to the ``step`` grid carrying the error forward (the running sum stays
    within half a step of the exact one, so the stored energy does too)."""
    cumulative = np.round(np.cumsum(net_mw) / step) * step
    return np.round(np.diff(np.concatenate([[0.0], cumulative])), 6)


def plan_battery(prices: np.ndarray, book: PortfolioView, start_energy_mwh: float,
                 fee: float, power_limit: np.ndarray | None = None) -> np.ndarray:
    """The schedule LP over ``prices`` from ``start_energy_mwh``, back to at least the
    battery's ``initial_soc`` at the end, rounded to the order grid (net MW, + sells)."""
    from vpp.markets.trading.schedule import optimize_trading_schedule

    spec = book.storage
    cap = spec.capacity_mwh
    margin = min(PLAN_MARGIN_MWH / cap, 0.25 * (spec.soc_max - spec.soc_min))
    start = min(max(start_energy_mwh / cap, spec.soc_min), spec.soc_max)
    # the margin, except where the battery already is (then the plan leaves that edge)
    low, high = min(spec.soc_min + margin, start), max(spec.soc_max - margin, start)
    soc0 = start
    plan = optimize_trading_schedule(
        prices, cap, spec.round_trip_efficiency, power=spec.power_mw, soc_min=low,
        soc_max=high, initial_soc=soc0, final_soc=max(soc0, min(spec.initial_soc, high)),
        fee=fee, charge_limit=power_limit, discharge_limit=power_limit)
    return round_plan(plan.net_power)


def headroom(view: MarketView, book: PortfolioView, hour: int) -> tuple[float, float]:
    """``(buy_mw, sell_mw)``: how much more the battery can absorb / inject in ``hour``.

    Power: ``power - reserve`` each way around the net position already held. Energy: the
    stored energy projected over every committed position must stay in the window after a
    change in ``hour``; the bound uses the worse efficiency each way (conservative).
    """
    spec = book.storage
    power = spec.power_mw - book.reserve_mw(hour)
    net = book.net_mw(hour)
    buy_p, sell_p = max(0.0, power + net), max(0.0, power - net)
    low, high = spec.soc_min * spec.capacity_mwh, spec.soc_max * spec.capacity_mwh
    path = book.energy_path(view.now, hour)
    eta = spec.eta
    buy_e = max(0.0, (high - float(np.max(path))) * eta)
    sell_e = max(0.0, (float(np.min(path)) - low) * eta)
    return min(buy_p, buy_e), min(sell_p, sell_e)


def intraday_signal(view: MarketView, book: PortfolioView, hour: int, want_mw: float,
                    limit_price_eur_mwh: float | None = None) -> Signal:
    """The intraday target that moves the hour's net position by ``want_mw`` (clipped)."""
    buy, sell = headroom(view, book, hour)
    change = min(max(want_mw, -buy), sell)
    change = float(np.sign(change) * np.floor(abs(change) / 0.1 + 1e-9) * 0.1)
    return Signal("intraday", hour, book.position("intraday", hour) + change,
                  limit_price_eur_mwh)
