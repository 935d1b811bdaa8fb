"""Trader agents over inproc ZeroMQ: the market agents, fed by the replay agent, give the
same trades as the engine's price-taking backtest; what a market refuses is recorded."""

from __future__ import annotations

import numpy as np
from vpp.markets.trading.backtest import run_backtest
from vpp.markets.trading.engine import create_trading_engine
from vpp.markets.trading.market_data import simulated_market_data
from vpp.runs.modes.backtest.agents import run_with_agents


def _engines(data, names):
    params = {"ml": {"min_train_days": 1, "retrain_days": 2},
              "arbitrage": {"fcr_share": 0.5}}
    return [create_trading_engine(n, hours=data.hours, **params.get(n, {})) for n in names]


def test_agents_trade_exactly_as_the_engine_backtest():
    data = simulated_market_data(6, seed=2)
    # the continuous market quotes on a 0.01 EUR/MWh grid: put the replayed prices on it
    data = data.replace(intraday_eur_mwh=np.round(data.intraday_eur_mwh, 2))
    names = ("mean_reversion", "ml", "momentum")
    direct = run_backtest(data, _engines(data, names))
    by_message = run_with_agents(data, _engines(data, names))
    for a, b in zip(direct.traders, by_message.traders):
        assert len(a.trades()) > 10
        assert a.trades() == b.trades()
        np.testing.assert_allclose(a.equity_eur, b.equity_eur, rtol=0, atol=1e-6)
    # day-ahead trades went through the auctions, intraday ones through the book
    markets = {f.order.market for t in by_message.traders for f in t.fills}
    assert markets == {"day_ahead", "intraday"}


def test_what_the_markets_refuse_is_recorded_not_lost():
    data = simulated_market_data(3, seed=5)
    data = data.replace(intraday_eur_mwh=np.round(data.intraday_eur_mwh, 2))
    [arb] = run_with_agents(data, _engines(data, ["arbitrage"])).traders
    limits = arb.rejections_by_limit()
    # FCR is not traded by message: its offers are refused by name, and nothing is reserved
    assert limits.get("not_by_message", 0) > 0 and arb.capacity_revenue_eur == 0.0
    assert all(f.order.market != "ancillary" for f in arb.fills)
    # unfilled intraday limit orders come back as acks with the quantity cancelled
    assert all(r.reason.startswith(r.limit) for r in arb.rejections)
    assert arb.imbalance_mwh < 1.0
