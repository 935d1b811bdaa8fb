"""Structured logs: host and agent in every record, JSON lines, levels checked."""

from __future__ import annotations

import io
import json
import logging

import pytest
import zmq
from vpp.agents.ops.logs import ContextFilter, JsonFormatter, configure
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop


@pytest.fixture
def root_restored():
    """The root logger's handlers and level, put back after the test."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield root
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved:
        root.addHandler(h)
    root.setLevel(level)


@pytest.fixture
def captured(root_restored):
    """The root logger routed to a string as JSON lines; restored afterwards."""
    stream = io.StringIO()
    configure("INFO", json_lines=True, host="proc", handler=logging.StreamHandler(stream))
    return stream


def _records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_dropped_frame_is_logged_with_its_host_as_json(context, registry, captured):
    host = Host("sites", "inproc://log-sites", context=context, registry=registry)
    host.add(Agent("north"))
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"raw")
    raw.connect("inproc://log-sites")
    raw.send(b"\xc1 not msgpack")
    EventLoop(host).run_until(lambda: host.stats.dropped_total == 1, 5.0)
    raw.close(linger=0)
    host.close()
    (rec,) = [r for r in _records(captured) if r["logger"] == "vpp.agents.runtime.host"]
    assert rec["host"] == "sites" and rec["agent"] == "-"
    assert rec["level"] == "WARNING" and "malformed-batch" in rec["message"]
    assert rec["time"].endswith("Z")


def test_an_agent_logs_with_its_own_address(context, registry, captured):
    host = Host("agg", "inproc://log-agg", context=context, registry=registry)
    agent = host.add(Agent("aggregator"))
    agent.log.info("step %d negotiated", 7)
    logging.getLogger("elsewhere").info("no context given")
    host.close()
    recs = {r["message"]: r for r in _records(captured)}
    assert recs["step 7 negotiated"]["host"] == "agg"
    assert recs["step 7 negotiated"]["agent"] == "aggregator"
    # a record without context gets the process's host and no agent
    assert recs["no context given"]["host"] == "proc"
    assert recs["no context given"]["agent"] == "-"


def test_levels_filter_and_a_bad_level_is_named(root_restored):
    stream = io.StringIO()
    configure("error", json_lines=False, host="h", handler=logging.StreamHandler(stream))
    logging.getLogger("x").warning("hidden")
    logging.getLogger("x").error("shown")
    assert stream.getvalue() == "h/- x: shown\n"
    with pytest.raises(ValueError, match="--log-level.*'LOUD'"):
        configure("LOUD")


def test_extra_fields_and_exceptions_reach_the_json():
    record = logging.makeLogRecord({"name": "n", "levelname": "ERROR", "msg": "boom",
                                    "site": "hydro"})
    ContextFilter("h").filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert out["site"] == "hydro" and out["host"] == "h" and out["message"] == "boom"


def test_the_default_handler_writes_to_the_stderr_of_the_moment(monkeypatch, root_restored):
    # a handler made while a test runner's stderr was in place must not write to it once
    # it is closed: each record goes to the sys.stderr of its own time
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure("INFO", json_lines=True, host="h")
    logging.getLogger("x").info("one")
    first.close()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("x").info("two")
    assert [json.loads(line)["message"] for line in second.getvalue().splitlines()] == ["two"]
