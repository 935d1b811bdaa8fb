"""The market benchmarks print one JSON object with the promised keys and plausible values."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vpp.runs.cli import app

runner = CliRunner()


def _bench(*args):
    result = runner.invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_orderbook_bench():
    got = _bench("orderbook", "--orders", "3000", "--baseline-orders", "500")
    assert {"orders", "orders_per_s", "trades"} <= set(got)
    assert got["orders"] == 3000
    assert got["orders_per_s"] > 0
    assert 0 < got["trades"] < 3000
    assert got["baseline_orders"] == 500 and got["baseline_trades_match"] is True
    assert got["speedup_vs_baseline_median"] > 0 and got["speedup_vs_baseline_pairs"] == 10
    q1, q3 = got["speedup_vs_baseline_iqr"]
    assert got["speedup_vs_baseline_min"] <= q1 <= got["speedup_vs_baseline_median"] <= q3


def test_auction_bench():
    got = _bench("auction", "--bids", "2000", "--repeats", "2", "--baseline-bids", "300")
    assert {"bids", "clear_ms"} <= set(got)
    assert got["bids"] == 2000 and got["clear_ms"] > 0 and got["volume_mwh"] > 0
    assert got["baseline_bids"] == 300 and got["baseline_ms"] > 0
    # welfare-maximal volume: ours trades the largest, so never less than the LP's optimum
    assert got["volume_mwh_same_bids"] >= got["baseline_volume_mwh"] - 2e-3
    assert got["speedup_vs_baseline_pairs"] == 10 and got["speedup_vs_baseline_median"] > 0
