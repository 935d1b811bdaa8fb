"""Multi-market arbitrage with a battery: day-ahead vs continuous intraday vs FCR capacity.

At the gate (the day before delivery) the day-ahead prices are not known: the strategy
plans the battery with the schedule LP on a persistence forecast (today's prices for
tomorrow), net of the day-ahead fee and the battery's losses, and takes that position in
the day-ahead auction. Hours the plan leaves idle are offered as FCR capacity
(``fcr_share`` of the power). Once the day-ahead prices are published it plans again on
the known prices (power cut by the reserve, net of the intraday fee and half the quote's
spread) and trades the difference intraday, each hour one hour ahead, at a limit of the
day-ahead price -+ ``slippage_eur_mwh``: an unfavourable quote is not taken, unless the
battery could not deliver the hour without the trade (then it is a market order). When an
hour did not go as planned, it plans again from the energy it has.
"""

from __future__ import annotations

import numpy as np
from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import PortfolioView
from vpp.markets.trading.strategies.base import plan_battery
from vpp.markets.trading.types import Signal

__all__ = ["ArbitrageStrategy"]


class ArbitrageStrategy:
    """Day-ahead plan on a forecast, FCR in idle hours, intraday correction on known prices.

    Args:
        day_ahead_fee_eur_mwh, intraday_fee_eur_mwh: the fees the plans are net of.
        slippage_eur_mwh: how far from the day-ahead price an intraday trade may be.
        fcr_share: share of the power offered as FCR in idle hours (0: none).
        use_intraday: trade the correction intraday.
        name: the strategy's name in reports.
    """

    def __init__(self, day_ahead_fee_eur_mwh: float = 0.1, intraday_fee_eur_mwh: float = 0.75,
                 slippage_eur_mwh: float = 5.0, fcr_share: float = 0.5,
                 use_intraday: bool = True, name: str = "arbitrage") -> None:
        if not 0.0 <= fcr_share <= 1.0:
            raise ValueError(f"fcr_share: {fcr_share} must lie in [0, 1]")
        self.name = name
        self.day_ahead_fee = day_ahead_fee_eur_mwh
        self.intraday_fee = intraday_fee_eur_mwh
        self.slippage = slippage_eur_mwh
        self.fcr_share = fcr_share
        self.use_intraday = use_intraday
        self.plan: dict[int, float] = {}       # hour -> wanted net position (known prices)
        self.plans = 0

    @staticmethod
    def _deliverable(book: PortfolioView, net_mw: float) -> bool:
        """Can the battery deliver ``net_mw`` next hour from the energy it holds now?"""
        spec = book.storage
        eta = spec.eta
        after = book.energy_mwh - (net_mw / eta if net_mw > 0 else net_mw * eta)
        return (spec.soc_min * spec.capacity_mwh - 1e-6 <= after
                <= spec.soc_max * spec.capacity_mwh + 1e-6)

    def _deviated(self, view: MarketView, book: PortfolioView) -> bool:
        """True when the hour just delivered did not follow the plan (an intraday order
        was refused or not filled), so the rest of the plan no longer fits the battery."""
        wanted = self.plan.get(view.now)
        return wanted is not None and abs(book.net_mw(view.now) - wanted) > 0.05

    def _replan(self, view: MarketView, book: PortfolioView, stop: int) -> None:
        """Plan from the next hour to ``stop`` (end of the known prices) from the energy now."""
        hours = range(view.now + 1, min(stop, view.hours))
        if len(hours) < 2:
            return
        prices = view.day_ahead_eur_mwh()[hours.start: hours.stop]
        limit = np.array([book.storage.power_mw - book.reserve_mw(h) for h in hours])
        net = plan_battery(prices, book, book.energy_mwh, self.intraday_fee,
                           np.maximum(limit, 0.0))
        self.plans += 1
        self.plan = {h: float(q) for h, q in zip(hours, net)}

    def decide(self, view: MarketView, book: PortfolioView) -> list[Signal]:
        """Day-ahead and FCR at the gate; a new plan at publication; intraday each hour."""
        out: list[Signal] = []
        if view.is_gate:
            hours = view.tomorrow
            known = view.day_ahead_eur_mwh()
            forecast = known[hours.start - 24: hours.stop - 24]
            # from the energy the committed positions lead to (what the risk check sees);
            # the plan at publication starts from the energy now and corrects intraday
            e0 = book.energy_at(hours.start, view.now)
            net = plan_battery(forecast, book, e0, self.day_ahead_fee)
            self.plans += 1
            for h, q in zip(hours, net):
                out.append(Signal("day_ahead", h, float(q)))
            if self.fcr_share > 0:
                offer = round(self.fcr_share * book.storage.power_mw, 1)
                for h, q in zip(hours, net):
                    if q == 0.0 and offer > 0:
                        out.append(Signal("ancillary", h, offer, 0.0))
        elif self.use_intraday and self._deviated(view, book):
            self._replan(view, book, view.now // 24 * 24 + 24 + (
                24 if view.hour_of_day >= 12 else 0))
        elif view.is_publication and self.use_intraday:
            self._replan(view, book, view.tomorrow.stop)
        h = view.now + 1
        wanted = self.plan.get(h)
        if wanted is not None:
            change = wanted - book.net_mw(h)
            if abs(change) >= 0.05:
                price = float(view.day_ahead_eur_mwh()[h])
                limit_price = price - self.slippage if change > 0 else price + self.slippage
                if not self._deliverable(book, book.net_mw(h)):
                    limit_price = None   # without the correction the battery falls short
                out.append(Signal("intraday", h, book.position("intraday", h) + change,
                                  limit_price))
        return out
