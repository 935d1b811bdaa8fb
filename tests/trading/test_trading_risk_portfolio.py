"""The portfolio's accounting by hand, performance figures by hand, and every risk limit
rejecting the order that would break it, by name."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from vpp.markets.trading.market_data import MarketView, simulated_market_data
from vpp.markets.trading.performance import performance
from vpp.markets.trading.portfolio import Portfolio
from vpp.markets.trading.risk import (
    RiskLimits,
    RiskManager,
    StressScenario,
    historical_shocks,
    value_at_risk,
)
from vpp.markets.trading.types import Fill, Order, StorageSpec

SPEC = StorageSpec(capacity_mwh=20.0, power_mw=10.0, round_trip_efficiency=0.81,
                   soc_min=0.1, soc_max=0.9, initial_soc=0.5)   # eta 0.9 each way


def _order(market, hour, side, mw, now=0, limit=None):
    return Order("t", market, hour, side, mw, limit, now)


def test_portfolio_accounting_hand_worked():
    data = simulated_market_data(3, seed=1)
    book = Portfolio(SPEC, data.hours, capital_eur=1000.0, imbalance_penalty_eur_mwh=50.0)
    equity0, unreal0 = book.valuation(MarketView(data, 0))
    last0 = float(data.day_ahead_eur_mwh[0])
    assert equity0 == pytest.approx(1000.0 + 10.0 * 0.9 * last0) and unreal0 == 0.0
    book.apply(Fill(_order("day_ahead", 1, "buy", 5.0), 30.0, 0.5))
    book.apply(Fill(_order("intraday", 3, "sell", 4.0), 60.0, 1.0))
    assert book.cash_eur == pytest.approx(1000 - 150 - 0.5 + 240 - 1.0)
    assert book.position("day_ahead", 1) == -5.0 and book.position("intraday", 3) == 4.0
    assert book.fees_eur == 1.5
    book.deliver(0, 40.0)
    d1 = book.deliver(1, 40.0)
    assert d1.delivered_mw == pytest.approx(-5.0) and d1.imbalance_mw == pytest.approx(0.0)
    assert book.energy_mwh == pytest.approx(10.0 + 5.0 * 0.9)          # eta_c * 5 MWh
    book.deliver(2, 40.0)
    d3 = book.deliver(3, 40.0)
    assert book.energy_mwh == pytest.approx(14.5 - 4.0 / 0.9)          # drawn = 4 / eta_d
    # the bought energy costs 30 EUR per MWh bought; the sale releases its share
    view = MarketView(data, 4)
    equity, unrealized = book.valuation(view)
    mark = float(data.intraday_eur_mwh[3])
    assert equity == pytest.approx(book.cash_eur + book.energy_mwh * 0.9 * mark)
    assert d3.imbalance_mw == pytest.approx(0.0)
    basis = (10 * 0.9 * last0 + 150.0) * (1 - (4 / 0.9) / 14.5)
    assert unrealized == pytest.approx(book.energy_mwh * 0.9 * mark - basis)


def test_an_undeliverable_sale_is_an_imbalance_settled_with_a_penalty():
    data = simulated_market_data(2, seed=1)
    book = Portfolio(SPEC, data.hours, capital_eur=0.0, imbalance_penalty_eur_mwh=50.0)
    book.apply(Fill(_order("intraday", 0, "sell", 10.0), 40.0, 0.0))
    d = book.deliver(0, 40.0)
    # 10 MWh stored, 2 MWh the floor: 8 MWh x 0.9 = 7.2 MW can be injected
    assert d.delivered_mw == pytest.approx(7.2) and d.imbalance_mw == pytest.approx(-2.8)
    assert d.imbalance_eur == pytest.approx(-2.8 * 40.0 - 2.8 * 50.0)
    assert book.imbalance_mwh == pytest.approx(2.8)


def test_performance_hand_worked():
    p = performance([110.0, 105.0, 120.0, 120.0], capital_eur=100.0, initial_equity=100.0)
    returns = np.array([0.10, -0.05, 0.15, 0.0])
    assert p.profit_eur == 20.0 and p.total_return == pytest.approx(0.2)
    assert p.volatility == pytest.approx(returns.std(ddof=1) * math.sqrt(365))
    assert p.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    assert p.max_drawdown_eur == 5.0 and p.max_drawdown == pytest.approx(0.05)
    assert p.hit_rate == pytest.approx(2 / 3)         # the flat day does not count
    with pytest.raises(ValueError, match="capital_eur"):
        performance([1.0], 0.0)


def _setup(limits, now=100, shocks=None):
    data = simulated_market_data(10, seed=3)
    book = Portfolio(SPEC, data.hours, capital_eur=1e6)
    risk = RiskManager(limits, book, shocks)
    view = MarketView(data, now)
    book.delivered_until = now + 1
    risk.start_hour(now, 1e6)
    return book, risk, view


def test_position_limit():
    _, risk, view = _setup(RiskLimits(position_limit_mw=5.0))
    ok = risk.check(_order("intraday", 101, "buy", 5.0), view)
    bad = risk.check(_order("intraday", 101, "buy", 5.1), view)
    assert ok.accepted and not bad.accepted
    assert bad.limit == "position_limit" and bad.reason.startswith("position_limit:")


def test_concentration_limit():
    book, risk, view = _setup(RiskLimits(max_concentration=0.05, concentration_floor_mw=1.0,
                                         physical=False))
    # open window: hours 101-143 (to the end of tomorrow), 43 h x 10 MW = 430 MW-hours
    book.apply(Fill(_order("day_ahead", 110, "sell", 3.0), 40.0, 0.0))
    book.apply(Fill(_order("intraday", 101, "buy", 3.0), 40.0, 0.0))
    assert risk.check(_order("intraday", 102, "buy", 18.0), view).accepted   # 21 / 430
    bad = risk.check(_order("intraday", 102, "buy", 19.0), view)            # 22 / 430
    assert bad.limit == "concentration_limit" and "5.1% of the battery's 430.0" in bad.reason


def test_daily_loss_limit_and_drawdown_stop():
    # the daily loss counts the booked equity: here fees, which are booked at once
    book, risk, view = _setup(RiskLimits(daily_loss_limit_eur=150.0))
    risk.start_hour(120, 1e6)               # midnight: the day starts
    book.apply(Fill(_order("intraday", 140, "buy", 0.1), 40.0, 140.0))
    risk.start_hour(121, 1e6)
    assert risk.check(_order("intraday", 122, "buy", 1.0), MarketView(view._data, 121)).accepted
    book.apply(Fill(_order("intraday", 141, "buy", 0.1), 40.0, 10.0))
    risk.start_hour(122, 1e6)
    bad = risk.check(_order("intraday", 123, "buy", 1.0), MarketView(view._data, 122))
    assert bad.limit == "daily_loss_limit" and "150.00 EUR" in bad.reason
    # the drawdown stop is on the marked equity
    _, risk, view = _setup(RiskLimits(max_drawdown_eur=50.0))
    risk.start_hour(101, 1e6 + 100)
    risk.start_hour(102, 1e6 + 50)
    bad = risk.check(_order("intraday", 103, "buy", 1.0), MarketView(view._data, 102))
    assert bad.limit == "drawdown_stop" and "50.00 EUR" in bad.reason


@pytest.mark.parametrize("method", ["historical", "parametric"])
def test_var_limit(method):
    limits = RiskLimits(var_method=method, var_confidence=0.95, var_lookback_h=72,
                        var_limit_eur=1e9)
    book, risk, view = _setup(limits)
    p = view.intraday_eur_mwh()[-96:]
    changes = p[24:] - p[:-24]
    order = _order("intraday", 101, "buy", 5.0)
    exposure = 5.0 + book.energy_mwh * SPEC.eta
    if method == "historical":
        expected = float(np.quantile(-exposure * changes, 0.95))
    else:
        expected = NormalDist().inv_cdf(0.95) * changes.std(ddof=1) * exposure
    assert value_at_risk(exposure, changes, 0.95, method) == pytest.approx(expected)
    risk.limits = RiskLimits(var_method=method, var_confidence=0.95, var_lookback_h=72,
                             var_limit_eur=expected * 1.01)
    assert risk.check(order, view).accepted
    risk.limits = RiskLimits(var_method=method, var_confidence=0.95, var_lookback_h=72,
                             var_limit_eur=expected * 0.99)
    bad = risk.check(order, view)
    assert bad.limit == "var_limit" and method in bad.reason
    # an order that reduces the exposure is never stopped by VaR
    assert risk.check(_order("intraday", 101, "sell", 5.0), view).accepted


def test_stress_limit_names_the_shock():
    shocks = (StressScenario("spike", 1000.0, "t", "s"), StressScenario("crash", -500.0, "t", "s"))
    book, risk, view = _setup(RiskLimits(stress_limit_eur=1e9), shocks=shocks)
    mark = view.mark_eur_mwh()
    exposure = book.energy_mwh * SPEC.eta + 2.0                   # long: the crash hurts
    loss = exposure * (mark + 500.0)
    risk.limits = RiskLimits(stress_limit_eur=loss * 0.99)
    bad = risk.check(_order("intraday", 101, "buy", 2.0), view)
    assert bad.limit == "stress_limit" and "'crash'" in bad.reason
    risk.limits = RiskLimits(stress_limit_eur=loss * 1.01)
    assert risk.check(_order("intraday", 101, "buy", 2.0), view).accepted


def test_the_named_historical_shocks_are_the_real_extremes():
    by_name = {s.name: s.price_eur_mwh for s in historical_shocks()}
    assert by_name["DE-LU 2019 negative price 2019-06-08"] == pytest.approx(-61.7)
    assert by_name["NL 2019-2024 negative price 2023-07-02"] == pytest.approx(-500.0)
    assert by_name["NL 2019-2024 price spike 2024-12-12"] == pytest.approx(872.96)


def test_power_limit_and_state_of_charge():
    book, risk, view = _setup(RiskLimits())
    bad = risk.check(_order("intraday", 101, "sell", 10.5), view)
    assert bad.limit == "power_limit"
    book.apply(Fill(_order("ancillary", 101, "sell", 4.0), 10.0, 0.0))
    assert risk.check(_order("intraday", 101, "sell", 6.5), view).limit == "power_limit"
    # 10 MWh stored, floor 2 MWh: selling 7.2 MW uses 8 MWh; 7.3 MW would go below
    assert risk.check(_order("intraday", 102, "sell", 7.2), view).accepted
    bad = risk.check(_order("intraday", 102, "sell", 7.3), view)
    assert bad.limit == "state_of_charge" and "after hour 102" in bad.reason
    # an earlier committed sale counts: the order must fit in what it leaves
    book.apply(Fill(_order("day_ahead", 101, "sell", 5.0), 40.0, 0.0))
    assert risk.check(_order("intraday", 102, "sell", 3.0), view).limit == "state_of_charge"
    assert risk.check(_order("intraday", 102, "sell", 2.1), view).accepted   # 4.44 - 2.33
