"""``vpp bench ops`` prints one JSON object with the promised keys and honest values."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vpp.runs.cli import app


def test_ops_bench_reports_overhead_and_reload_time():
    result = CliRunner().invoke(app, ["bench", "ops", "--sites", "20", "--steps", "4",
                                      "--repeats", "1", "--reloads", "2", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"reload_ms", "metrics_overhead_pct"} <= set(got)
    assert got["messages_per_s_off"] > 0 and got["messages_per_s_on"] > 0
    off, on = got["messages_per_s_off"], got["messages_per_s_on"]
    assert abs(got["metrics_overhead_pct"] - 100 * (off - on) / off) < 0.01
    # every edit was applied (the bench checks each target) and timed
    assert got["reloads"] == 2
    assert 0 < got["reload_ms"] <= got["reload_ms_max"] and got["detect_ms"] > 0


def test_ops_bench_refuses_bad_options():
    result = CliRunner().invoke(app, ["bench", "ops", "--repeats", "0", "--json"])
    assert result.exit_code == 2 and "--repeats" in result.output
