"""The reference library's trading quick-start names (``from vpp.trading import ...``).

- :func:`calculate_arbitrage_opportunity` (prices per kWh by default): is the spread
  worth both legs' transaction costs? (``opportunity['profit_per_mwh']``);
- :func:`optimize_trading_schedule`: a battery's profit-maximising schedule over prices
  (``schedule['total_profit']``, ``schedule['utilization']``);
- :func:`create_trading_engine` (the reference's config dictionary),
  :func:`create_arbitrage_strategy`, then ``engine.add_strategy(...)``, ``engine.start()``
  (trades in a background thread on historical, simulated or live prices, every order
  through the risk limits), ``engine.stop()``, ``engine.report()``.

Everything runs on the project's trading code (:mod:`vpp.markets.trading`);
``docs/trading.md`` ("Coming from the reference library") gives the units and what differs.
"""

from __future__ import annotations

from vpp.trading.automated import (
    AutomatedTradingEngine,
    TradingReport,
    create_trading_engine,
)
from vpp.trading.config import TradingConfig, parse_config
from vpp.trading.results import (
    ArbitrageQuote,
    TradingScheduleResult,
    calculate_arbitrage_opportunity,
    optimize_trading_schedule,
)
from vpp.trading.strategies import QuickArbitrageStrategy, create_arbitrage_strategy

__all__ = [
    "ArbitrageQuote",
    "AutomatedTradingEngine",
    "QuickArbitrageStrategy",
    "TradingConfig",
    "TradingReport",
    "TradingScheduleResult",
    "calculate_arbitrage_opportunity",
    "create_arbitrage_strategy",
    "create_trading_engine",
    "optimize_trading_schedule",
    "parse_config",
]
