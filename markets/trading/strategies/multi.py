"""Several strategies as one, with weights.

Each strategy sees ``weight`` of the battery and of the book (:meth:`PortfolioView.scaled`),
so its targets are in its share. For each market and hour the combined target is the sum
over strategies of their target, or of their share of the position held when they said
nothing about it. The limit price of a combined signal is that of the strategy with the
largest weight among those that signalled it.
"""

from __future__ import annotations

from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import PortfolioView
from vpp.markets.trading.strategies.base import Strategy
from vpp.markets.trading.types import Signal

__all__ = ["MultiStrategy"]


class MultiStrategy:
    """Weighted aggregation of strategies (weights > 0, summing to at most 1).

    Args:
        strategies: ``(strategy, weight)`` pairs.
        name: the strategy's name in reports.
    """

    def __init__(self, strategies: list[tuple[Strategy, float]], name: str = "multi") -> None:
        if not strategies:
            raise ValueError("strategies: expected at least one (strategy, weight)")
        total = 0.0
        for i, (strategy, weight) in enumerate(strategies):
            if not isinstance(strategy, Strategy):
                raise ValueError(f"strategies[{i}]: {strategy!r} has no decide(view, book)")
            if not weight > 0:
                raise ValueError(f"strategies[{i}].weight: {weight} must be > 0")
            total += weight
        if total > 1.0 + 1e-9:
            raise ValueError(f"strategies: the weights sum to {total}, more than 1")
        self.name = name
        self.strategies = list(strategies)

    def decide(self, view: MarketView, book: PortfolioView) -> list[Signal]:
        """Every strategy's signals, combined per market and hour."""
        said: list[dict[tuple[str, int], Signal]] = []
        for strategy, weight in self.strategies:
            mine: dict[tuple[str, int], Signal] = {}
            for s in strategy.decide(view, book.scaled(weight)):
                mine[(s.market, s.delivery_hour)] = s
            said.append(mine)
        keys = {k for mine in said for k in mine}
        out = []
        for market, hour in sorted(keys, key=lambda k: (k[1], k[0])):
            target = 0.0
            limit, best = None, -1.0
            for (_, weight), mine in zip(self.strategies, said):
                s = mine.get((market, hour))
                if s is None:
                    target += weight * book.position(market, hour)
                else:
                    target += s.target_mw
                    if weight > best:
                        limit, best = s.limit_price_eur_mwh, weight
            out.append(Signal(market, hour, target, limit))
        return out
