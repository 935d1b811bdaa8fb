"""The backtest report says what is simulated: each market's share of the profit (adding
up to the profit, each recomputed from trades.csv), simulated markets marked, and one
basis (the hourly equity, marked to market) for the drawdown table and plot."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner
from vpp.markets.trading.performance import performance
from vpp.runs.cli import app
from vpp.runs.modes.backtest.files import DEFAULT_BACKTEST

runner = CliRunner()


def _report(tmp_path, source: str = "de_lu_2019", days: int = 14):
    data = yaml.safe_load(DEFAULT_BACKTEST.read_text())
    data["data"] = {"source": source, "days": days}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "report"
    result = runner.invoke(app, ["backtest", str(path), "--out", str(out)],
                           terminal_width=200)
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text()), out, result.output


def test_profit_by_market_adds_up_and_each_market_is_its_trades(tmp_path):
    summary, out, shown = _report(tmp_path)
    with open(out / "trades.csv", newline="") as fh:
        trades = list(csv.DictReader(fh))
    for row in summary["traders"]:
        parts = {m["market"]: m for m in row["profit_by_market"]}
        assert list(parts) == ["day_ahead", "intraday", "ancillary", "imbalance", "marks"]
        assert sum(m["profit_eur"] for m in parts.values()) == pytest.approx(
            row["profit_eur"], abs=0.06)
        assert sum(m["share"] for m in parts.values()) == pytest.approx(1.0, abs=1e-3)
        for market in ("day_ahead", "intraday"):      # sales - purchases - fees, by hand
            mine = [t for t in trades if t["trader"] == row["trader"] and t["market"] == market]
            money = sum(float(t["quantity_mw"]) * float(t["price_eur_mwh"])
                        * (1 if t["side"] == "sell" else -1) - float(t["fee_eur"]) for t in mine)
            assert parts[market]["profit_eur"] == pytest.approx(money, abs=0.01 * len(mine) + 0.01)
        assert parts["ancillary"]["profit_eur"] == pytest.approx(
            row["capacity_revenue_eur"] - sum(float(t["fee_eur"]) for t in trades
                                              if t["trader"] == row["trader"]
                                              and t["market"] == "ancillary"), abs=0.02)
        assert parts["imbalance"]["profit_eur"] == row["imbalance_eur"]
    arbitrage = {m["market"]: m for m in summary["traders"][0]["profit_by_market"]}
    assert arbitrage["intraday"]["profit_eur"] > 0 and arbitrage["ancillary"]["profit_eur"] > 0


def test_simulated_markets_are_marked(tmp_path):
    summary, _, shown = _report(tmp_path)
    # DE-LU 2019: day-ahead prices are recorded; intraday and FCR are simulated, and so are
    # the imbalance settlements and the marks, which use the intraday price
    assert summary["simulated_markets"] == ["intraday", "ancillary"]
    flags = {m["market"]: m["simulated"] for m in summary["traders"][0]["profit_by_market"]}
    assert flags == {"day_ahead": False, "intraday": True, "ancillary": True,
                     "imbalance": True, "marks": True}
    assert "simulated prices: intraday, FCR" in shown
    assert "intraday*" in shown and "FCR*" in shown and "day-ahead*" not in shown
    summary, _, shown = _report(tmp_path / "sim", source="simulated", days=3)
    assert summary["simulated_markets"] == ["day_ahead", "intraday", "ancillary"]
    assert all(m["simulated"] for m in summary["traders"][0]["profit_by_market"])
    assert "day-ahead*" in shown


def test_the_drawdown_table_and_plot_use_the_hourly_equity(tmp_path):
    summary, out, _ = _report(tmp_path)
    with open(out / "equity.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in summary["traders"]:
        equity = np.array([float(r[f"{row['trader']}_equity_eur"]) for r in rows])
        by_hand = float((np.maximum.accumulate(equity) - equity).max())
        assert row["drawdown_basis"] == "hourly"
        assert row["max_drawdown_eur"] == pytest.approx(by_hand, abs=0.02)
        # the days' closing equity alone hides it: the report used to say that figure
        daily = equity[24::24]
        closing = float((np.maximum.accumulate(np.r_[equity[0], daily])
                         - np.r_[equity[0], daily]).max())
        assert closing < by_hand


def test_performance_drawdown_on_either_basis_by_hand():
    # hourly equity 100, 90, 120, 100 | 130, 125, 140: the days close at 100 -> 130 -> 140
    hourly = [100.0, 90.0, 120.0, 100.0, 130.0, 125.0, 140.0]
    daily = performance([130.0, 140.0], 1000.0, 100.0)
    assert daily.max_drawdown_eur == 0.0 and daily.drawdown_basis == "daily"
    both = performance([130.0, 140.0], 1000.0, 100.0, hourly_equity=hourly)
    assert both.max_drawdown_eur == 20.0 and both.max_drawdown == 0.02
    assert both.drawdown_basis == "hourly" and both.profit_eur == daily.profit_eur == 40.0
