"""``vpp bench admm --json`` prints the promised keys with honest values."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from runs.cli import app


def test_admm_bench_reports_the_comparison_with_the_centralized_solve():
    result = CliRunner().invoke(app, ["bench", "admm", "--sites", "3", "--horizon", "6",
                                      "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"sites", "horizon", "iterations", "admm_s", "centralized_s", "ratio",
            "cost_gap_rel", "converged"} <= set(got)
    assert got["sites"] == 3 and got["horizon"] == 6
    assert got["converged"] is True and got["cost_gap_rel"] < 1e-3
    assert got["admm_s"] > 0 and got["centralized_s"] > 0 and got["dropped"] == 0
    # per iteration: a round signal and a schedule per site; AdmmDone to each at the end
    assert got["messages"] == 3 * (2 * got["iterations"] + 1)
