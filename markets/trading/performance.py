"""Performance figures of an equity curve: return, volatility, Sharpe, drawdown, hit rate."""

from __future__ import annotations

import math

import msgspec
import numpy as np

__all__ = ["Performance", "drawdown", "performance"]


class Performance(msgspec.Struct, frozen=True):
    """Figures from the daily equity (EUR) of one trader.

    ``total_return``: profit / capital; ``volatility``: annualized standard deviation of
    daily returns (x sqrt 365); ``sharpe``: mean / std of daily returns x sqrt 365
    (risk-free rate 0; None without variation); ``max_drawdown_eur`` and
    ``max_drawdown``: the largest fall from a peak (EUR, and / capital) of the equity
    series ``drawdown_basis`` names (``daily``: the days' closing equity; ``hourly``:
    every hour's equity, open positions and stored energy marked to market, the series a
    backtest's drawdown plot shows); ``hit_rate``: share of days with a profit among days
    with a non-zero P&L (None if none).
    """

    days: int
    profit_eur: float
    total_return: float
    volatility: float
    sharpe: float | None
    max_drawdown_eur: float
    max_drawdown: float
    hit_rate: float | None
    drawdown_basis: str = "daily"


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Peak-to-date equity minus equity (EUR, >= 0)."""
    e = np.asarray(equity, dtype=float)
    return np.maximum.accumulate(e) - e


def performance(daily_equity, capital_eur: float, initial_equity: float | None = None,
                *, hourly_equity=None) -> Performance:
    """Figures of ``daily_equity`` (equity at the end of each day) on ``capital_eur``.

    ``initial_equity`` is the equity before the first day (default: the first value).
    ``hourly_equity`` (the equity before the first hour, then after each): when given, the
    drawdown is that series' (``drawdown_basis="hourly"``), else the days' closing equity's.
    """
    e = np.asarray(daily_equity, dtype=float)
    if e.size == 0:
        raise ValueError("daily_equity: expected at least one day")
    if not capital_eur > 0:
        raise ValueError(f"capital_eur: {capital_eur} must be > 0")
    start = float(e[0]) if initial_equity is None else float(initial_equity)
    pnl = np.diff(np.concatenate([[start], e]))
    returns = pnl / capital_eur
    std = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    sharpe = float(returns.mean() / std * math.sqrt(365)) if std > 0 else None
    moving = pnl[np.abs(pnl) > 1e-9]
    if hourly_equity is None:
        basis, dd = "daily", drawdown(np.concatenate([[start], e]))
    else:
        basis, dd = "hourly", drawdown(hourly_equity)
    return Performance(
        days=int(e.size), profit_eur=float(e[-1] - start),
        total_return=float((e[-1] - start) / capital_eur),
        volatility=std * math.sqrt(365), sharpe=sharpe,
        max_drawdown_eur=float(dd.max()), max_drawdown=float(dd.max() / capital_eur),
        hit_rate=float((moving > 0).mean()) if moving.size else None,
        drawdown_basis=basis)
