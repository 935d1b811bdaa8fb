"""``vpp bench hostile`` prints one JSON object: crashes, frames, memory growth, the share
of the legitimate run served against the same run undisturbed, drops by reason."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vpp.runs.cli import app

pytestmark = pytest.mark.timeout(300)


def test_a_small_hostile_bench_reports_no_crash_and_the_run_served():
    result = CliRunner().invoke(app, ["bench", "hostile", "--frames", "3000", "--sites", "4",
                                      "--steps", "8", "--pace-s", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"frames", "crashes", "max_rss_growth_mb", "legit_served_fraction",
            "drops_by_reason", "baseline_served_kwh"} <= set(got)
    assert got["crashes"] == 0 and got["crash_detail"] == []
    assert got["frames"] >= 3000
    # merit order is deterministic: every step served as undisturbed, no site silent
    assert got["baseline_served_kwh"] > 0
    assert got["served_kwh"] == pytest.approx(got["baseline_served_kwh"])
    assert got["silent_steps"] == 0 and got["lost_sites"] == []
    # what was thrown was dropped by reason, nesting among them
    assert got["drops_by_reason"]["too-deep"] > 0
    assert sum(got["drops_by_reason"].values()) >= 0.5 * got["frames"]
