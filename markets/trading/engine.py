"""The trading engine: a strategy's signals become orders, each checked by risk first.

One engine is one trader: a strategy, its :class:`Portfolio` and its
:class:`RiskManager`. The engine does not know how orders reach a market: a backtest
hands them to a price-taking exchange (:mod:`vpp.markets.trading.backtest`), a trader agent
(``agents/markets/trader.py``) sends them as messages.
"""

from __future__ import annotations

import logging
from typing import Any

from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import Delivery, Portfolio, PortfolioView
from vpp.markets.trading.risk import RiskLimits, RiskManager, StressScenario
from vpp.markets.trading.strategies import (
    ArbitrageStrategy,
    Strategy,
    make_trading_strategy,
)
from vpp.markets.trading.types import (
    MARKETS,
    QUANTITY_STEP_MW,
    Fees,
    Fill,
    Order,
    Rejection,
    StorageSpec,
)

__all__ = ["TradingEngine", "create_arbitrage_strategy", "create_trading_engine"]

log = logging.getLogger(__name__)


class TradingEngine:
    """A strategy with its portfolio and pre-trade risk checks.

    Args:
        strategy: any :class:`Strategy`.
        storage: the trader's battery.
        hours: length of the market data.
        fees: fees per market.
        limits: risk limits.
        capital_eur: starting cash.
        imbalance_penalty_eur_mwh: penalty on top of the intraday price for imbalances.
        shocks: the stress scenarios (default: :func:`historical_shocks` when needed).
        markets: the markets this trader may use (default: all of :data:`MARKETS`); a
            signal for another is recorded as a rejection by ``market``.
    """

    def __init__(self, strategy: Strategy, storage: StorageSpec, hours: int, *,
                 fees: Fees = Fees(), limits: RiskLimits = RiskLimits(),
                 capital_eur: float = 1_000_000.0, imbalance_penalty_eur_mwh: float = 50.0,
                 shocks: tuple[StressScenario, ...] | None = None,
                 markets: tuple[str, ...] = MARKETS) -> None:
        if not isinstance(strategy, Strategy):
            raise ValueError(f"strategy: {strategy!r} has no name and decide(view, book)")
        unknown = [m for m in markets if m not in MARKETS]
        if unknown or not markets:
            raise ValueError(f"markets: {list(markets)} must be some of {list(MARKETS)}")
        self.markets = tuple(markets)
        self.strategy = strategy
        self.fees = fees
        self.portfolio = Portfolio(storage, hours, capital_eur, imbalance_penalty_eur_mwh)
        self.risk = RiskManager(limits, self.portfolio, shocks)
        self.rejections: list[Rejection] = []
        self.sent: list[Order] = []
        self.pending: list[Order] = []
        self.deliveries: list[Delivery] = []

    @property
    def name(self) -> str:
        """The strategy's name."""
        return self.strategy.name

    def orders_from(self, signals, now: int) -> list[Order]:
        """One order per signal for the difference from the position held (0.1 MW grid)."""
        out = []
        book = self.portfolio
        for s in signals:
            if s.market not in self.markets:
                self.rejections.append(Rejection(
                    Order(self.name, s.market, s.delivery_hour, "buy", 0.0,
                          s.limit_price_eur_mwh, now),
                    "market", f"market: {s.market!r} must be one of {list(self.markets)}"))
                continue
            if not 0 <= s.delivery_hour < book.hours:
                continue
            delta = s.target_mw - book.position(s.market, s.delivery_hour)
            if s.market == "ancillary" and delta < 0:
                continue          # a capacity offer cannot be withdrawn
            quantity = round(abs(delta) / QUANTITY_STEP_MW) * QUANTITY_STEP_MW
            if quantity < QUANTITY_STEP_MW / 2:
                continue
            out.append(Order(self.name, s.market, s.delivery_hour,
                             "sell" if delta > 0 else "buy", round(quantity, 1),
                             s.limit_price_eur_mwh, now))
        return out

    def decide(self, view: MarketView, equity_eur: float) -> list[Order]:
        """The orders that pass every risk limit at ``view.now``; the others are recorded."""
        self.risk.start_hour(view.now, equity_eur)
        signals = self.strategy.decide(view, PortfolioView(self.portfolio))
        orders = self.orders_from(signals, view.now)
        block = [o for o in orders if o.market != "intraday"]
        accepted = self._check_block(block, view) if block else []
        for order in orders:
            if order.market != "intraday":
                continue
            decision = self.risk.check(order, view)
            if decision.accepted:
                accepted.append(order)
            else:
                self.rejections.append(Rejection(order, decision.limit, decision.reason))
        return accepted

    def _check_block(self, block: list[Order], view: MarketView) -> list[Order]:
        """Day-ahead and FCR orders of one decision are one plan: all pass, or none is sent
        (the first broken limit is named; the others are refused as ``block``)."""
        held = []
        failed: Rejection | None = None
        for order in block:
            decision = self.risk.check(order, view)
            if not decision.accepted:
                failed = Rejection(order, decision.limit, decision.reason)
                break
            self.portfolio.commit(order)       # the next order is checked with this one
            held.append(order)
        for order in held:
            self.portfolio.release(order)
        if failed is None:
            return block
        self.rejections.append(failed)
        for order in block:
            if order is not failed.order:
                self.rejections.append(Rejection(
                    order, "block", f"block: the plan was refused ({failed.limit}, hour "
                    f"{failed.order.delivery_hour})"))
        return []

    def filled(self, fill: Fill) -> None:
        """Book a fill (of an order sent now, or of a pending one)."""
        if fill.order in self.pending:
            self.pending.remove(fill.order)
            self.portfolio.release(fill.order)
        self.portfolio.apply(fill)

    def hold(self, order: Order) -> None:
        """An order that clears later: hold its position as pending."""
        self.pending.append(order)
        self.portfolio.commit(order)

    def not_filled(self, rejection: Rejection) -> None:
        """An order that did not trade (limit price, market closed)."""
        if rejection.order in self.pending:
            self.pending.remove(rejection.order)
            self.portfolio.release(rejection.order)
        self.rejections.append(rejection)

    def deliver(self, hour: int, imbalance_price_eur_mwh: float) -> Delivery:
        """Run the battery for ``hour``."""
        delivery = self.portfolio.deliver(hour, imbalance_price_eur_mwh)
        if abs(delivery.imbalance_mw) > 1e-6:
            log.debug("%s: imbalance %.3f MW in hour %d", self.name, delivery.imbalance_mw, hour)
        self.deliveries.append(delivery)
        return delivery


def create_arbitrage_strategy(**params: Any) -> ArbitrageStrategy:
    """The multi-market arbitrage strategy (see :class:`ArbitrageStrategy` for ``params``)."""
    return ArbitrageStrategy(**params)


def create_trading_engine(strategy: str | Strategy = "arbitrage", *, hours: int,
                          storage: StorageSpec = StorageSpec(), fees: Fees = Fees(),
                          limits: RiskLimits = RiskLimits(), capital_eur: float = 1_000_000.0,
                          **strategy_params: Any) -> TradingEngine:
    """A :class:`TradingEngine` for a strategy object or a built-in name with ``params``."""
    if isinstance(strategy, str):
        strategy = make_trading_strategy(strategy, **strategy_params)
    elif strategy_params:
        raise ValueError("strategy_params: only for a strategy given by name")
    return TradingEngine(strategy, storage, hours, fees=fees, limits=limits,
                         capital_eur=capital_eur)
