"""Risk limits a battery trader can live with: the daily loss counts what is booked, not a
price spike re-marking the stored energy; concentration is a market's share of the
battery's power over the open hours, so a single-market plan still trades."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.markets.trading.market_data import MarketView, simulated_market_data
from vpp.markets.trading.portfolio import Portfolio
from vpp.markets.trading.risk import RiskLimits, RiskManager, booked_equity
from vpp.markets.trading.types import Fill, Order, StorageSpec

SPEC = StorageSpec(capacity_mwh=20.0, power_mw=10.0, round_trip_efficiency=0.81,
                   soc_min=0.1, soc_max=0.9, initial_soc=0.5)   # eta 0.9 each way


def _order(market, hour, side, mw, now=0):
    return Order("t", market, hour, side, mw, None, now)


def _spike_data():
    """Flat 40 EUR/MWh, except a 3,000 EUR/MWh hour realized at hour 23."""
    data = simulated_market_data(3, seed=1)
    flat = np.full(data.hours, 40.0)
    intraday = flat.copy()
    intraday[23] = 3000.0
    return data.replace(day_ahead_eur_mwh=flat, intraday_eur_mwh=intraday)


def _idle(limits, data):
    book = Portfolio(SPEC, data.hours, capital_eur=1e6)
    risk = RiskManager(limits, book)
    for now in range(0, 31):          # the backtest's order: deliver, mark, decide
        view = MarketView(data, now)
        if now:
            book.deliver(now - 1, float(data.intraday_eur_mwh[now - 1]))
        equity, _ = book.valuation(view)
        risk.start_hour(now, equity)
    return book, risk


def test_a_price_spike_on_an_idle_battery_is_no_daily_loss():
    data = _spike_data()
    limits = RiskLimits(daily_loss_limit_eur=1000.0)
    book, risk = _idle(limits, data)
    # at midnight (hour 24) the stored energy was marked at the spike, 3,000 EUR/MWh; by
    # hour 30 at 40 again: 10 MWh x 0.9 x 2,960 = 26,640 EUR of marked equity gone, which
    # used to stop all trading for the day
    marked_at_midnight = 1e6 + 10.0 * 0.9 * 3000.0
    assert marked_at_midnight - risk.equity_eur == pytest.approx(26_640.0)
    # nothing was booked: the cost basis of the 10 MWh (their value at the first mark,
    # 10 x 0.9 x 40 = 360 EUR) and the cash did not move
    assert booked_equity(book) == pytest.approx(1e6 + 360.0)
    assert risk.day_start_booked_eur == risk.booked_eur
    decision = risk.check(_order("intraday", 32, "sell", 1.0, now=30), MarketView(data, 30))
    assert decision.accepted


def test_a_loss_booked_today_still_stops_trading():
    data = _spike_data()
    limits = RiskLimits(daily_loss_limit_eur=150.0)
    book, risk = _idle(limits, data)
    view = MarketView(data, 30)
    # sell 3.6 MWh for hour 30 at 0 EUR/MWh: it draws 4 MWh of the 10 stored, releasing
    # 40 % of their 360 EUR cost basis: a booked loss of 144 EUR, under the limit ...
    book.apply(Fill(_order("intraday", 30, "sell", 3.6, now=29), 0.0, 0.0))
    book.deliver(30, 40.0)
    risk.start_hour(31, book.valuation(MarketView(data, 31))[0])
    assert risk.day_start_booked_eur - risk.booked_eur == pytest.approx(144.0)
    assert risk.check(_order("intraday", 33, "buy", 1.0, now=31), MarketView(data, 31)).accepted
    # ... and 10 EUR of fees more make it 154 EUR: stopped, the reason says booked
    book.apply(Fill(_order("intraday", 35, "buy", 0.1, now=31), 40.0, 10.0))
    risk.start_hour(32, book.valuation(MarketView(data, 32))[0])
    bad = risk.check(_order("intraday", 34, "buy", 1.0, now=32), MarketView(data, 32))
    assert bad.limit == "daily_loss_limit"
    assert bad.reason == ("daily_loss_limit: booked a loss of 154.00 EUR today, limit "
                          "150.00 EUR")
    del view


def _plan(risk, book, view, orders):
    """Check a day-ahead plan as the engine does: each order with the earlier committed."""
    held, failed = [], None
    for order in orders:
        decision = risk.check(order, view)
        if not decision.accepted:
            failed = decision
            break
        book.commit(order)
        held.append(order)
    for order in held:
        book.release(order)
    return failed


def test_a_single_market_day_ahead_plan_passes_a_sensible_concentration_limit():
    data = simulated_market_data(3, seed=3)
    book = Portfolio(SPEC, data.hours, capital_eur=1e6)
    risk = RiskManager(RiskLimits(max_concentration=0.6), book)
    now = 11                                   # the gate of day 0, for day 1
    book.delivered_until = now + 1
    risk.start_hour(now, 1e6)
    view = MarketView(data, now)
    # buy 4 MW in hours 26-27, sell 6 MW in hours 42-43: 20 MWh in one market, of the
    # battery's 10 MW x 36 open hours (12-47) = 360 MW-hours: 5.6 %, not 100 %
    plan = ([_order("day_ahead", h, "buy", 4.0, now) for h in (26, 27)]
            + [_order("day_ahead", h, "sell", 6.0, now) for h in (42, 43)])
    assert _plan(risk, book, view, plan) is None
    old_share = 1.0          # the earlier rule: 20 of 20 open MWh in one market
    assert old_share > 0.6
    # a plan that holds the battery at full power all of day 1 in the day-ahead market
    # (24 x 10 = 240 MWh of 360: 66.7 %) is concentrated beyond 60 %
    risk = RiskManager(RiskLimits(max_concentration=0.6, physical=False), book)
    heavy = [_order("day_ahead", h, "buy" if h % 2 else "sell", 10.0, now)
             for h in range(24, 48)]
    bad = _plan(risk, book, view, heavy)
    assert bad is not None and bad.limit == "concentration_limit"
    # it fails at the order that takes it past 60 %: the 22nd, 220 MWh = 61.1 %
    assert "61.1% of the battery's 360.0 MW-hours over hours 12-47" in bad.reason
