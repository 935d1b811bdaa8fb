"""The rest of a market as a price-taking residual curve (``docs/markets.md``).

A participant far smaller than its market does not move the price. In each hour the
residual curve sells and buys ``depth_mw`` at the hour's price, so a uniform-price auction
clears at exactly that price whatever the small participant bids (as long as its volume
stays below ``depth_mw``), and the participant's steps better than the price are filled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vpp.markets.messages import CurveStep, HourlyCurve

__all__ = ["price_taking_curves"]


def price_taking_curves(prices_eur_mwh: Sequence[float], depth_mw: float,
                        hours: Sequence[int] | None = None) -> list[HourlyCurve]:
    """One curve per hour: sell ``depth_mw`` and buy ``depth_mw``, both at the hour's price.

    ``hours`` numbers the curves (default 0, 1, ...); errors name the field.
    """
    if not (math.isfinite(depth_mw) and depth_mw > 0):
        raise ValueError(f"depth_mw: {depth_mw} must be finite and > 0")
    hours = list(range(len(prices_eur_mwh))) if hours is None else list(hours)
    if len(hours) != len(prices_eur_mwh):
        raise ValueError(f"hours: {len(hours)} hours for {len(prices_eur_mwh)} prices")
    curves = []
    for i, (hour, price) in enumerate(zip(hours, prices_eur_mwh)):
        price = float(price)
        if not math.isfinite(price):
            raise ValueError(f"prices_eur_mwh[{i}]: {price} is not a finite number")
        curves.append(HourlyCurve(int(hour), [CurveStep(depth_mw, price),
                                              CurveStep(-depth_mw, price)]))
    return curves
