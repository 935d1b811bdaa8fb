"""vpp bench spawn: one JSON object, processes that really joined and really exited."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from runs.cli import app
from tests.proc_helpers import descendants

pytestmark = pytest.mark.timeout(120)


def test_spawn_bench_reports_joined_and_exited_processes():
    result = CliRunner().invoke(app, ["bench", "spawn", "--processes", "4",
                                      "--baseline-processes", "0", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"processes", "ready_s", "teardown_s"} <= set(got)
    assert got["processes"] == 4 and got["clean_exit"] is True  # all joined, all exit 0
    assert 0 < got["start_calls_s"] <= got["ready_s"]
    assert got["ready_ms_per_process"] == pytest.approx(1000 * got["ready_s"] / 4)
    left = [open(f"/proc/{p}/cmdline", "rb").read() for p in descendants()]
    assert all(b"multiprocessing" in c for c in left), left  # no site process remains
