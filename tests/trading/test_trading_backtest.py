"""Backtests: reproducible, blind to the future, energy and money add up."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.markets.trading.backtest import run_backtest
from vpp.markets.trading.engine import create_arbitrage_strategy, create_trading_engine
from vpp.markets.trading.market_data import (
    MarketView,
    de_lu_2019_market_data,
    simulated_market_data,
)
from vpp.markets.trading.portfolio import PortfolioView
from vpp.markets.trading.strategies import MultiStrategy, make_trading_strategy
from vpp.markets.trading.types import Fill, StorageSpec

STRATEGIES = ("arbitrage", "momentum", "mean_reversion", "ml")


def _run(data, names=STRATEGIES, **kwargs):
    params = {"ml": {"min_train_days": 7, "retrain_days": 7}}
    engines = [create_trading_engine(n, hours=data.hours, **params.get(n, {}), **kwargs)
               for n in names]
    return run_backtest(data, engines)


@pytest.fixture(scope="module")
def data():
    return de_lu_2019_market_data(seed=4, days=24)


@pytest.fixture(scope="module")
def result(data):
    return _run(data)


def test_same_seed_same_trades_other_seed_other_trades(data, result):
    again = _run(data)
    for a, b in zip(result.traders, again.traders):
        assert a.trades() == b.trades() and len(a.trades()) > 20
        np.testing.assert_array_equal(a.equity_eur, b.equity_eur)
    other = _run(de_lu_2019_market_data(seed=5, days=24))
    assert other.traders[1].trades() != result.traders[1].trades()


def test_a_poisoned_future_changes_no_earlier_decision(data, result):
    """From day 15 on, every series is replaced by wild values; decisions taken before the
    first of them is published (day 14, 11:00, the gate for day 15) must not change."""
    first = 24 * 15
    rng = np.random.default_rng(0)
    poison = {name: np.concatenate([getattr(data, name)[:first],
                                    rng.uniform(-400, 3000, data.hours - first)])
              for name in ("day_ahead_eur_mwh", "intraday_eur_mwh", "fcr_eur_mw_h",
                           "load_forecast_mw", "load_actual_mw")}
    poisoned = _run(data.replace(**poison))
    cutoff = first - 24 + 11
    for clean, bad in zip(result.traders, poisoned.traders):
        before = [t for t in clean.trades() if t[0] < cutoff]
        assert before and before == [t for t in bad.trades() if t[0] < cutoff]
        np.testing.assert_array_equal(clean.equity_eur[:cutoff], bad.equity_eur[:cutoff])
        assert clean.trades() != bad.trades()    # the poison is there: later trades differ


def test_fills_are_at_the_historical_prices(data, result):
    half = data.intraday_half_spread_eur_mwh
    for trader in result.traders:
        for f in trader.fills:
            o = f.order
            if o.market == "day_ahead":
                assert f.price_eur_mwh == data.day_ahead_eur_mwh[o.delivery_hour]
                assert o.decided_hour % 24 == 11
                assert o.delivery_hour // 24 == o.decided_hour // 24 + 1
            elif o.market == "intraday":
                sign = 1 if o.side == "buy" else -1
                assert f.price_eur_mwh == pytest.approx(
                    data.intraday_eur_mwh[o.delivery_hour] + sign * half)
                assert o.delivery_hour == o.decided_hour + 1
                if o.limit_price_eur_mwh is not None:
                    assert sign * (o.limit_price_eur_mwh - f.price_eur_mwh) >= -1e-9
            else:
                assert f.price_eur_mwh == data.fcr_eur_mw_h[o.delivery_hour]


def test_energy_and_money_add_up(data, result):
    spec = StorageSpec()
    eta = spec.eta
    for trader in result.traders:
        p = trader.delivered_mw
        stored = np.where(p < 0, -p * eta, -p / eta)
        np.testing.assert_allclose(trader.energy_mwh[1:], 10.0 + np.cumsum(stored), atol=1e-6)
        assert trader.energy_mwh.max() <= 18.0 + 1e-6 and trader.energy_mwh.min() >= 2.0 - 1e-6
        # no energy from nowhere: what was sold <= what was bought x round trip + stock
        sold, bought = p[p > 0].sum(), -p[p < 0].sum()
        assert sold <= 0.9 * bought + eta * (10.0 - trader.energy_mwh[-1]) + 1e-6
        # realized + unrealized = the equity change, and the P&L is the equity change
        np.testing.assert_allclose(trader.realized_eur + trader.unrealized_eur
                                   - trader.unrealized_eur[0],
                                   trader.equity_eur - trader.equity_eur[0], atol=1e-6)
        assert trader.performance.profit_eur == pytest.approx(
            trader.equity_eur[24 * 24] - trader.equity_eur[0])
        assert trader.imbalance_mwh < 1.0


def test_the_strategies_earn_what_they_should(result):
    by = {t.name: t for t in result.traders}
    # the battery strategies make money on DE-LU January 2019; FCR pays the arbitrage
    assert by["arbitrage"].performance.profit_eur > 0
    assert by["arbitrage"].capacity_revenue_eur > 0
    assert by["mean_reversion"].performance.profit_eur > 0
    assert by["ml"].forecast["days"] > 0


def test_signals_are_positions_so_a_repeated_signal_orders_nothing(data):
    engine = create_trading_engine("arbitrage", hours=data.hours)
    view = MarketView(data, 11)
    signals = engine.strategy.decide(view, PortfolioView(engine.portfolio))
    orders = engine.orders_from(signals, 11)
    assert orders and all(o.market in ("day_ahead", "ancillary") for o in orders)
    for o in orders:
        engine.filled(Fill(o, 40.0, 0.0))
    assert engine.orders_from(signals, 11) == []


def test_multi_strategy_splits_the_battery_by_weight():
    data = simulated_market_data(6, seed=2)
    both = MultiStrategy([(make_trading_strategy("mean_reversion"), 0.5),
                          (make_trading_strategy("momentum"), 0.5)])
    alone = make_trading_strategy("mean_reversion")
    res = run_backtest(data, [create_trading_engine(both, hours=data.hours),
                              create_trading_engine(alone, hours=data.hours)])
    multi, single = res.traders
    # each part may use half the power: no hour beyond 10 MW, the parts' trades add up
    assert np.abs(multi.delivered_mw).max() <= 10.0 + 1e-9
    assert len(multi.fills) > 0 and multi.fills != single.fills
    with pytest.raises(ValueError, match="weights sum"):
        MultiStrategy([(alone, 0.7), (make_trading_strategy("momentum"), 0.5)])


def test_factories_and_bad_names():
    assert create_arbitrage_strategy(fcr_share=0.0).fcr_share == 0.0
    with pytest.raises(ValueError, match="use: no trading strategy named 'hodl'"):
        create_trading_engine("hodl", hours=48)
    with pytest.raises(ValueError, match="params"):
        create_trading_engine("momentum", hours=48, window=3)


def test_limits_hold_in_a_backtest():
    """Momentum loses money here: the drawdown stop and the VaR limit must stop it, and
    no order that went out broke them."""
    from vpp.markets.trading.risk import RiskLimits

    data = simulated_market_data(10, seed=1)
    stop = 400.0
    limits = RiskLimits(max_drawdown_eur=stop, var_limit_eur=150.0, var_lookback_h=48)
    [t] = run_backtest(data, [create_trading_engine("momentum", hours=data.hours,
                                                    limits=limits)]).traders
    by_limit = t.rejections_by_limit()
    assert by_limit.get("drawdown_stop", 0) > 0 and by_limit.get("var_limit", 0) > 0
    peak = np.maximum.accumulate(t.equity_eur)
    for f in t.fills:
        now = f.order.decided_hour
        assert peak[now + 1] - t.equity_eur[now + 1] < stop
    for r in t.rejections:
        if r.limit == "drawdown_stop":
            now = r.order.decided_hour
            assert peak[now + 1] - t.equity_eur[now + 1] >= stop
