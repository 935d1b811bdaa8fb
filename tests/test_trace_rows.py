"""Message rows as the recorder encodes them when they are recorded: a host's
:meth:`TraceRecorder.sent` gives the rows and counts :meth:`TraceRecorder.message` gives
at every level, the chunk's first wall time is its first row's, and a tap gets each row's
own encoding."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.merit_order.messages import Award, Bid, BidSegment

SITES = [f"s{i}" for i in range(6)]


def _traffic():
    """(kind, sender, receiver, conversation, round, sim_time, body, size) of a few sends,
    to and from sites in and out of a sample, with a struct body and an encoded one."""
    out = []
    for i, site in enumerate(SITES):
        award = Award(3, 10.0 * i, 0.5, None if i % 2 else 40.0)
        out.append(("Award", "agg/a", f"sites/{site}", "merit-order/3", 1, 900.0 + i, award,
                    40 + i))
        bid = msgspec.Raw(msgspec.msgpack.encode(Bid(3, [BidSegment(-1.0 * i, 5.0)])))
        out.append(("Bid", f"sites/{site}", "agg/a", "merit-order/3", 0, 901.0, bid, 50 + i))
    return out


def _record(path, level, by_fields):
    rec = TraceRecorder(shard_path(path, "h"), "h")
    rec.set_level(level, SITES, seed=4)
    for kind, sender, receiver, conv, rnd, t, body, size in _traffic():
        if by_fields:
            rec.sent(kind, sender, receiver, conv, rnd, t, body, size)
        else:
            raw = body if isinstance(body, msgspec.Raw) else msgspec.Raw(
                msgspec.msgpack.encode(body))
            rec.message("send", Envelope(WIRE_VERSION, kind, sender, receiver, conv, rnd, t,
                                         raw), size)
    rec.close()
    reader = TraceReader(path)
    try:
        rows = [(r.direction, r.kind, r.sender, r.receiver, r.conversation, r.round,
                 r.sim_time, r.size, r.body, r.error) for r in reader.messages()]
    finally:
        reader.close()
    with sqlite3.connect(shard_path(path, "h")) as db:
        counts = sorted(db.execute("SELECT * FROM message_counts"))
    return rows, counts


@pytest.mark.parametrize("level", ["full", "rounds", "sample:2"])
def test_sent_records_what_message_records_at_every_level(tmp_path, level):
    by_fields = _record(tmp_path / "fields", level, True)
    by_envelope = _record(tmp_path / "envelope", level, False)
    assert by_fields == by_envelope
    rows, counts = by_fields
    kept = {"full": 12, "rounds": 0, "sample:2": 4}[level]
    assert len(rows) == kept and sum(c[-1] for c in counts) == 12 - kept
    if level == "full":
        assert rows[0] == ("send", "Award", "agg/a", "sites/s0", "merit-order/3", 1, 900.0,
                           40, {"step": 3, "power_kw": 0.0, "reserve_kw": 0.5,
                                "marginal_price_eur_mwh": 40.0}, None)


def test_a_chunk_starts_at_its_first_rows_wall_time_and_a_tap_gets_each_rows_bytes(tmp_path):
    rec = TraceRecorder(shard_path(tmp_path, "h"), "h")
    tapped = []
    rec.tap = lambda messages, *rest: tapped.extend(messages)
    rows = [(1_765_000_000_000_000_000 + i, 60.0 * i, "send", "Bid", "a/x", "b/y", "c", i,
             10 + i, msgspec.Raw(msgspec.msgpack.encode({"i": i})), None) for i in range(3)]
    rows.append((7, None, "drop", None, None, None, None, None, 3, None, "malformed-batch: x"))
    rec.extend(rows, [])
    rec.close()
    enc = msgspec.msgpack.encode
    assert [bytes(r) for r in tapped] == [enc(r) for r in rows]
    with sqlite3.connect(shard_path(tmp_path, "h")) as db:
        assert list(db.execute("SELECT first_wall_ns, rows FROM message_chunks")) == [
            (1_765_000_000_000_000_000, 4)]


def test_rows_that_cannot_be_encoded_leave_the_buffer_as_it_was(tmp_path):
    rec = TraceRecorder(shard_path(tmp_path, "h"), "h")
    good = (5, 1.0, "send", "Bid", "a/x", "b/y", "c", 0, 10, None, None)
    rec.extend([good], [])
    with pytest.raises(TypeError):
        rec.extend([good, (6, 2.0, "send", "Bid", "a/x", "b/y", "c", 0, 10, object(), None)],
                   [])
    rec.close()
    reader = TraceReader(tmp_path)
    try:
        assert [(r.wall_ns, r.kind, r.size) for r in reader.messages()] == [(5, "Bid", 10)]
    finally:
        reader.close()
