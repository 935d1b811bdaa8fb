"""The trader's book: positions per market and delivery hour, cash, fees, the battery.

Sign convention: a position is **sold minus bought** (MW for one hour, so MWh); positive
means energy the battery must inject. The battery is :class:`vpp.physics.battery.Battery`
(kW inside: MW x 1000), so delivery obeys its efficiencies and limits exactly.

Money (EUR): a sale adds ``price x MW`` to cash when it fills, a purchase takes it away;
fees, FCR capacity payments and imbalance settlements also go through cash.
Marks: an open position of hour ``h`` is marked at the intraday quote's mid when ``h`` is
the next hour, else at its day-ahead price when published, else at the latest realized
intraday price; stored energy at the latest realized intraday price times ``eta_d``.
``equity = cash + open positions at their marks + stored energy at its mark``;
``unrealized`` = those marks minus what the positions and the stored energy cost;
``realized = equity - initial equity - unrealized``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.types import ENERGY_MARKETS, Fill, Order, StorageSpec
from vpp.physics.battery import Battery

__all__ = ["Delivery", "Portfolio", "PortfolioView"]

KW_PER_MW = 1000.0
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Delivery:
    """One hour delivered: the set-point (MW, + inject), what the battery did, the gap."""

    hour: int
    setpoint_mw: float
    delivered_mw: float
    energy_mwh: float
    imbalance_mw: float
    imbalance_eur: float


class Portfolio:
    """Positions, cash and battery of one trader over ``hours`` delivery hours.

    Args:
        storage: the battery.
        hours: length of the market data (positions are arrays over it).
        capital_eur: starting cash (the base of returns).
        imbalance_penalty_eur_mwh: added to (short) or taken from (long) the intraday
            price when an imbalance is settled.
    """

    def __init__(self, storage: StorageSpec, hours: int, capital_eur: float = 1_000_000.0,
                 imbalance_penalty_eur_mwh: float = 50.0) -> None:
        self.storage = storage
        self.hours = hours
        self.capital_eur = capital_eur
        self.imbalance_penalty_eur_mwh = imbalance_penalty_eur_mwh
        self.battery = Battery(storage.battery())
        self.sold_mw = {m: np.zeros(hours) for m in ENERGY_MARKETS}
        self.bought_mw = {m: np.zeros(hours) for m in ENERGY_MARKETS}
        self.net_mw = np.zeros(hours)          # filled, over the energy markets
        self.committed_mw = np.zeros(hours)    # filled + pending (orders not yet cleared)
        self.pending_mw = {m: np.zeros(hours) for m in (*ENERGY_MARKETS, "ancillary")}
        self.cash_flow_eur = np.zeros(hours)   # money of energy trades per delivery hour
        self.reserve_mw = np.zeros(hours)
        self.cash_eur = capital_eur
        self.fees_eur = 0.0
        self.capacity_revenue_eur = 0.0
        self.imbalance_mwh = 0.0
        self.imbalance_eur = 0.0
        self.traded_mwh = 0.0
        self.stored_cost_eur: float | None = None   # set at the first mark
        self.initial_equity_eur: float | None = None
        self.delivered_until = 0                   # hours < this are delivered
        self.fills: list[Fill] = []

    # -- state ------------------------------------------------------------------------
    @property
    def energy_mwh(self) -> float:
        """Energy stored now."""
        return self.battery.energy_kwh / KW_PER_MW

    def position(self, market: str, hour: int) -> float:
        """Sold minus bought in ``market`` for ``hour``, pending orders included (for
        ``ancillary``: the MW of capacity reserved or offered)."""
        pending = float(self.pending_mw[market][hour])
        if market == "ancillary":
            return float(self.reserve_mw[hour]) + pending
        return float(self.sold_mw[market][hour] - self.bought_mw[market][hour]) + pending

    def reserve_committed(self, hour: int) -> float:
        """FCR capacity reserved or offered for ``hour`` (MW)."""
        return float(self.reserve_mw[hour] + self.pending_mw["ancillary"][hour])

    def commit(self, order: Order) -> None:
        """Hold a sent order that clears later (day-ahead, FCR) as pending."""
        self.pending_mw[order.market][order.delivery_hour] += order.signed_mw if \
            order.market != "ancillary" else order.quantity_mw
        if order.market != "ancillary":
            self.committed_mw[order.delivery_hour] += order.signed_mw

    def release(self, order: Order) -> None:
        """Forget a pending order (it cleared, or did not trade)."""
        self.pending_mw[order.market][order.delivery_hour] -= order.signed_mw if \
            order.market != "ancillary" else order.quantity_mw
        if order.market != "ancillary":
            self.committed_mw[order.delivery_hour] -= order.signed_mw

    # -- trades -----------------------------------------------------------------------
    def apply(self, fill: Fill) -> None:
        """Book a fill: position, cash, fee."""
        order = fill.order
        h, q = order.delivery_hour, order.quantity_mw
        self.fees_eur += fill.fee_eur
        self.cash_eur -= fill.fee_eur
        self.fills.append(fill)
        if order.market == "ancillary":
            payment = fill.price_eur_mwh * q           # EUR/MW/h x MW x 1 h
            self.reserve_mw[h] += q
            self.capacity_revenue_eur += payment
            self.cash_eur += payment
            return
        money = fill.price_eur_mwh * q
        self.traded_mwh += q
        self.committed_mw[h] += order.signed_mw
        if order.side == "sell":
            self.sold_mw[order.market][h] += q
            self.net_mw[h] += q
            self.cash_eur += money
            self.cash_flow_eur[h] += money
        else:
            self.bought_mw[order.market][h] += q
            self.net_mw[h] -= q
            self.cash_eur -= money
            self.cash_flow_eur[h] -= money

    # -- delivery ---------------------------------------------------------------------
    def deliver(self, hour: int, imbalance_price_eur_mwh: float) -> Delivery:
        """Run the battery for ``hour`` at the net position; settle what it cannot do."""
        setpoint = float(self.net_mw[hour])
        energy_before = self.energy_mwh
        state = self.battery.step(setpoint * KW_PER_MW, 1.0)
        delivered = state.power_kw / KW_PER_MW
        imbalance = delivered - setpoint            # < 0: short (sold more than delivered)
        money = imbalance * imbalance_price_eur_mwh - abs(imbalance) * \
            self.imbalance_penalty_eur_mwh
        self.cash_eur += money
        self.imbalance_mwh += abs(imbalance)
        self.imbalance_eur += money
        # the cost basis of stored energy: what bought energy cost, released on discharge
        if self.stored_cost_eur is not None:
            if delivered < -_EPS:
                bought = self.bought_mw["day_ahead"][hour] + self.bought_mw["intraday"][hour]
                unit = (-self.cash_flow_eur[hour] / bought if bought > _EPS
                        else imbalance_price_eur_mwh)
                self.stored_cost_eur += -delivered * unit
            elif delivered > _EPS and energy_before > _EPS:
                drawn = energy_before - self.energy_mwh
                self.stored_cost_eur *= max(0.0, 1.0 - drawn / energy_before)
        self.delivered_until = hour + 1
        return Delivery(hour, setpoint, delivered, self.energy_mwh, imbalance, money)

    # -- marks ------------------------------------------------------------------------
    def _open_marks(self, view: MarketView) -> tuple[np.ndarray, np.ndarray]:
        """Open hours (not yet delivered, with a position) and their marks."""
        start = self.delivered_until
        net = self.net_mw[start: start + 48]
        idx = np.nonzero(np.abs(net) > _EPS)[0] + start
        if idx.size == 0:
            return idx, idx.astype(float)
        last = view.mark_eur_mwh()
        da = view.day_ahead_eur_mwh()
        marks = np.where(idx < da.size, da[np.minimum(idx, da.size - 1)], last)
        nxt = view.now + 1
        if nxt < self.hours:
            bid, ask = view.quote(nxt)
            marks = np.where(idx == nxt, 0.5 * (bid + ask), marks)
        return idx, marks

    def valuation(self, view: MarketView) -> tuple[float, float]:
        """``(equity, unrealized)`` at hour ``view.now`` (EUR)."""
        last = view.mark_eur_mwh()
        eta = self.storage.eta
        stored_value = self.energy_mwh * eta * last
        if self.stored_cost_eur is None:
            self.stored_cost_eur = stored_value       # the initial energy, at the first mark
            self.initial_equity_eur = self.capital_eur + stored_value
        idx, marks = self._open_marks(view)
        open_value = float(-np.dot(self.net_mw[idx], marks))
        open_cost = float(-self.cash_flow_eur[idx].sum())
        equity = self.cash_eur + open_value + stored_value
        unrealized = (open_value - open_cost) + (stored_value - self.stored_cost_eur)
        return equity, unrealized

    # -- projections for risk and strategies --------------------------------------------
    def projected_energy(self, start: int, end: int, extra_hour: int = -1,
                         extra_mw: float = 0.0) -> np.ndarray:
        """Stored energy at the end of each hour ``start..end-1`` over the committed net
        positions (plus ``extra_mw`` in ``extra_hour``), starting from the energy now."""
        net = self.committed_mw[start:end].copy()
        if start <= extra_hour < end:
            net[extra_hour - start] += extra_mw
        eta = self.storage.eta
        change = np.where(net > 0, -net / eta, -net * eta)
        return self.energy_mwh + np.cumsum(change)


class PortfolioView:
    """What a strategy sees of the book: its share of the battery and of the positions.

    ``share`` scales every quantity (a multi-strategy gives each strategy its weight).
    """

    __slots__ = ("_book", "share", "storage")

    def __init__(self, book: Portfolio, share: float = 1.0) -> None:
        self._book = book
        self.share = share
        self.storage = book.storage if share == 1.0 else book.storage.scaled(share)

    def scaled(self, share: float) -> PortfolioView:
        """The same book seen with ``share`` of this view's part."""
        return PortfolioView(self._book, self.share * share)

    @property
    def energy_mwh(self) -> float:
        """Stored energy now (this share)."""
        return self._book.energy_mwh * self.share

    def position(self, market: str, hour: int) -> float:
        """Position in ``market`` for ``hour`` (this share)."""
        return self._book.position(market, hour) * self.share

    def net_mw(self, hour: int) -> float:
        """Net energy position of ``hour`` over the energy markets, pending orders
        included (this share)."""
        return float(self._book.committed_mw[hour]) * self.share

    def reserve_mw(self, hour: int) -> float:
        """FCR capacity reserved or offered for ``hour`` (this share)."""
        return self._book.reserve_committed(hour) * self.share

    def energy_path(self, now: int, hour: int) -> np.ndarray:
        """Energy at the end of hours ``hour ..`` the last committed one (this share); the
        energy now when nothing is committed after ``hour``."""
        book = self._book
        start = now + 1
        last = int(np.max(np.nonzero(book.committed_mw[start:start + 48])[0], initial=-1)) + start
        end = max(last, hour) + 1
        path = book.projected_energy(start, end)[hour - start:]
        return (path if path.size else np.array([book.energy_mwh])) * self.share

    def energy_at(self, hour: int, now: int) -> float:
        """Energy expected at the start of ``hour`` over the positions committed after ``now``."""
        if hour <= now + 1:
            return self.energy_mwh
        return float(self._book.projected_energy(now + 1, hour)[-1]) * self.share
