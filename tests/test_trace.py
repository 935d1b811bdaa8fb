"""The trace: shards survive a crash up to the last flush; the reader merges shards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from vpp.agents.runtime.trace_reader import TraceReader

ROOT = Path(__file__).resolve().parents[1]


def test_a_crash_loses_at_most_what_was_not_flushed(tmp_path):
    script = textwrap.dedent(f"""
        import os, msgspec
        from vpp.agents.runtime.messages import Envelope
        from vpp.agents.runtime.trace import TraceRecorder, shard_path
        rec = TraceRecorder(shard_path({str(tmp_path)!r}, "crashy"), "crashy")
        body = msgspec.Raw(msgspec.msgpack.encode({{"step": 1}}))
        for i in range(5):
            rec.message("send", Envelope(1, "Bid", "a/x", "b/y", "c", i, 0.0, body), 10)
        rec.flush()
        for i in range(3):
            rec.message("send", Envelope(1, "Bid", "a/x", "b/y", "c", 99, 0.0, body), 10)
        rec.flush()  # returns once the first flush is on disk; this one may be lost
        for i in range(2):
            rec.message("send", Envelope(1, "Bid", "a/x", "b/y", "c", 77, 0.0, body), 10)
        os._exit(1)  # a crash: no close, no flush
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert proc.returncode == 1, proc.stderr.decode()
    reader = TraceReader(tmp_path)
    rows = reader.messages()
    # everything up to the flush before the last is there; nothing unflushed is
    assert [r.round for r in rows] in ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 99, 99, 99])
    assert rows[0].body == {"step": 1}
    reader.close()


def test_shards_read_as_one(tmp_path):
    import msgspec
    from vpp.agents.runtime.messages import Envelope
    from vpp.agents.runtime.trace import TraceRecorder, shard_path

    body = msgspec.Raw(msgspec.msgpack.encode({"x": 1}))
    for host in ("agg", "site-host-1", "site-host-2"):
        rec = TraceRecorder(shard_path(tmp_path, host), host)
        rec.set_meta(scenario="s")
        rec.agent(f"{host}/a", "site", "X")
        rec.message("recv", Envelope(1, "Award", "agg/a", f"{host}/a", "c", 1, 0.0, body), 20)
        rec.round(sim_time=0.0, step=0, conversation="c", protocol="p", round=1, price=3.0)
        rec.close()
    reader = TraceReader(tmp_path)
    assert {r.host for r in reader.messages()} == {"agg", "site-host-1", "site-host-2"}
    assert len(reader.messages(agent="a")) == 3
    assert len(reader.messages(agent="site-host-1/a")) == 1
    assert [r["price"] for r in reader.rounds()] == [3.0, 3.0, 3.0]
    assert len(reader.agents()) == 3
    reader.close()


def test_a_hand_off_cut_short_by_a_signal_still_reaches_the_disk(tmp_path):
    """A signal's exception can stop the recording thread between handing the writer a
    job and waking it. The writer must still write it, and closing must still end (it
    used to wait for ever: CI saw `vpp run --processes` hang on SIGTERM)."""
    import threading

    from vpp.agents.runtime.trace import TraceRecorder, shard_path

    rec = TraceRecorder(shard_path(tmp_path, "h"), "h")
    rec._handoff.notify_all = lambda: None  # every wake-up is lost, as if cut short
    for k in range(3):
        rec.step(step=k, sim_time=60.0 * k, target_kw=10.0, served_kw=9.0, unserved_kw=1.0,
                 reserve_target_kw=0.0, reserve_served_kw=0.0, marginal_price=50.0,
                 cost_eur=0.5, rounds=1, silent=[], dispatch=[("h/a", 9.0, 0.0, 0.5)])
        rec.flush()
    closing = threading.Thread(target=rec.close, daemon=True)
    closing.start()
    closing.join(10)
    assert not closing.is_alive()
    reader = TraceReader(tmp_path)
    try:
        assert [s["step"] for s in reader.steps()] == [0, 1, 2]
        assert [s["served_kw"] for s in reader.steps()] == [9.0, 9.0, 9.0]
    finally:
        reader.close()
