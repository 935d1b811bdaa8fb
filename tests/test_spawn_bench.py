"""vpp bench spawn: one JSON object, processes that really joined and really exited."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vpp.runs.cli import app
from tests.proc_helpers import leftovers

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
    assert leftovers() == []  # no site process remains


def test_admm_bench_over_tcp_processes_gives_the_one_process_negotiation():
    result = CliRunner().invoke(app, ["bench", "admm", "--sites", "4", "--horizon", "6",
                                      "--processes", "2", "--transport", "tcp", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    # the same rounds and the same answer as in one process, and the centralized optimum
    assert got["converged"] and got["iterations"] == got["inproc_iterations"]
    assert got["cost_vs_inproc_eur"] == 0.0 and got["cost_gap_rel"] < 1e-3
    assert got["round_ms_p50"] > 0 and got["slowest_solve_ms_p50"] > 0
    assert got["messaging_ms_p50"] == pytest.approx(
        got["round_ms_p50"] - got["slowest_solve_ms_p50"], abs=2e-3)
    assert got["dropped"] == 0 and got["clean_exit"] is True
    # the plain-pyzmq baseline: AdmmRound-sized messages (24 floats x 3 at 6 steps: over
    # 100 bytes), and the ratio is the messaging over the baseline's round
    assert got["raw_zmq_message_bytes"] > 100 and got["raw_zmq_round_ms_p50"] > 0
    assert got["messaging_over_raw_zmq_p50"] == pytest.approx(
        got["messaging_ms_p50"] / got["raw_zmq_round_ms_p50"], abs=0.01)
    assert got["round_over_raw_zmq_round"] == pytest.approx(
        got["round_ms_p50"] / got["raw_zmq_round_ms_p50"], abs=0.01)
    # the same negotiation in plain pyzmq (same solves, no runtime): same rounds, same cost;
    # issue #16's 1.5x judged against it, and shown against the bare echo too
    assert got["same_work_zmq_equal"] is True and got["negotiations"] == 3
    assert got["round_over_same_work_zmq_round"] == pytest.approx(
        got["round_ms_p50"] / got["same_work_zmq_round_ms_p50"], abs=0.01)
    assert got["target_bound"] == 1.5 and got["target_judged_against"] == "same_work_zmq"
    assert got["target_met"] is (got["round_over_same_work_zmq_round"] <= 1.5)
    assert got["target_met_against_raw_zmq"] is (got["round_over_raw_zmq_round"] <= 1.5)
    assert leftovers() == []
