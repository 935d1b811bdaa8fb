"""``vpp feed`` in its own process: a CSV replay and pushed values reach a subscriber in
another process, in order and at the stated speed; SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import msgspec
import pytest
import zmq
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.codec import Codec
from vpp.physics.datasets import DE_LU_2019_CSV

from tests.proc_helpers import ROOT

pytestmark = pytest.mark.timeout(60)
PRICES = DE_LU_2019_CSV


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _values(sub: zmq.Socket, n: int, timeout_s: float = 20.0) -> list[tuple[float, object]]:
    codec = Codec(default_registry())
    batch = msgspec.msgpack.Decoder(list[msgspec.Raw])
    out = []
    end = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < end:
        if sub.poll(100):
            frame = sub.recv()                  # the topic, a NUL, the batch
            for raw in batch.decode(frame[frame.index(0) + 1:]):
                out.append((time.monotonic(), codec.decode_body(codec.decode_envelope(raw))))
    return out


def _feed(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vpp.runs.cli", "feed", *args, "--json"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_csv_replay_reaches_another_process_in_order_at_speed():
    port = _free_port()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"feed.prices\0")
    sub.connect(f"tcp://127.0.0.1:{port}")
    proc = _feed(str(PRICES), "--speed", "36000", "--start", "2019-01-16T00:00:00Z",
                 "--end", "2019-01-16T05:00:00Z", "--publish", f"tcp://127.0.0.1:{port}",
                 "--wait-s", "1.5")
    try:
        got = _values(sub, 6)
        out, err = proc.communicate(timeout=20)
    finally:
        sub.close(linger=0)
        ctx.term()
    assert proc.returncode == 0, err.decode()
    assert [v.seq for _, v in got] == list(range(6))
    assert [v.time for _, v in got] == [f"2019-01-16T0{h}:00:00Z" for h in range(6)]
    # an hour every 0.1 s (36000x): measured from the schedule the arrivals fit best (the
    # first value may itself be late on a loaded machine), each is late by 0.25 s at most:
    # paced, not sent in one burst (that would put the first 0.5 s late)
    start = min(at - i * 0.1 for i, (at, _) in enumerate(got))
    late = [at - start - i * 0.1 for i, (at, _) in enumerate(got)]
    assert max(late) <= 0.25, late
    assert got[-1][0] - got[0][0] >= 0.25   # 0.5 s on schedule; a burst takes milliseconds
    assert json.loads(out)["published"] == 6


def test_pushed_values_are_published_and_sigterm_stops_the_feed():
    port, pull = _free_port(), _free_port()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"feed.prices\0")
    sub.connect(f"tcp://127.0.0.1:{port}")
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{pull}")
    proc = _feed("--pull", f"tcp://127.0.0.1:{pull}", "--publish", f"tcp://127.0.0.1:{port}",
                 "--wait-s", "1.0", "--name", "scada")
    try:
        time.sleep(1.5)
        enc = msgspec.msgpack.Encoder()
        for i in range(3):
            push.send(enc.encode(["p", f"2025-04-28T10:00:0{i}Z", 40.0 + i]))
        push.send(b"not msgpack")
        got = _values(sub, 3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        sub.close(linger=0)
        push.close(linger=0)
        ctx.term()
    assert proc.returncode == 0, err.decode()
    assert [v.value for _, v in got] == [40.0, 41.0, 42.0] and got[0][1].feed == "scada"
    summary = json.loads(out)
    assert summary["published"] == 3 and summary["dropped"] == 1
    assert summary["stopped_by"] == "SIGTERM"


def test_feed_needs_exactly_one_source():
    done = subprocess.run([sys.executable, "-m", "vpp.runs.cli", "feed"], cwd=ROOT,
                          capture_output=True, timeout=30, check=False)
    assert done.returncode == 2 and b"--pull" in done.stderr
