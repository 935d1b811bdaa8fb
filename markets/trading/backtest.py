"""Backtests on simulated time: strategies trade hour by hour against historical prices.

The clock is the hour index of :class:`MarketData`. Each hour: the battery delivers the
hour's position (imbalances settled at the hour's realized intraday price and a
penalty), pending day-ahead and FCR orders clear when their prices are published, each
engine values its book and decides with a :class:`MarketView` of what is published so
far, and its orders go to a price-taking exchange (:class:`PriceTakerExchange`). Nothing
reads the wall clock; the same data and seed give the same trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import (
    DAY_AHEAD_GATE_HOUR,
    DAY_AHEAD_PUBLICATION_HOUR,
    MarketData,
    MarketView,
)
from vpp.markets.trading.performance import Performance, drawdown, performance
from vpp.markets.trading.types import Fees, Fill, Order, Rejection

__all__ = ["BacktestResult", "BacktestSession", "PriceTakerExchange", "PROFIT_SOURCES",
           "TraderResult", "collect", "opening_ledger", "profit_by_market", "run_backtest"]

PROFIT_SOURCES = ("day_ahead", "intraday", "ancillary", "imbalance", "marks")
"""Where a trader's profit comes from (:func:`profit_by_market`): each market's trades
net of their fees (``ancillary``: FCR capacity payments), the imbalance settlements, and
the change in value of what is held at the marks (stored energy, open positions)."""


class PriceTakerExchange:
    """Fills orders at the historical prices; the trader's volume does not move them.

    ``day_ahead`` and ``ancillary``: only at the gate for tomorrow's hours, cleared at
    publication; ``intraday``: only for the next hour, at once, at the quote.
    """

    def __init__(self, data: MarketData, fees: Fees) -> None:
        self.data = data
        self.fees = fees

    def submit(self, order: Order, now: int) -> Fill | Rejection | None:
        """A fill, a rejection (market closed, limit not met) or None (clears later)."""
        h = order.delivery_hour
        if order.market in ("day_ahead", "ancillary"):
            if now % 24 != DAY_AHEAD_GATE_HOUR or h // 24 != now // 24 + 1:
                return Rejection(order, "market_closed",
                                 f"market_closed: {order.market} takes orders for day "
                                 f"{now // 24 + 1} at hour {DAY_AHEAD_GATE_HOUR} only")
            return None
        if h != now + 1:
            return Rejection(order, "market_closed", f"market_closed: intraday trades hour "
                             f"{now + 1} at hour {now}, not hour {h}")
        mid = float(self.data.intraday_eur_mwh[h])
        half = self.data.intraday_half_spread_eur_mwh
        price = mid + half if order.side == "buy" else mid - half
        return self._fill_at(order, price)

    def clear(self, order: Order) -> Fill | Rejection:
        """Clear a pending day-ahead or FCR order at its published price."""
        h = order.delivery_hour
        if order.market == "ancillary":
            price = float(self.data.fcr_eur_mw_h[h])
            if order.limit_price_eur_mwh is not None and price < order.limit_price_eur_mwh:
                return Rejection(order, "not_filled", f"not_filled: capacity price "
                                 f"{price:.2f} below the offer's {order.limit_price_eur_mwh}")
            return Fill(order, price, order.quantity_mw * self.fees.ancillary_eur_mw)
        return self._fill_at(order, float(self.data.day_ahead_eur_mwh[h]))

    def _fill_at(self, order: Order, price: float) -> Fill | Rejection:
        limit = order.limit_price_eur_mwh
        if limit is not None and ((order.side == "buy" and price > limit) or
                                  (order.side == "sell" and price < limit)):
            return Rejection(order, "not_filled", f"not_filled: {order.market} price "
                             f"{price:.2f} EUR/MWh is beyond the limit {limit:.2f}")
        return Fill(order, price, order.quantity_mw * self.fees.of(order.market))


@dataclass
class TraderResult:
    """What one trader did: hourly equity, energy, positions; fills, rejections, figures."""

    name: str
    equity_eur: np.ndarray
    unrealized_eur: np.ndarray
    energy_mwh: np.ndarray
    delivered_mw: np.ndarray
    reserve_mw: np.ndarray
    fills: list[Fill]
    rejections: list[Rejection]
    performance: Performance
    fees_eur: float
    capacity_revenue_eur: float
    imbalance_mwh: float
    imbalance_eur: float
    traded_mwh: float
    forecast: dict = field(default_factory=dict)
    profit_by_market: dict[str, float] = field(default_factory=dict)

    @property
    def drawdown_eur(self) -> np.ndarray:
        """Fall from the peak to date of the hourly equity (EUR, >= 0): the series the
        drawdown plot shows and ``performance.max_drawdown_eur`` is the largest of."""
        return drawdown(self.equity_eur)

    @property
    def realized_eur(self) -> np.ndarray:
        """Equity change minus unrealized P&L, hour by hour."""
        return self.equity_eur - self.equity_eur[0] - self.unrealized_eur + \
            self.unrealized_eur[0]

    def rejections_by_limit(self) -> dict[str, int]:
        """How many orders each limit (or ``not_filled``, ``market_closed``) stopped."""
        out: dict[str, int] = {}
        for r in self.rejections:
            out[r.limit] = out.get(r.limit, 0) + 1
        return dict(sorted(out.items()))

    def trades(self) -> list[tuple]:
        """Every fill as ``(decided, market, hour, side, MW, price)``: equal runs, equal lists."""
        return [(f.order.decided_hour, f.order.market, f.order.delivery_hour, f.order.side,
                 f.order.quantity_mw, round(f.price_eur_mwh, 6)) for f in self.fills]


@dataclass
class BacktestResult:
    """The traders' results over the same data."""

    data: MarketData
    traders: list[TraderResult]


