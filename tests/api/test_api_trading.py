"""``vpp.trading``: the reference library's trading snippet runs as written; its numbers are
checked by hand and against independent models; the engine trades within its limits."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import numpy as np
import pytest
import zmq
from scipy.optimize import Bounds, LinearConstraint, milp

from tests.api.conftest import SNIPPETS
from vpp.markets.trading.backtest import run_backtest
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import de_lu_2019_market_data
from vpp.markets.trading.risk import RiskLimits
from vpp.markets.trading.types import StorageSpec
from vpp.trading import (
    calculate_arbitrage_opportunity,
    create_arbitrage_strategy,
    create_trading_engine,
    optimize_trading_schedule,
)

PRICES = [0.06, 0.05, 0.04, 0.08, 0.12, 0.15, 0.18, 0.20, 0.22, 0.15, 0.10, 0.08] * 2


def _exact_schedule_profit(prices, capacity, efficiency) -> float:
    """The battery's schedule as a MILP written here (scipy, HiGHS): a binary per hour lets
    it charge or discharge, not both; 10-90 % window, start at 50 %, end at least there,
    power capacity / 4, efficiency split evenly."""
    p = np.asarray(prices, dtype=float)
    n, eta, power = p.size, math.sqrt(efficiency), capacity / 4
    # x = [charge (n), discharge (n), energy (n), charging (n, binary)]
    cost = np.concatenate([p, -p, np.zeros(2 * n)])
    rows = []
    for t in range(n):
        row = np.zeros(4 * n)
        row[t], row[n + t], row[2 * n + t] = -eta, 1 / eta, 1.0
        if t:
            row[2 * n + t - 1] = -1.0
        rows.append(row)
    balance = LinearConstraint(np.array(rows), [0.5 * capacity] + [0] * (n - 1),
                               [0.5 * capacity] + [0] * (n - 1))
    either = []
    for t in range(n):
        c, d = np.zeros(4 * n), np.zeros(4 * n)
        c[t], c[3 * n + t] = 1.0, -power           # charge <= power * charging
        d[n + t], d[3 * n + t] = 1.0, power         # discharge <= power * (1 - charging)
        either += [c, d]
    limits = LinearConstraint(np.array(either), -np.inf, [0, power] * n)
    low = np.concatenate([np.zeros(2 * n), np.full(n, 0.1 * capacity), np.zeros(n)])
    low[3 * n - 1] = 0.5 * capacity
    high = np.concatenate([np.full(2 * n, power), np.full(n, 0.9 * capacity), np.ones(n)])
    res = milp(cost, constraints=[balance, limits], bounds=Bounds(low, high),
               integrality=np.concatenate([np.zeros(3 * n), np.ones(n)]))
    assert res.status == 0
    return -float(res.fun)


def test_arbitrage_of_the_snippet_worked_out_by_hand(run_snippet):
    ns, out = run_snippet("trading")
    ns["engine"].stop()
    o = ns["opportunity"]
    # buy at 0.08 $/kWh, sell at 0.12, 0.002 $/kWh on each leg: 0.036 $/kWh = 36 $/MWh
    assert o["profitable"] is True
    assert o["profit_per_mwh"] == pytest.approx(36.0)
    assert (o["buy_market"], o["sell_market"]) == ("market1", "market2")
    assert o.transaction_cost == pytest.approx(0.004)
    assert o["price_difference"] == pytest.approx(0.04)
    assert "Arbitrage profit: $36.00/MWh" in out
    assert "Strategy: Buy in market1, Sell in market2" in out


@pytest.mark.parametrize("args, kwargs, per_mwh, buy", [
    ((0.12, 0.08, 0.002), {}, 36.0, "market2"),
    # a battery's 90 % round trip: 0.9 * 0.12 - 0.08 - 0.002 * (1 + 0.9)
    ((0.08, 0.12, 0.002), {"efficiency": 0.9}, 24.2, "market1"),
    ((0.100, 0.103, 0.002), {}, -1.0, "market1"),            # the costs eat the spread
    ((80.0, 120.0, 2.0), {"energy_unit": "MWh"}, 36.0, "market1"),
])
def test_arbitrage_by_hand(args, kwargs, per_mwh, buy):
    o = calculate_arbitrage_opportunity(*args, **kwargs)
    assert o["profit_per_mwh"] == pytest.approx(per_mwh)
    assert o["profitable"] is (per_mwh > 0) and o["buy_market"] == buy
    assert dict(o)["profit_per_mwh"] == o.profit_per_mwh


def test_schedule_of_the_snippet_earns_what_an_exact_model_earns(run_snippet):
    ns, out = run_snippet("trading")
    ns["engine"].stop()
    s = ns["schedule"]
    exact = _exact_schedule_profit(PRICES, 1000.0, 0.92)
    assert exact > 100.0
    assert s["total_profit"] == pytest.approx(exact, abs=1e-6)
    assert f"Expected profit: ${exact:.2f}" in out
    c, d = np.array(s["charge"]), np.array(s["discharge"])
    assert s["total_profit"] == pytest.approx(float(np.dot(PRICES, d - c)))
    # the energy it stores follows from its own schedule, inside the window
    eta = math.sqrt(0.92)
    energy = 500.0 + np.cumsum(eta * c - d / eta)
    np.testing.assert_allclose(s["energy"], energy, atol=1e-6)
    assert energy.min() >= 100 - 1e-6 and energy.max() <= 900 + 1e-6
    assert energy[-1] >= 500 - 1e-6
    # utilization: energy moved over what 250 kW could move in 24 hours
    assert s["utilization"] == pytest.approx(100 * (c + d).sum() / (250 * 24))
    assert 0 < s["utilization"] <= 100
    assert f"Battery utilization: {s['utilization']:.1f}%" in out


def test_engine_of_the_snippet_makes_the_trades_of_a_backtest(run_snippet):
    engine = run_snippet("trading")[0]["engine"]
    assert engine.wait(120)
    report = engine.report()
    assert report["status"] == "finished" and report["hours"] == 7 * 24
    assert report["orders"] > 10 and report["fills"] > 10
    assert report["markets"] == ("day_ahead", "intraday")
    # the same strategy, battery and limits in a plain backtest: the same trades and equity
    data = de_lu_2019_market_data(seed=0, days=7)
    direct = TradingEngine(create_arbitrage_strategy(price_threshold=0.02),
                           StorageSpec(capacity_mwh=2.0, power_mw=1.0), data.hours,
                           limits=RiskLimits(position_limit_mw=1.0, daily_loss_limit_eur=5000),
                           markets=("day_ahead", "intraday"))
    [trader] = run_backtest(data, [direct]).traders
    mine = [(f.order.decided_hour, f.order.market, f.order.delivery_hour, f.order.side,
             f.order.quantity_mw, round(f.price_eur_mwh, 6)) for f in engine.fills]
    assert mine == trader.trades()
    np.testing.assert_allclose(engine.equity, trader.equity_eur)
    assert report["profit"] == pytest.approx(trader.equity_eur[-1] - trader.equity_eur[0])


def _positions(fills) -> dict:
    held: dict = {}
    for f in fills:
        key = (f.order.market, f.order.delivery_hour)
        held[key] = held.get(key, 0.0) + f.order.signed_mw
    return held


def test_position_limit_binds_and_no_position_exceeds_it():
    engine = create_trading_engine({"risk_limits": {"max_position": 500},
                                    "data_provider": {"days": 10}})
    engine.start()
    assert engine.wait(120)
    report = engine.report()
    assert report["rejections"]["position_limit"] > 0
    assert report["max_position_kw"] <= 500 + 1e-6
    assert max(abs(v) for v in _positions(engine.fills).values()) <= 0.5 + 1e-9
    assert report["fills"] > 0


def test_daily_loss_limit_stops_orders_once_the_day_has_lost_it():
    limit = 1.0
    engine = create_trading_engine({"risk_limits": {"max_daily_loss": limit},
                                    "data_provider": {"days": 10}})
    engine.start()
    assert engine.wait(120)
    assert engine.report()["rejections"]["daily_loss_limit"] > 0
    # the daily loss counts the booked equity (nothing re-marked), docs/trading.md
    equity = engine.booked_equity                    # [0]: before hour 0; [h + 1]: at hour h
    for order in engine.orders:
        h = order.decided_hour
        assert equity[24 * (h // 24) + 1] - equity[h + 1] < limit
    for rejection in engine.rejections:
        if rejection.limit == "daily_loss_limit":
            h = rejection.order.decided_hour
            assert equity[24 * (h // 24) + 1] - equity[h + 1] >= limit


def test_a_higher_threshold_trades_less_and_a_huge_one_not_at_all():
    traded = []
    for threshold in (0.0, 0.05, 1.0):
        engine = create_trading_engine({"data_provider": {"days": 10}})
        engine.add_strategy(create_arbitrage_strategy(price_threshold=threshold))
        assert list(engine.strategies) == ["arbitrage"]          # replaced, not doubled
        engine.start()
        assert engine.wait(120)
        traded.append(engine.report()["traded_kwh"])
    assert traded[0] > traded[1] > 0 and traded[2] == 0.0


def test_only_the_configured_markets_are_traded():
    engine = create_trading_engine({"markets": ["day_ahead"], "data_provider": {"days": 4}})
    engine.start()
    assert engine.wait(120)
    assert {o.market for o in engine.orders} == {"day_ahead"}
    # the arbitrage's intraday corrections are refused by the market rule, and counted
    refused = [r for r in engine.rejections if r.limit == "market"]
    assert refused and {r.order.market for r in refused} == {"intraday"}
    with_fcr = create_trading_engine({"markets": ["day_ahead", "real_time", "ancillary"],
                                      "data_provider": {"days": 4}})
    with_fcr.start()
    assert with_fcr.wait(120)
    assert {f.order.market for f in with_fcr.fills} == {"day_ahead", "intraday", "ancillary"}


def _feed_csv(path: Path, hours: int, data) -> np.ndarray:
    fed = data.day_ahead_eur_mwh[:hours] + 30.0
    lines = ["timestamp_utc,price"] + [f"{t}Z,{p:.2f}" for t, p in
                                       zip(data.timestamps_utc[:hours], fed)]
    path.write_text("\n".join(lines) + "\n")
    return np.round(fed, 2)


def test_live_csv_feed_sets_the_prices_and_its_end_ends_the_run(tmp_path):
    data = de_lu_2019_market_data(seed=0, days=3)
    fed = _feed_csv(tmp_path / "feed.csv", 60, data)
    engine = create_trading_engine({"data_provider": {
        "type": "live", "days": 3, "feed_timeout_s": 30, "feeds": {"epex": {
            "series": "intraday_eur_mwh", "csv": str(tmp_path / "feed.csv"),
            "column": "price", "speed": 1e9}}}})
    engine.start()
    assert engine.wait(60)
    report = engine.report()
    # hour 59 needs the quote of hour 60, which never comes
    assert report["status"] == "feed ended" and report["hours"] == 59
    assert report["fed_hours"] == {"intraday_eur_mwh": 60}
    assert "live feeds: epex -> intraday_eur_mwh" in report["data"]
    intraday = [f for f in engine.fills if f.order.market == "intraday"]
    assert intraday
    for f in intraday:                           # the fed price, -+ the 0.5 EUR/MWh half spread
        half = 0.5 if f.order.side == "buy" else -0.5
        assert f.price_eur_mwh == pytest.approx(fed[f.order.delivery_hour] + half)


def test_live_zmq_feed_waits_for_prices_and_stops_cleanly():
    engine = create_trading_engine({"data_provider": {
        "type": "live", "days": 2, "feed_timeout_s": 60,
        "feeds": {"push": {"series": "intraday_eur_mwh", "zmq": "tcp://127.0.0.1:*"}}}})
    engine.start()
    data = de_lu_2019_market_data(seed=0, days=2)
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    try:
        push.connect(engine.feed_endpoints["push"])
        push.send(b"\xc1 not msgpack")           # dropped by the source, never fatal
        for h in range(30):
            point = [f"{data.timestamps_utc[h]}Z", float(data.intraday_eur_mwh[h])]
            push.send(msgspec.msgpack.encode(["intraday_eur_mwh", *point]))
        deadline = time.monotonic() + 30
        while engine.report()["hours"] < 29 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert engine.report()["hours"] == 29 and engine.running      # waits for hour 30
        engine.stop()
    finally:
        push.close()
        ctx.term()
    assert not engine.running
    assert engine.status == "stopped" and engine.report()["hours"] == 29


@pytest.mark.parametrize("config, match", [
    ({"risk_limits": {"max_positon": 5}}, r"unknown field `max_positon` - at `\$.risk_limits`"),
    ({"markets": ["bilateral"]}, r"at `\$.markets\[0\]`"),
    ({"risk_limits": {"max_position": -1}}, r"at `\$.risk_limits.max_position`"),
    ({"data_provider": {"type": "live"}}, "needs `feeds`"),
    ({"storage": {"initial_soc": 0.95}}, "storage: initial_soc"),
    ({"data_provider": {"type": "live", "feeds": {"x": {"series": "intraday_eur_mwh"}}}},
     "feeds.x: no `csv` or `zmq` source"),
    ("day_ahead", "expected a mapping"),
])
def test_bad_config_names_the_key(config, match):
    with pytest.raises(ValueError, match=match):
        create_trading_engine(config)


def test_start_twice_and_late_strategies_are_refused():
    engine = create_trading_engine({"data_provider": {"days": 2}})
    engine.start()
    with pytest.raises(RuntimeError, match="already started"):
        engine.start()
    with pytest.raises(RuntimeError, match="add strategies before"):
        engine.add_strategy(create_arbitrage_strategy())
    engine.stop()
    assert engine.status in ("stopped", "finished") and not engine.running


def test_the_six_snippets_run_as_one_script_and_it_exits_after_trading(tmp_path):
    script = tmp_path / "quickstart.py"
    script.write_text("".join(SNIPPETS[name] for name in (
        "stochastic", "realtime", "multi_site", "trading", "plugin", "benchmark")))
    code = ("import logging, runpy; logging.basicConfig(level=logging.INFO); "
            f"runpy.run_path({str(script)!r}, run_name='__main__')")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Battery response: 11.7 kW" in out.stdout
    assert "wind_farm_texas: 650.0 kW" in out.stdout
    assert "Arbitrage profit: $36.00/MWh" in out.stdout
    assert "mpc:\n  Average time:" in out.stdout
    # start() returned at once; the process waited for the run's end before it exited
    assert "automated trading finished after 168 hours" in out.stderr
    assert "Traceback" not in out.stderr
