"""Trading strategies behind one protocol (:class:`Strategy`), and the built-in names.

``make_trading_strategy(use, **params)`` builds a built-in: ``arbitrage``, ``momentum``,
``mean_reversion``, ``ml``; ``multi`` takes ``strategies=[{use, weight, params}]``.
Any other class with ``name`` and ``decide(view, book)`` plugs in the same way (the
backtest scenario names it ``module:Class``).
"""

from __future__ import annotations

from typing import Any

from vpp.markets.trading.strategies.arbitrage import ArbitrageStrategy
from vpp.markets.trading.strategies.base import Strategy, headroom, intraday_signal
from vpp.markets.trading.strategies.ml import MLStrategy, WalkForwardForecaster
from vpp.markets.trading.strategies.multi import MultiStrategy
from vpp.markets.trading.strategies.technical import (
    MeanReversionStrategy,
    MomentumStrategy,
)

__all__ = [
    "BUILT_IN",
    "ArbitrageStrategy",
    "MLStrategy",
    "MeanReversionStrategy",
    "MomentumStrategy",
    "MultiStrategy",
    "Strategy",
    "WalkForwardForecaster",
    "headroom",
    "intraday_signal",
    "make_trading_strategy",
]

BUILT_IN: dict[str, type] = {
    "arbitrage": ArbitrageStrategy,
    "momentum": MomentumStrategy,
    "mean_reversion": MeanReversionStrategy,
    "ml": MLStrategy,
}
"""The built-in strategies by name (``multi`` is built by :func:`make_trading_strategy`)."""


def make_trading_strategy(use: str, /, **params: Any) -> Strategy:
    """The built-in strategy ``use`` with its parameters; ValueError names what is wrong."""
    if use == "multi":
        parts = params.pop("strategies", None)
        if not isinstance(parts, list) or not parts:
            raise ValueError("strategies: multi needs a list of {use, weight, params}")
        built = []
        for i, part in enumerate(parts):
            if not isinstance(part, dict) or "use" not in part:
                raise ValueError(f"strategies[{i}]: expected a mapping with `use`")
            built.append((make_trading_strategy(part["use"], **dict(part.get("params", {}))),
                          float(part.get("weight", 1.0 / len(parts)))))
        return MultiStrategy(built, **params)
    cls = BUILT_IN.get(use)
    if cls is None:
        raise ValueError(f"use: no trading strategy named {use!r} (known: "
                         f"{', '.join([*BUILT_IN, 'multi'])})")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"params: {use} does not take {sorted(params)}: {exc}") from None
