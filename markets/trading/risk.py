"""Pre-trade risk: every limit is checked before an order leaves, and a rejection names it.

Limits (``None`` switches one off; see ``docs/trading.md`` for each rule):
``position_limit``, ``concentration_limit``, ``daily_loss_limit``, ``drawdown_stop``,
``var_limit`` (historical or parametric VaR), ``stress_limit`` (named historical shocks),
``power_limit`` and ``state_of_charge`` (what the battery can physically do).

Exposure: the net energy held for the hours not yet delivered (bought minus sold, MWh)
plus the stored energy worth selling (``energy x eta_d``); a price change ``dp`` changes
the book's value by ``exposure x dp``.

Two limits are defined for a storage trader (``docs/trading.md``): the daily loss counts
what is *booked* (trades against their cost, the stored energy at its cost basis, fees,
imbalances), not the re-marking of stored energy or open positions, so a price spike on an
idle battery loses nothing; concentration is one market's share of the battery's power
over the open hours, so a single-market plan is as concentrated as the share of the
battery it uses, not 100 %. The drawdown stop stays on the marked equity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Annotated, Literal

import msgspec
import numpy as np
from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import Portfolio
from vpp.markets.trading.types import Order

__all__ = [
    "booked_equity",
    "RiskDecision",
    "RiskLimits",
    "RiskManager",
    "StressScenario",
    "day_ahead_shocks",
    "historical_shocks",
    "series_shocks",
    "value_at_risk",
]

_TOL = 1e-6
_EPS = 1e-9
_OPEN_HOURS = 48       # the open positions the portfolio marks (Portfolio._open_marks)


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The trader's limits; ``None`` switches a limit off.

    ``max_concentration``: the most of the battery's power-hours over the open window (the
    undelivered hours to the end of tomorrow) that one market's positions may hold, once
    the book holds ``concentration_floor_mw``. ``daily_loss_limit_eur`` applies to the
    booked equity (:func:`booked_equity`), ``max_drawdown_eur`` to the marked equity.
    """

    position_limit_mw: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_concentration: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    concentration_floor_mw: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    daily_loss_limit_eur: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_drawdown_eur: Annotated[float, msgspec.Meta(gt=0)] | None = None
    var_limit_eur: Annotated[float, msgspec.Meta(gt=0)] | None = None
    var_method: Literal["historical", "parametric"] = "historical"
    var_confidence: Annotated[float, msgspec.Meta(gt=0.5, lt=1)] = 0.95
    var_lookback_h: Annotated[int, msgspec.Meta(ge=48)] = 720
    stress_limit_eur: Annotated[float, msgspec.Meta(gt=0)] | None = None
    physical: bool = True
    """Check ``power_limit`` and ``state_of_charge`` (the battery's own limits)."""


class StressScenario(msgspec.Struct, frozen=True):
    """A named shock: the price jumps to ``price_eur_mwh`` (seen at ``when`` in ``source``)."""

    name: str
    price_eur_mwh: float
    when: str
    source: str


@lru_cache(maxsize=1)
def historical_shocks() -> tuple[StressScenario, ...]:
    """The lowest and highest hourly prices of the bundled real series, as named shocks."""
    from vpp.markets.data import load_de_lu_2019, load_ember_nl

    out = []
    for label, series in (("DE-LU 2019", load_de_lu_2019().prices()),
                          ("NL 2019-2024", load_ember_nl())):
        for kind, index in (("negative price", int(np.argmin(series.price_eur_mwh))),
                            ("price spike", int(np.argmax(series.price_eur_mwh)))):
            when = str(series.timestamps_utc[index])[:16] + "Z"
            out.append(StressScenario(f"{label} {kind} {when[:10]}",
                                      float(series.price_eur_mwh[index]), when, series.source))
    return tuple(out)


