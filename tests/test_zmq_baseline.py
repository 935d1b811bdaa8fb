"""The plain-pyzmq baseline of the process benches measures what it says."""

from __future__ import annotations

import pytest

from vpp.runs.bench import zmq_baseline


@pytest.mark.parametrize("pattern", ["pubsub", "router"])
def test_baseline_rounds_reach_every_process_and_come_back(pattern):
    got = zmq_baseline.run(2, 20, pattern, payload_bytes=300)
    assert got["rounds"] == 20 and got["processes"] == 2 and got["pattern"] == pattern
    # the last child received a round before the parent held every answer to it
    assert 0 < got["fanout_ms_p50"] <= got["answered_ms_p50"]
    assert got["fanout_ms_p50"] <= got["fanout_ms_p99"]
    assert got["answered_ms_p50"] <= got["answered_ms_p99"]


def test_baseline_refuses_an_unknown_pattern():
    with pytest.raises(ValueError, match="pattern must be pubsub or router"):
        zmq_baseline.run(2, 5, "push")
