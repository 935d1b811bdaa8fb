"""Two price-pattern strategies on the continuous intraday market, with the battery.

Both look only at realized intraday prices (hours before ``now``) and the quote of the
next hour, and trade that hour at the quote. A long position is stored energy: buying
charges the battery, selling discharges it; targets are clipped to its headroom.
"""

from __future__ import annotations

import numpy as np
from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import PortfolioView
from vpp.markets.trading.strategies.base import intraday_signal
from vpp.markets.trading.types import Signal

__all__ = ["MeanReversionStrategy", "MomentumStrategy"]


class MomentumStrategy:
    """Trend following: buy while prices rise, sell while they fall.

    Momentum = mean of the last ``lookback_h`` realized prices minus the mean of the
    ``lookback_h`` before them (EUR/MWh). Above ``threshold_eur_mwh``: buy (charge) at
    full power next hour; below ``-threshold_eur_mwh``: sell (discharge); else nothing.
    """

    def __init__(self, lookback_h: int = 4, threshold_eur_mwh: float = 3.0,
                 name: str = "momentum") -> None:
        if lookback_h < 1:
            raise ValueError(f"lookback_h: {lookback_h} must be >= 1")
        self.name = name
        self.lookback_h = lookback_h
        self.threshold = threshold_eur_mwh

    def momentum(self, realized: np.ndarray) -> float | None:
        """The momentum of ``realized`` prices (None before ``2 x lookback_h`` hours)."""
        n = self.lookback_h
        if realized.size < 2 * n:
            return None
        return float(realized[-n:].mean() - realized[-2 * n: -n].mean())

    def decide(self, view: MarketView, book: PortfolioView) -> list[Signal]:
        """Buy or sell the next hour on the sign of the momentum."""
        m = self.momentum(view.intraday_eur_mwh())
        h = view.now + 1
        if m is None or abs(m) <= self.threshold or h >= view.hours:
            return []
        power = book.storage.power_mw
        return [intraday_signal(view, book, h, -power if m > 0 else power)]


class MeanReversionStrategy:
    """Buy when the next hour's quote is cheap against recent prices, sell when dear.

    Statistics over the last ``window_h`` realized prices: mean ``m`` and sample standard
    deviation ``s`` (ddof 1); ``z = (quote mid - m) / s``. ``z <= -entry_z``: buy (charge)
    at full power; ``z >= entry_z``: sell (discharge); otherwise nothing.
    """

    def __init__(self, window_h: int = 24, entry_z: float = 1.0,
                 name: str = "mean_reversion") -> None:
        if window_h < 3:
            raise ValueError(f"window_h: {window_h} must be >= 3")
        if entry_z <= 0:
            raise ValueError(f"entry_z: {entry_z} must be > 0")
        self.name = name
        self.window_h = window_h
        self.entry_z = entry_z

    def z_score(self, realized: np.ndarray, price: float) -> float | None:
        """``(price - mean) / std`` over the window (None without a full window or spread)."""
        if realized.size < self.window_h:
            return None
        w = realized[-self.window_h:]
        s = float(w.std(ddof=1))
        return None if s <= 0 else (price - float(w.mean())) / s

    def decide(self, view: MarketView, book: PortfolioView) -> list[Signal]:
        """Buy below ``-entry_z``, sell above ``entry_z``, for the next hour."""
        h = view.now + 1
        if h >= view.hours:
            return []
        bid, ask = view.quote(h)
        z = self.z_score(view.intraday_eur_mwh(), 0.5 * (bid + ask))
        if z is None or abs(z) < self.entry_z:
            return []
        power = book.storage.power_mw
        return [intraday_signal(view, book, h, power if z > 0 else -power)]
