"""Counting at trace level ``rounds`` per run of equal keys (``agents/runtime/trace_counts``):
the ``message_counts`` rows, flush by flush and in order, are those of counting every
message on its own; a batch of mixed kinds and conversations, a drop in its middle, one
body sent to many, one broadcast to many subscribers and a flush in the middle of a run
are each checked against a per-message reference."""

from __future__ import annotations

import sqlite3

import msgspec
import pytest
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_level import sample_sites
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.dispatch import StepCleared
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.messages import Award, Bid, BidSegment

BID = Bid(7, [BidSegment(1.5, 20.0)])
AWARD = Award(7, 5.0, 0.0, 40.0)


class PerMessage:
    """The reference: every message counted on its own into an insertion-ordered table,
    a flush at ``flush_rows`` keys (what the recorder did before it counted runs)."""

    def __init__(self, flush_rows: int) -> None:
        self.flush_rows, self.table, self.flushed = flush_rows, {}, []

    def count(self, direction, conversation, round, kind) -> None:
        key = (conversation, round, kind, direction)
        if key in self.table:
            self.table[key] += 1
            return
        self.table[key] = 1
        if len(self.table) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        self.flushed.extend((*key, n) for key, n in self.table.items())
        self.table = {}


class Keeper(Agent):
    """Keeps what it is handed; answers a bid in conversation ``ask`` with an award, and
    refuses (ProtocolError) an award in conversation ``refuse``."""

    role = "keeper"

    def __init__(self, name):
        super().__init__(name)
        self.got = []
        self.on(Bid, self._bid)
        self.on(Award, self._award)
        self.on(StepCleared, lambda env, body: self.got.append(body))

    def _bid(self, envelope, body):
        self.got.append(body)
        if envelope.conversation == "ask":
            self.send(envelope.sender, AWARD, conversation="answer", round=envelope.round)

    def _award(self, envelope, body):
        if envelope.conversation == "refuse":
            raise ProtocolError("no award here")
        self.got.append(body)


def _stored_counts(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT conversation, round, kind, direction, count "
                          "FROM message_counts ORDER BY rowid").fetchall()


def _traffic(a, b, sender, keepers):
    """One batch from host a to host b of mixed kinds, conversations and rounds, runs of
    equal keys broken and taken up again, a receiver that does not exist in its middle
    (dropped, not counted as received), an award its keeper refuses (counted, and a
    drop), and bids answered (sends counted while the batch's run of receipts is open)."""
    to = [k.address for k in keepers]
    sender.send_all(to, BID, conversation="c1")
    sender.send(to[0], AWARD, conversation="c1", round=1)
    sender.send(to[1], BID, conversation="c2")
    sender.send("b/nobody", BID, conversation="c1")           # dropped at b
    sender.send(to[2], BID, conversation="c1")
    sender.send(to[3], AWARD, conversation="refuse", round=1)  # refused by its keeper
    sender.send_all(to, BID, conversation="ask", round=3)      # each answered
    sender.send(to[0], BID, conversation="c1")
    a.flush_out()
    loop = EventLoop(a, b)
    assert loop.run_until(lambda: sum(len(k.got) for k in keepers) == 12
                          and len(sender.got) == 4, 5.0)
    loop.run_for(0.02)


def _run(tmp_path, context, registry, level, tag):
    trace = TraceRecorder(shard_path(tmp_path, "h"), "h")
    trace.set_level(level, ["k0", "k1", "k2", "k3"], seed=1)
    a = Host("a", f"inproc://{tag}-a", context=context, registry=registry, trace=trace)
    b = Host("b", f"inproc://{tag}-b", context=context, registry=registry, trace=trace)
    a.connect("b", f"inproc://{tag}-b")
    b.connect("a", f"inproc://{tag}-a")
    sender = a.add(Keeper("sender"))
    keepers = [b.add(Keeper(f"k{i}")) for i in range(4)]
    _traffic(a, b, sender, keepers)
    stats = (a.stats.sent, b.stats.received, dict(b.stats.dropped))
    a.close()
    b.close()
    trace.close()
    return stats


def _reference_from_rows(path):
    """The per-message count table of a full trace's rows, in row order."""
    reference = PerMessage(flush_rows=10**9)
    reader = TraceReader(path)
    try:
        for row in reader.messages():
            if row.direction in ("send", "recv"):
                reference.count(row.direction, row.conversation, row.round, row.kind)
        drops = [(m.kind, m.error.split(":")[0]) for m in reader.messages(direction="drop")]
    finally:
        reader.close()
    reference.flush()
    return reference.flushed, drops