def _forecast_errors(strategy) -> dict:
    forecaster = getattr(strategy, "forecaster", None)
    if forecaster is not None:
        return forecaster.errors()
    for sub, _ in getattr(strategy, "strategies", []):
        found = _forecast_errors(sub)
        if found:
            return found
    return {}


def opening_ledger(data: MarketData, engines: list[TradingEngine]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equity, unrealized value and stored energy per trader (rows) and hour boundary
    (``data.hours + 1`` columns), zero but for the opening column: each portfolio valued at
    hour 0. Filled by a backtest as its hours pass."""
    shape = (len(engines), data.hours + 1)
    equity, unrealized, energy = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, engine in enumerate(engines):
        energy[i, 0] = engine.portfolio.energy_mwh
        equity[i, 0], unrealized[i, 0] = engine.portfolio.valuation(MarketView(data, 0))
    return equity, unrealized, energy


class BacktestSession:
    """Engines trading over ``data`` one hour per :meth:`step` (:func:`run_backtest` steps
    through every hour; an automated engine steps from its own thread).

    Each engine is charged its own fees, or ``fees`` for all when given. The hourly equity,
    unrealized P&L and stored energy are kept per engine (column 0: before the first hour).
    """

    def __init__(self, data: MarketData, engines: list[TradingEngine],
                 fees: Fees | None = None) -> None:
        self.data = data
        self.engines = engines
        self.exchanges = [PriceTakerExchange(data, fees or e.fees) for e in engines]
        self.equity, self.unrealized, self.energy = opening_ledger(data, engines)
        self.now = 0

    @property
    def done(self) -> bool:
        """True once every hour of the data was traded."""
        return self.now >= self.data.hours

    def step(self) -> None:
        """Trade hour ``now`` (see the module's docstring) and move to the next."""
        if self.done:
            raise ValueError(f"step: all {self.data.hours} hours were traded")
        data, now = self.data, self.now
        view = MarketView(data, now)
        imbalance_price = float(data.intraday_eur_mwh[now])
        for i, engine in enumerate(self.engines):
            exchange = self.exchanges[i]
            engine.deliver(now, imbalance_price)
            self.energy[i, now + 1] = engine.portfolio.energy_mwh
            if now % 24 == DAY_AHEAD_PUBLICATION_HOUR:
                for order in list(engine.pending):
                    result = exchange.clear(order)
                    if isinstance(result, Fill):
                        engine.filled(result)
                    else:
                        engine.not_filled(result)
            value, unreal = engine.portfolio.valuation(view)
            self.equity[i, now + 1], self.unrealized[i, now + 1] = value, unreal
            for order in engine.decide(view, value):
                engine.sent.append(order)
                result = exchange.submit(order, now)
                if result is None:
                    engine.hold(order)
                elif isinstance(result, Fill):
                    engine.filled(result)
                else:
                    engine.not_filled(result)
        self.now += 1

    def result(self) -> BacktestResult:
        """The result over every hour (call once :attr:`done`)."""
        return collect(self.data, self.engines, self.equity, self.unrealized, self.energy)


def run_backtest(data: MarketData, engines: list[TradingEngine],
                 fees: Fees | None = None) -> BacktestResult:
    """Run every engine over every hour of ``data`` (see the module's docstring).

    Each engine is charged its own fees, or ``fees`` for all when given.
    """
    session = BacktestSession(data, engines, fees)
    while not session.done:
        session.step()
    return session.result()


def collect(data: MarketData, engines: list[TradingEngine], equity: np.ndarray,
            unrealized: np.ndarray, energy: np.ndarray) -> BacktestResult:
    """The result of a run from the engines and their hourly equity, unrealized P&L and
    energy (arrays of shape ``(engines, hours + 1)``; column 0 before the first hour)."""
    traders = []
    for i, engine in enumerate(engines):
        book = engine.portfolio
        daily = equity[i, 24::24]
        traders.append(TraderResult(
            name=engine.name, equity_eur=equity[i], unrealized_eur=unrealized[i],
            energy_mwh=energy[i],
            delivered_mw=np.array([d.delivered_mw for d in engine.deliveries]),
            reserve_mw=book.reserve_mw.copy(), fills=list(book.fills),
            rejections=list(engine.rejections),
            performance=performance(daily, book.capital_eur, float(equity[i, 0]),
                                    hourly_equity=equity[i]),
            fees_eur=book.fees_eur, capacity_revenue_eur=book.capacity_revenue_eur,
            imbalance_mwh=book.imbalance_mwh, imbalance_eur=book.imbalance_eur,
            traded_mwh=book.traded_mwh, forecast=_forecast_errors(engine.strategy),
            profit_by_market=profit_by_market(book, float(equity[i, 0]),
                                              float(equity[i, -1]))))
    return BacktestResult(data, traders)


def profit_by_market(book, equity_start_eur: float, equity_end_eur: float,
                     ) -> dict[str, float]:
    """A trader's profit ``equity_end - equity_start`` (EUR) by source
    (:data:`PROFIT_SOURCES`); the sources add up to it.

    ``day_ahead``, ``intraday``: sales minus purchases of that market's fills, less their
    fees; ``ancillary``: FCR capacity payments less their fees; ``imbalance``: what the
    hours the battery could not deliver were settled at (penalty included); ``marks``: the
    change in value of stored energy and open positions at their marks, i.e. the rest of
    the equity beside the cash (at the start: the initial energy at its first mark).
    """
    out = dict.fromkeys(PROFIT_SOURCES, 0.0)
    for fill in book.fills:
        order = fill.order
        if order.market == "ancillary":
            money = fill.price_eur_mwh * order.quantity_mw
        else:
            money = fill.price_eur_mwh * order.quantity_mw * (1 if order.side == "sell" else -1)
        out[order.market] += money - fill.fee_eur
    out["imbalance"] = float(book.imbalance_eur)
    out["marks"] = (equity_end_eur - book.cash_eur) - (equity_start_eur - book.capital_eur)
    return out
