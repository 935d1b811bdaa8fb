"""``vpp bench admm --json`` prints the promised keys with honest values."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vpp.runs.cli import app


def test_admm_bench_reports_the_comparison_with_the_centralized_solve():
    result = CliRunner().invoke(app, ["bench", "admm", "--sites", "3", "--horizon", "6",
                                      "--pairs", "3", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"sites", "horizon", "iterations", "converged", "gap", "admm_s", "central_s",
            "transport", "ratio_median", "ratio_iqr", "cost_gap_rel"} <= set(got)
    assert abs(got["gap"]) < 1e-3 and got["transport"] == "inproc"
    assert got["sites"] == 3 and got["horizon"] == 6
    assert got["converged"] is True and got["cost_gap_rel"] < 1e-3
    assert got["admm_s"] > 0 and got["central_s"] > 0 and got["dropped"] == 0
    # per iteration: a round signal and a schedule per site; AdmmDone to each at the end
    assert got["messages"] == 3 * (2 * got["iterations"] + 1)
    # three interleaved pairs of a negotiation and a central solve: the same answer each
    assert got["ratio_pairs"] == 3 and got["iterations_range"] == [got["iterations"]] * 2
    q1, q3 = got["ratio_iqr"]
    assert 0 < got["ratio_min"] <= q1 <= got["ratio_median"] <= q3 <= got["ratio_max"]