def test_a_mixed_batch_counts_what_counting_each_message_counts_in_the_same_order(
        tmp_path, context, registry):
    full = _run(tmp_path / "full", context, registry, "full", "mixed-full")
    rounds = _run(tmp_path / "rounds", context, registry, "rounds", "mixed-rounds")
    assert full == rounds == (14, 13, {"unknown-receiver": 1, "rejected": 1})
    expected, drops = _reference_from_rows(tmp_path / "full")
    assert _stored_counts(shard_path(tmp_path / "rounds", "h")) == expected
    assert drops == [("Bid", "unknown-receiver"), ("Award", "rejected")]
    # the dropped bid is counted as sent, never as received; the refused award as both
    by_key = {(c, r, k, d): n for c, r, k, d, n in expected}
    assert by_key[("c1", 0, "Bid", "send")] == 4 + 1 + 1 + 1
    assert by_key[("c1", 0, "Bid", "recv")] == 4 + 1 + 1
    assert by_key[("refuse", 1, "Award", "recv")] == 1
    assert by_key[("answer", 3, "Award", "send")] == by_key[("answer", 3, "Award", "recv")] == 4
    reader = TraceReader(tmp_path / "rounds")
    try:
        assert [(m.kind, m.error.split(":")[0]) for m in reader.messages()] == drops
    finally:
        reader.close()


def test_sample_records_the_sampled_rows_as_full_does_and_counts_the_rest(
        tmp_path, context, registry):
    _run(tmp_path / "full", context, registry, "full", "sample-full")
    _run(tmp_path / "sample", context, registry, "sample:2", "sample-sample")
    left_out = {"k0", "k1", "k2", "k3"} - set(sample_sites(["k0", "k1", "k2", "k3"], 2, 1))
    readers = TraceReader(tmp_path / "full"), TraceReader(tmp_path / "sample")
    try:
        def key(m):
            return (m.direction, m.kind, m.sender, m.receiver, m.conversation, m.round,
                    m.size, m.body, m.error)
        full_rows = [key(m) for m in readers[0].messages()]
        kept = [key(m) for m in readers[1].messages()]
        assert len(left_out) == 2 and kept
        expected = [r for r in full_rows if r[0] == "drop" or (  # drops: at every level
            r[2].split("/")[1] not in left_out and r[3].split("/")[1] not in left_out)]
        assert kept == expected
        assert readers[1].message_counts() == readers[0].message_counts()
    finally:
        for reader in readers:
            reader.close()


def test_one_body_to_many_is_one_count_and_a_gone_host_or_a_refusal_is_not_counted(
        tmp_path, context, registry):
    trace = TraceRecorder(shard_path(tmp_path, "h"), "h")
    trace.set_level("rounds")
    a = Host("a", "inproc://many-a", context=context, registry=registry, trace=trace,
             max_send_bytes=300)
    b = Host("b", "inproc://many-b", context=context, registry=registry)
    a.connect("b", "inproc://many-b")
    a.route_back("c")
    a.forget_route("c")  # gone: what is sent it is dropped as unreachable
    sender = a.add(Keeper("sender"))
    receivers = [f"b/k{i}" for i in range(1000)]
    assert a.send_all(sender, receivers[:500] + ["c/x"] + receivers[500:], BID,
                      conversation="m", round=2) == 1001
    assert trace._counts == {("m", 2, "Bid", "send"): 1000}
    with pytest.raises(ValueError, match="frame cap"):
        a.send_all(sender, ["b/k1", "b/k2", "b/" + "x" * 400, "b/k3"], BID, conversation="n")
    assert trace._counts[("n", 0, "Bid", "send")] == 2  # those queued before the refusal
    assert a.stats.sent == 1002 and a.stats.dropped == {"unreachable": 1}
    a.close()
    b.close()
    trace.close()
    assert _stored_counts(shard_path(tmp_path, "h")) == [
        ("m", 2, "Bid", "send", 1000), ("n", 0, "Bid", "send", 2)]


