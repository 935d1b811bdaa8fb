"""``vpp bench cvar`` and ``vpp bench mpc`` print one JSON object with the promised keys
and values that hang together (against the baselines measured in the same run)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vpp.runs.cli import app

runner = CliRunner()


def _bench(*args):
    result = runner.invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cvar_bench():
    got = _bench("cvar", "--scenarios", "20", "--horizon", "24", "--repeats", "1")
    assert {"scenarios", "horizon", "solve_s", "expected_cost", "cvar", "status"} <= set(got)
    assert (got["scenarios"], got["horizon"], got["status"]) == (20, 24, "optimal")
    assert got["solve_s"] > 0
    assert got["cvar"] >= got["expected_cost"]
    # the risk-averse plan gives up expected cost for a lower CVaR, and beats the rules
    assert got["risk_neutral_expected_cost"] <= got["expected_cost"] + 0.01
    assert got["cvar"] <= got["risk_neutral_cvar"] + 0.01
    assert got["expected_cost"] <= got["rules_expected_cost"] + 0.01 or \
        got["cvar"] <= got["rules_cvar"] + 0.01


def test_mpc_bench():
    got = _bench("mpc", "--steps", "48", "--horizon", "24")
    assert {"steps", "step_ms_p50", "closed_loop_cost", "perfect_foresight_cost"} <= set(got)
    assert got["steps"] == 48 and got["step_ms_p50"] > 0
    assert got["perfect_foresight_cost"] < 0
    assert got["perfect_foresight_cost"] - 0.01 <= got["closed_loop_cost"]
    assert got["gap"] <= 0.05


def test_bench_help_lists_the_planning_benches():
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "cvar" in result.output and "mpc" in result.output
