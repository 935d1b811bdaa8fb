"""The quick-start's strategy factory: ``create_arbitrage_strategy(price_threshold=...)``."""

from __future__ import annotations

from typing import Any

from vpp.markets.trading.strategies import ArbitrageStrategy

__all__ = ["QuickArbitrageStrategy", "create_arbitrage_strategy"]


class QuickArbitrageStrategy(ArbitrageStrategy):
    """The project's battery arbitrage (:class:`ArbitrageStrategy`: a day-ahead plan on a
    forecast, corrected intraday once prices are known) that trades only spreads worth
    ``price_threshold_eur_mwh`` beyond fees and losses.

    Its plans are made net of half the threshold on each leg (the purchase and the sale)
    on top of the fees, so a charge-and-discharge cycle is planned only when its spread
    pays the fees, the battery's losses and the threshold. The fees charged on fills are
    the market's, unchanged. FCR capacity is not offered unless ``fcr_share`` is given.

    Args:
        price_threshold_eur_mwh: the threshold (EUR/MWh, >= 0).
        params: :class:`ArbitrageStrategy`'s other parameters.
    """

    def __init__(self, price_threshold_eur_mwh: float = 0.0, *, fcr_share: float = 0.0,
                 day_ahead_fee_eur_mwh: float = 0.1, intraday_fee_eur_mwh: float = 0.75,
                 **params: Any) -> None:
        if not price_threshold_eur_mwh >= 0:
            raise ValueError(f"price_threshold: {price_threshold_eur_mwh} must be >= 0")
        half = price_threshold_eur_mwh / 2.0
        super().__init__(day_ahead_fee_eur_mwh=day_ahead_fee_eur_mwh + half,
                         intraday_fee_eur_mwh=intraday_fee_eur_mwh + half,
                         fcr_share=fcr_share, **params)
        self.price_threshold_eur_mwh = float(price_threshold_eur_mwh)


def create_arbitrage_strategy(price_threshold: float = 0.02, **params: Any
                              ) -> QuickArbitrageStrategy:
    """The arbitrage strategy with the reference's ``price_threshold`` (per kWh, as its
    quick-start: 0.02 = 20 per MWh) as the least spread worth a cycle beyond fees and
    losses; ``params`` are :class:`ArbitrageStrategy`'s (``fcr_share``, ``slippage_eur_mwh``,
    ``use_intraday``, ``name``...)."""
    if isinstance(price_threshold, bool) or not isinstance(price_threshold, (int, float)):
        raise ValueError(f"price_threshold: {price_threshold!r} must be a number (per kWh)")
    return QuickArbitrageStrategy(price_threshold * 1000.0, **params)