def test_one_broadcast_to_many_subscribers_is_counted_once_per_subscriber(
        tmp_path, context, registry):
    trace = TraceRecorder(shard_path(tmp_path, "h"), "h")
    trace.set_level("rounds")
    a = Host("a", "inproc://bc-a", pub_endpoint="inproc://bc-a-pub", context=context,
             registry=registry)
    b = Host("b", "inproc://bc-b", context=context, registry=registry, trace=trace)
    b.connect("a", "inproc://bc-a", "inproc://bc-a-pub")
    speaker = a.add(Keeper("speaker"))
    keepers = [b.add(Keeper(f"k{i}")) for i in range(50)]
    for keeper in keepers:
        b.subscribe(keeper, "dispatch")
    loop = EventLoop(a, b)
    loop.run_once(0.01)
    for step in (1, 2):
        speaker.publish("dispatch", StepCleared(step, 10.0, 8.0, 2.0, 50.0),
                        conversation=f"s{step}", round=1)
    assert loop.run_until(lambda: all(len(k.got) == 2 for k in keepers), 5.0)
    assert b.stats.received == 100
    a.close()
    b.close()
    trace.close()
    assert _stored_counts(shard_path(tmp_path, "h")) == [
        ("s1", 1, "StepCleared", "recv", 50), ("s2", 1, "StepCleared", "recv", 50)]


def _envelope(conversation, round, kind):
    return Envelope(WIRE_VERSION, kind, "a/x", "b/y", conversation, round, 0.0,
                    msgspec.Raw(b"\xc0"))


@pytest.mark.parametrize("flush_rows", [1, 2, 3, 1000])
def test_flushes_in_the_middle_of_runs_split_the_counts_where_each_message_did(
        tmp_path, flush_rows):
    """A run continued in place (as the inbox and the host do) with flushes brought by new
    keys, by the owner and by ``count``: every flush's rows are the reference's."""
    events = []
    for i in range(40):
        events.append(("recv", f"c{i % 3}", i % 2, "Bid" if i % 5 else "Award"))
        events.extend([("recv", "c0", 0, "Bid")] * (i % 4))
        events.append(("send", f"c{i % 7}", 0, "Award"))
        if i % 9 == 0:
            events.append(("flush",))
        if i % 11 == 0:
            events.append(("many", f"c{i % 2}", 1, "Accept", 5))
        if i == 20:
            events.append(("recv", "t", 0, "TraceBatch"))  # never counted
    reference = PerMessage(flush_rows)
    rec = TraceRecorder(shard_path(tmp_path, "h"), "h", flush_rows=flush_rows)
    rec.set_level("rounds")
    stored = []

    def keep(messages, rounds, agents, meta, counts):
        stored.extend(counts)

    rec.tap = keep
    for event in events:
        if event[0] == "flush":
            reference.flush()
            rec.flush()
        elif event[0] == "many":
            _, conv, rnd, kind, n = event
            for _ in range(n):
                reference.count("send", conv, rnd, kind)
            rec.count("send", conv, rnd, kind, n)
        else:
            direction, conv, rnd, kind = event
            if kind != "TraceBatch":
                reference.count(direction, conv, rnd, kind)
            run = rec.recv_run if direction == "recv" else rec.send_run
            if run.kind == kind and run.round == rnd and run.conversation == conv:
                run.n += 1
            elif direction == "recv":
                rec.message("recv", _envelope(conv, rnd, kind), 10)
            else:
                rec.sent(kind, "a/x", "b/y", conv, rnd, 0.0, msgspec.Raw(b"\xc0"), 10)
    reference.flush()
    rec.close()
    assert stored == reference.flushed
    assert _stored_counts(shard_path(tmp_path, "h")) == reference.flushed


def test_a_level_set_in_the_middle_of_a_run_keeps_its_count(tmp_path):
    rec = TraceRecorder(shard_path(tmp_path, "h"), "h")
    rec.set_level("rounds")
    run = rec.recv_run
    rec.message("recv", _envelope("c", 0, "Bid"), 10)
    run.n += 2  # two more continued in place
    rec.set_level("full")
    assert rec.recv_run is None and rec.send_run is None
    rec.message("recv", _envelope("c", 0, "Bid"), 10)  # a row now
    rec.close()
    assert _stored_counts(shard_path(tmp_path, "h")) == [("c", 0, "Bid", "recv", 3)]
    reader = TraceReader(tmp_path)
    try:
        assert [m.kind for m in reader.messages()] == ["Bid"]
        assert reader.message_counts() == {("Bid", "recv"): 4}
    finally:
        reader.close()
