"""Trading: strategies, portfolio, risk, the schedule optimizer and backtests (transport-free).

The main names are importable from here (each loaded from its module when first used, so
importing one submodule does not load the others):

- :func:`optimize_trading_schedule`, :func:`calculate_arbitrage_opportunity`
  (:mod:`.schedule`);
- :class:`TradingEngine`, :func:`create_trading_engine`, :func:`create_arbitrage_strategy`
  (:mod:`.engine`);
- :func:`run_backtest`, :class:`BacktestSession` (:mod:`.backtest`);
- :class:`MarketData`, :func:`de_lu_2019_market_data`, :func:`simulated_market_data`
  (:mod:`.market_data`);
- :class:`RiskLimits` (:mod:`.risk`), :class:`StorageSpec`, :class:`Fees` (:mod:`.types`).

The reference library's quick-start (a config dictionary, ``start()``/``stop()``, results
read as mappings) is :mod:`vpp.trading`, built on these.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "optimize_trading_schedule": "schedule",
    "calculate_arbitrage_opportunity": "schedule",
    "TradingEngine": "engine",
    "create_trading_engine": "engine",
    "create_arbitrage_strategy": "engine",
    "run_backtest": "backtest",
    "BacktestSession": "backtest",
    "MarketData": "market_data",
    "de_lu_2019_market_data": "market_data",
    "simulated_market_data": "market_data",
    "RiskLimits": "risk",
    "StorageSpec": "types",
    "Fees": "types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Load an exported name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