def series_shocks(timestamps_utc: np.ndarray, prices: np.ndarray, label: str,
                  source: str) -> tuple[StressScenario, ...]:
    """Historical shocks from the series being traded: its lowest and highest hour, and
    its lowest and highest day (the day's mean price; whole days from hour 0), each named
    with its time. The prices are in the series' own currency.

    Like the fixed shocks of :func:`historical_shocks`, these are a stress set taken from
    the whole series given: a backtest's shocks know the extremes of its own window.
    """
    prices = np.asarray(prices, dtype=float)
    if prices.size == 0:
        return ()
    out = []
    for kind, index in (("lowest hour", int(np.nanargmin(prices))),
                        ("highest hour", int(np.nanargmax(prices)))):
        when = str(timestamps_utc[index])[:16] + "Z"
        out.append(StressScenario(f"{label} {kind} {when}", float(prices[index]), when,
                                  source))
    days = prices.size // 24
    if days:
        means = np.nanmean(prices[:days * 24].reshape(days, 24), axis=1)
        for kind, day in (("lowest day", int(np.nanargmin(means))),
                          ("highest day", int(np.nanargmax(means)))):
            when = str(timestamps_utc[day * 24])[:10]
            out.append(StressScenario(f"{label} {kind} {when}", float(means[day]), when,
                                      source))
    return tuple(out)


def day_ahead_shocks(data) -> tuple[StressScenario, ...]:
    """:func:`series_shocks` of a :class:`~vpp.markets.trading.market_data.MarketData`'s
    day-ahead prices (the series a backtest or the automated engine trades)."""
    return series_shocks(data.timestamps_utc, data.day_ahead_eur_mwh, "day-ahead",
                         data.source)


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """Accepted, or rejected by ``limit`` (its name) with a ``reason`` that starts with it."""

    accepted: bool
    limit: str = ""
    reason: str = ""


ACCEPT = RiskDecision(True)


def booked_equity(book: Portfolio) -> float:
    """The book's equity with nothing re-marked (EUR): cash, plus the money paid (less
    received) for positions not yet delivered, plus the stored energy at its cost basis.

    It is the equity less the unrealized P&L of :meth:`Portfolio.valuation`: it moves with
    trades closed against their cost, fees, capacity payments and imbalances, never with a
    price that only re-marks stored energy or open positions.
    """
    start = book.delivered_until
    net = book.net_mw[start:start + _OPEN_HOURS]
    open_hours = np.nonzero(np.abs(net) > _EPS)[0] + start
    stored_cost = book.stored_cost_eur if book.stored_cost_eur is not None else 0.0
    return float(book.cash_eur - book.cash_flow_eur[open_hours].sum() + stored_cost)


def value_at_risk(exposure_mwh: float, price_changes: np.ndarray, confidence: float,
                  method: str) -> float:
    """VaR (EUR, >= 0) of ``exposure_mwh`` to a price change drawn like ``price_changes``.

    ``historical``: the ``confidence`` quantile of the loss ``-exposure x change`` over the
    sample; ``parametric``: ``z(confidence) x std(change) x |exposure|`` (normal, mean 0).
    """
    if price_changes.size == 0 or exposure_mwh == 0.0:
        return 0.0
    if method == "parametric":
        z = NormalDist().inv_cdf(confidence)
        return float(z * price_changes.std(ddof=1) * abs(exposure_mwh))
    if method != "historical":
        raise ValueError(f"var_method: {method!r} must be 'historical' or 'parametric'")
    losses = -exposure_mwh * price_changes
    return max(0.0, float(np.quantile(losses, confidence)))


