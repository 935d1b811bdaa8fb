"""`vpp backtest` and `vpp bench trading`, as a user would run them; scenario errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner
from vpp.runs.cli import app
from vpp.runs.modes.backtest.files import DEFAULT_BACKTEST, load_backtest, run
from vpp.runs.scenario import ScenarioError

runner = CliRunner()

SMALL = {
    "name": "small",
    "seed": 3,
    "data": {"source": "simulated", "days": 5},
    "risk": {"position_limit_mw": 20, "var_limit_eur": 1e6, "stress_limit_eur": 1e6},
    "traders": [{"use": "arbitrage"}, {"use": "mean_reversion", "params": {"window_h": 12}},
                {"use": "multi", "name": "blend", "params": {"strategies": [
                    {"use": "momentum", "weight": 0.5}, {"use": "mean_reversion",
                                                         "weight": 0.5}]}}],
}


def _write(tmp_path, data, name="bt.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_backtest_writes_the_report_and_its_figures_are_the_runs(tmp_path):
    path = _write(tmp_path, SMALL)
    out = tmp_path / "report"
    result = runner.invoke(app, ["backtest", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [t["trader"] for t in summary["traders"]] == ["arbitrage", "mean_reversion", "blend"]
    direct = run(load_backtest(path))
    for row, trader in zip(summary["traders"], direct.traders):
        assert row["profit_eur"] == pytest.approx(trader.performance.profit_eur, abs=0.01)
        assert row["fills"] == len(trader.fills)
    trades = (out / "trades.csv").read_text().splitlines()
    assert len(trades) == 1 + sum(len(t.fills) for t in direct.traders)
    for png in ("equity.png", "drawdown.png", "positions.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert "performance" in result.output and "report:" in result.output


@pytest.mark.parametrize("change, where", [
    (lambda d: d.update(storage={"capacity_mwh": "big"}), "$.storage.capacity_mwh"),
    (lambda d: d.update(leverage=3), "leverage"),
    (lambda d: d["risk"].update(var_method="monte-carlo"), "$.risk.var_method"),
    (lambda d: d["traders"].append({"use": "hodl"}), "$.traders[3]"),
    (lambda d: d["traders"][1].update(params={"window": 3}), "$.traders[1]"),
    (lambda d: d.update(storage={"initial_soc": 0.95}), "initial_soc"),
    (lambda d: d.update(data={"source": "simulated", "days": 1}), "$.data.days"),
    (lambda d: d.update(traders=[{"use": "momentum"}, {"use": "momentum"}]),
     "$.traders[1].name"),
])
def test_bad_backtest_scenarios_name_the_field(tmp_path, change, where):
    data = json.loads(json.dumps(SMALL))
    change(data)
    path = _write(tmp_path, data)
    result = runner.invoke(app, ["backtest", str(path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "bt.yaml" in text and where in text
    with pytest.raises(ScenarioError):
        run(load_backtest(path))


def test_the_bundled_backtest_is_valid():
    spec = load_backtest(DEFAULT_BACKTEST)
    assert [t.use for t in spec.traders] == ["arbitrage", "mean_reversion", "ml"]
    assert spec.risk.var_limit_eur is not None and spec.risk.stress_limit_eur is not None


def test_bench_trading_prints_one_json_object():
    out = subprocess.run([sys.executable, "-m", "vpp.runs.cli", "bench", "trading", "--days", "3",
                          "--repeats", "3", "--json"], capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout)
    assert {"schedule_ms", "schedule_profit", "lp_profit", "backtest_days_per_s"} <= set(got)
    assert got["schedule_profit"] == pytest.approx(206.352426, abs=1e-6)
    assert abs(got["schedule_profit"] - got["lp_profit"]) < 1e-6
    assert got["backtest_days"] == 3 and got["backtest_days_per_s"] > 0


def test_help_names_the_new_commands():
    assert "backtest" in runner.invoke(app, ["--help"]).output
    assert runner.invoke(app, ["backtest", "--help"]).exit_code == 0
    assert "trading" in runner.invoke(app, ["bench", "--help"]).output


def test_a_strategy_plugs_in_by_module_and_class(tmp_path):
    data = json.loads(json.dumps(SMALL))
    data["traders"] = [{"use": "vpp.markets.trading.strategies.technical:MomentumStrategy",
                        "name": "trend", "params": {"lookback_h": 6}},
                       {"use": "momentum", "params": {"lookback_h": 6}}]
    with pytest.raises(ScenarioError, match=r"--allow-plugins.*\$\.traders\[0\]"):
        run(load_backtest(_write(tmp_path, data)))
    result = run(load_backtest(_write(tmp_path, data)), allow_plugins=True)
    plugged, built_in = result.traders
    assert plugged.name == "trend" and plugged.trades() == built_in.trades()
    data["traders"] = [{"use": "vpp.markets.trading.strategies.technical:Nothing"}]
    with pytest.raises(ScenarioError, match=r"\$\.traders\[0\]"):
        run(load_backtest(_write(tmp_path, data)), allow_plugins=True)
