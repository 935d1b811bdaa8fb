"""Risk stress from the data in use: a backtest's stress limit checks the traded series'
own worst hours and days and the shocks its file gives, not fixed DE-LU/NL prices."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml

import vpp
from vpp.markets.trading.risk import series_shocks
from vpp.runs.modes.backtest.files import load_backtest, market_data
from vpp.runs.scenario import ScenarioError

BACKTEST = {
    "name": "stress", "seed": 3, "data": {"source": "simulated", "days": 4},
    "risk": {"position_limit_mw": 20, "stress_limit_eur": 3000},
    # the harmonised minimum clearing price of the EU day-ahead coupling: a battery holding
    # energy (long) loses when the price crashes to it
    "stress": [{"name": "floor crash", "price_eur_mwh": -500}],
    "traders": [{"use": "arbitrage"}],
}


def test_the_shocks_are_the_series_worst_hours_and_days():
    times = np.array([np.datetime64("2021-01-01T00:00") + np.timedelta64(h, "h")
                      for h in range(48)])
    prices = np.full(48, 50.0)
    prices[24:48] = 60.0                          # day 2 dearer on average
    prices[5], prices[30] = -20.0, 300.0          # the lowest and the highest hour
    shocks = {s.name: s.price_eur_mwh for s in series_shocks(times, prices, "da", "test")}
    assert shocks == {
        "da lowest hour 2021-01-01T05:00Z": -20.0,
        "da highest hour 2021-01-02T06:00Z": 300.0,
        "da lowest day 2021-01-01": pytest.approx((50 * 23 - 20) / 24),
        "da highest day 2021-01-02": pytest.approx((60 * 23 + 300) / 24)}


def test_a_backtest_stresses_with_its_own_data_and_the_files_shocks(tmp_path):
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(BACKTEST))
    summary = vpp.run(path, out=tmp_path / "with").summary
    prices = market_data(load_backtest(path), path).day_ahead_eur_mwh
    days = prices.reshape(-1, 24).mean(axis=1)
    got = [(s["name"].split(" 20")[0], s["price_eur_mwh"]) for s in summary["stress_shocks"]]
    assert got == [("day-ahead lowest hour", round(prices.min(), 2)),
                   ("day-ahead highest hour", round(prices.max(), 2)),
                   ("day-ahead lowest day", round(days.min(), 2)),
                   ("day-ahead highest day", round(days.max(), 2)),
                   ("floor crash", -500.0)]

    def stress_rejections(folder):
        with open(folder / "rejections.csv", newline="") as fh:
            return [r["reason"] for r in csv.DictReader(fh) if r["limit"] == "stress_limit"]

    with_spike = stress_rejections(tmp_path / "with")
    assert with_spike and any("'floor crash' (-500.00" in r for r in with_spike)
    without = dict(BACKTEST, stress=[])
    path.write_text(yaml.safe_dump(without))
    plain = vpp.run(path, out=tmp_path / "without").summary
    assert [s["name"] for s in plain["stress_shocks"]][:4] == [
        s["name"] for s in summary["stress_shocks"]][:4]
    assert not any("floor crash" in r for r in stress_rejections(tmp_path / "without"))
    assert len(stress_rejections(tmp_path / "without")) < len(with_spike)
    assert json.loads((tmp_path / "with" / "summary.json").read_text())["stress_shocks"][-1] \
        == {"name": "floor crash", "price_eur_mwh": -500.0}


def test_shocks_without_a_stress_limit_are_refused(tmp_path):
    data = dict(BACKTEST, risk={"position_limit_mw": 20})
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError, match=r"`risk.stress_limit_eur` is not set - at "
                                            r"`\$\.stress`"):
        vpp.load(path)


def test_the_automated_engines_stress_limit_uses_the_days_it_trades():
    from vpp.markets.trading.market_data import de_lu_2019_market_data
    from vpp.trading import create_trading_engine

    days = (30, 4)                                 # DE-LU 2019, 31 January to 3 February
    data = de_lu_2019_market_data(seed=0, days=sum(days)).days(*days)
    prices = data.day_ahead_eur_mwh
    top = int(np.argmax(prices))
    highest = f"day-ahead highest hour {str(data.timestamps_utc[top])[:16]}Z"

    def stress_reasons(limit):
        risk = {} if limit is None else {"stress_limit": limit}
        engine = create_trading_engine({"risk_limits": risk, "data_provider": {
            "first_day": days[0], "days": days[1]}})
        engine.start()
        assert engine.wait(120)
        return [r.reason for r in engine.rejections if r.limit == "stress_limit"]

    reasons = stress_reasons(50.0)
    assert reasons                                 # a tight limit binds
    named = {r.split("'")[1] for r in reasons}
    # every shock is one of these four days' own extremes, never DE-LU's whole-year ones
    assert all(n.startswith("day-ahead ") and ("2019-01-3" in n or "2019-02-0" in n)
               for n in named), named
    # a long position fears the lowest hour; the highest hour's price is the series' maximum
    own = {n: p for n, p in ((r.split("'")[1], float(r.split("(")[1].split(" ")[0]))
                             for r in reasons)}
    for name, price in own.items():
        if name == highest:
            assert price == pytest.approx(float(prices[top]), abs=0.005)
        if "lowest hour" in name:
            assert price == pytest.approx(float(prices.min()), abs=0.005)
    assert stress_reasons(None) == [] and stress_reasons(1e9) == []