class RiskManager:
    """Checks orders against :class:`RiskLimits` for one portfolio.

    The engine calls :meth:`start_hour` each hour with the marked equity (for the drawdown),
    then :meth:`check` for each order. The daily loss is taken on :func:`booked_equity`,
    read from the book at :meth:`start_hour`.
    """

    def __init__(self, limits: RiskLimits, portfolio: Portfolio,
                 shocks: tuple[StressScenario, ...] | None = None) -> None:
        self.limits = limits
        self.book = portfolio
        if shocks is None and limits.stress_limit_eur is not None:
            shocks = historical_shocks()
        self.shocks = shocks or ()
        self.equity_eur = 0.0
        self.booked_eur = 0.0
        self.day_start_booked_eur = 0.0
        self.peak_equity_eur = -math.inf
        self._changes_at = -1
        self._changes = np.zeros(0)

    def start_hour(self, now: int, equity_eur: float) -> None:
        """Record the marked equity and the booked equity at hour ``now`` (a new day resets
        the daily P&L)."""
        booked = booked_equity(self.book)
        if now % 24 == 0 or self.peak_equity_eur == -math.inf:
            self.day_start_booked_eur = booked
        self.equity_eur = equity_eur
        self.booked_eur = booked
        self.peak_equity_eur = max(self.peak_equity_eur, equity_eur)

    def _price_changes(self, view: MarketView) -> np.ndarray:
        if self._changes_at != view.now:
            p = view.intraday_eur_mwh()[-self.limits.var_lookback_h - 24:]
            self._changes = p[24:] - p[:-24] if p.size > 24 else np.zeros(0)
            self._changes_at = view.now
        return self._changes

    def exposure_mwh(self, order: Order | None = None) -> float:
        """Bought minus sold over the undelivered hours, plus stored energy x eta_d."""
        start = self.book.delivered_until
        held = -float(self.book.committed_mw[start:].sum())
        if order is not None and order.market != "ancillary":
            held -= order.signed_mw
        return held + self.book.energy_mwh * self.book.storage.eta

    def check(self, order: Order, view: MarketView) -> RiskDecision:
        """The first limit ``order`` would break, or acceptance."""
        lim = self.limits
        book = self.book
        h = order.delivery_hour
        if lim.daily_loss_limit_eur is not None:
            loss = self.day_start_booked_eur - self.booked_eur
            if loss >= lim.daily_loss_limit_eur:
                return RiskDecision(False, "daily_loss_limit",
                                    f"daily_loss_limit: booked a loss of {loss:.2f} EUR "
                                    f"today, limit {lim.daily_loss_limit_eur:.2f} EUR")
        if lim.max_drawdown_eur is not None:
            dd = self.peak_equity_eur - self.equity_eur
            if dd >= lim.max_drawdown_eur:
                return RiskDecision(False, "drawdown_stop",
                                    f"drawdown_stop: drawdown {dd:.2f} EUR, stop at "
                                    f"{lim.max_drawdown_eur:.2f} EUR")
        energy = order.market != "ancillary"
        after = book.position(order.market, h) + (order.signed_mw if energy
                                                  else order.quantity_mw)
        if lim.position_limit_mw is not None and abs(after) > lim.position_limit_mw + _TOL:
            return RiskDecision(False, "position_limit",
                                f"position_limit: {order.market} hour {h} would hold "
                                f"{after:+.1f} MW, limit {lim.position_limit_mw} MW")
        if lim.max_concentration is not None:
            decision = self._concentration(order, after)
            if not decision.accepted:
                return decision
        if lim.physical:
            decision = self._physical(order, view)
            if not decision.accepted:
                return decision
        if lim.var_limit_eur is not None or lim.stress_limit_eur is not None:
            exposure = self.exposure_mwh(order)
            before = self.exposure_mwh()
            reduces = abs(exposure) < abs(before) - _TOL
            if lim.var_limit_eur is not None and not reduces:
                var = value_at_risk(exposure, self._price_changes(view), lim.var_confidence,
                                    lim.var_method)
                if var > lim.var_limit_eur:
                    return RiskDecision(False, "var_limit",
                                        f"var_limit: {lim.var_method} VaR "
                                        f"{100 * lim.var_confidence:.0f}% of {exposure:+.1f} "
                                        f"MWh is {var:.2f} EUR, limit {lim.var_limit_eur:.2f}"
                                        f" EUR")
            if lim.stress_limit_eur is not None and not reduces:
                mark = view.mark_eur_mwh()
                for shock in self.shocks:
                    loss = -exposure * (shock.price_eur_mwh - mark)
                    if loss > lim.stress_limit_eur:
                        return RiskDecision(False, "stress_limit",
                                            f"stress_limit: '{shock.name}' "
                                            f"({shock.price_eur_mwh:.2f} EUR/MWh) would lose "
                                            f"{loss:.2f} EUR, limit "
                                            f"{lim.stress_limit_eur:.2f} EUR")
        return ACCEPT

    def _concentration(self, order: Order, after: float) -> RiskDecision:
        """One market's gross open MW-hours over the battery's power-hours in the open
        window (the undelivered hours to the end of tomorrow, or of the order's hour), or
        over the book's gross open MW-hours in all markets when they are more."""
        book = self.book
        start = book.delivered_until
        gross = {m: float(np.abs(book.sold_mw[m][start:] - book.bought_mw[m][start:]
                                 + book.pending_mw[m][start:]).sum()) for m in book.sold_mw}
        gross["ancillary"] = float((book.reserve_mw[start:]
                                    + book.pending_mw["ancillary"][start:]).sum())
        gross[order.market] += abs(after) - abs(book.position(order.market,
                                                              order.delivery_hour))
        total = sum(gross.values())
        window_end = max((start // 24 + 2) * 24, order.delivery_hour + 1)
        capacity = book.storage.power_mw * (window_end - start)
        base = max(total, capacity)
        share = gross[order.market] / base if base > 0 else 0.0
        if total >= self.limits.concentration_floor_mw and \
                share > self.limits.max_concentration + _TOL:
            return RiskDecision(False, "concentration_limit",
                                f"concentration_limit: {order.market} would hold "
                                f"{100 * share:.1f}% of the battery's {base:.1f} MW-hours "
                                f"over hours {start}-{window_end - 1} ({total:.1f} MWh open "
                                f"in all markets), limit "
                                f"{100 * self.limits.max_concentration:.0f}%")
        return ACCEPT

    def _physical(self, order: Order, view: MarketView) -> RiskDecision:
        book = self.book
        spec = book.storage
        h = order.delivery_hour
        net = float(book.committed_mw[h]) + (order.signed_mw if order.market != "ancillary"
                                             else 0.0)
        reserve = book.reserve_committed(h) + (order.quantity_mw
                                               if order.market == "ancillary" else 0.0)
        if abs(net) + reserve > spec.power_mw + _TOL:
            return RiskDecision(False, "power_limit",
                                f"power_limit: hour {h} would need {abs(net):.1f} MW + "
                                f"{reserve:.1f} MW reserve, battery has {spec.power_mw} MW")
        if order.market == "ancillary":
            return ACCEPT
        # the path through the order's hour: can the battery deliver it, given everything
        # committed before it? Later positions can still be traded intraday; if they are
        # not, what the battery cannot do is settled as imbalance (and reported).
        start = view.now + 1
        end = max(h + 1, start + 1)
        low, high = spec.soc_min * spec.capacity_mwh, spec.soc_max * spec.capacity_mwh
        before = book.projected_energy(start, end)
        path = book.projected_energy(start, end, h, order.signed_mw)

        def excess(p: np.ndarray) -> float:
            """How far (MWh) the path leaves the window, 0 inside it."""
            return max(0.0, low - float(p.min()), float(p.max()) - high)

        # an order is refused when it makes the path leave the window (or leave it further)
        if excess(path) > max(_TOL, excess(before) + _TOL):
            bad = int(np.argmax((path < low - _TOL) | (path > high + _TOL))) + start
            return RiskDecision(False, "state_of_charge",
                                f"state_of_charge: the battery would hold "
                                f"{path[bad - start]:.2f} MWh after hour {bad}, window "
                                f"[{low:.2f}, {high:.2f}] MWh")
        return ACCEPT
