"""The operations options of the CLI: what is not built says so, bad input is named, and
a run with all of them on ends with its reload and alert summaries."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from vpp.runs.cli import app
from vpp.runs.scenario import BUNDLED
from tests.ops.helpers import write_small

runner = CliRunner()


def test_options_not_built_for_a_kind_of_run_are_refused_by_name(tmp_path):
    # every mode and placement now runs with the ops hooks (alerts on a grid event,
    # metrics with --processes); what a mode cannot do is still refused by name
    admm = tmp_path / "admm.yaml"
    admm.write_text((BUNDLED / "admm.yaml").read_text())
    got = runner.invoke(app, ["run", str(admm), "--watch", "--out", str(tmp_path / "r")])
    assert got.exit_code == 2 and "--watch" in got.output and "not built" in got.output
    assert not (tmp_path / "r").exists()
    got = runner.invoke(app, ["run", str(BUNDLED / "loss-of-infeed.yaml"), "--pace", "0"])
    assert got.exit_code == 2 and "--pace" in got.output
    got = runner.invoke(app, ["run", "--pace", "1"])          # the default has no grid
    assert got.exit_code == 2 and "--pace" in got.output
    got = runner.invoke(app, ["run", "--agents"])              # not a backtest file
    assert got.exit_code == 2 and "--agents" in got.output
    got = runner.invoke(app, ["run", "--log-level", "LOUD"])
    assert got.exit_code == 2 and "--log-level" in got.output and "LOUD" in got.output


def test_a_bad_alerts_file_stops_the_run_before_it_starts(tmp_path):
    path = write_small(tmp_path / "s.yaml")
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(yaml.safe_dump({"rules": [{"name": "x", "metric": "m", "op": "=",
                                                 "threshold": 1}]}))
    got = runner.invoke(app, ["run", str(path), "--alerts", str(alerts), "--no-plot",
                              "--out", str(tmp_path / "run")])
    assert got.exit_code == 1 and "`$.rules[0].op`" in got.output
    assert not (tmp_path / "run" / "summary.json").exists()


def test_a_run_with_every_ops_option_summarizes_them(tmp_path):
    path = write_small(tmp_path / "s.yaml")
    alerts = tmp_path / "alerts.yaml"
    alerts.write_text(yaml.safe_dump({"rules": [
        {"name": "big-target", "metric": "vpp_target_kw", "op": ">=", "threshold": 300}]}))
    got = runner.invoke(app, ["run", str(path), "--watch", "--alerts", str(alerts),
                              "--metrics-port", "0", "--log-json", "--no-plot",
                              "--out", str(tmp_path / "run")])
    assert got.exit_code == 0, got.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["reload"] == {"applied": 0, "rejected": 0, "needs_restart": [],
                                 "reload_ms_max": None}
    # the target is 300 kW every step: raised after the first step, never cleared
    assert summary["alerts"]["raised"] == 1 and summary["alerts"]["firing"] == ["big-target (-)"]
    assert summary["metrics"]["metrics_port"] > 0
    assert summary["metrics"]["hosts"]["agg"]["dropped"] == 0
