"""``vpp bench ops`` prints one JSON object with the promised keys and honest values."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vpp.runs.cli import app


def test_ops_bench_reports_overhead_and_reload_time():
    result = CliRunner().invoke(app, ["bench", "ops", "--sites", "20", "--steps", "4",
                                      "--pairs", "3", "--reloads", "2", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"reload_ms", "metrics_overhead_pct_median"} <= set(got)
    assert got["messages_per_s_off"] > 0 and got["messages_per_s_on"] > 0
    # three interleaved pairs: the median overhead lies within its quartiles and extremes
    assert got["metrics_overhead_pct_pairs"] == 3
    q1, q3 = got["metrics_overhead_pct_iqr"]
    assert (got["metrics_overhead_pct_min"] <= q1 <= got["metrics_overhead_pct_median"]
            <= q3 <= got["metrics_overhead_pct_max"])
    # every edit was applied (the bench checks each target) and timed
    assert got["reloads"] == 2
    assert 0 < got["reload_ms"] <= got["reload_ms_max"] and got["detect_ms"] > 0


def test_ops_bench_refuses_bad_options():
    result = CliRunner().invoke(app, ["bench", "ops", "--pairs", "0", "--json"])
    assert result.exit_code == 2 and "--pairs" in result.output
