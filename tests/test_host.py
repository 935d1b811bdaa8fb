"""Hosts over inproc, ipc and tcp; bad frames are counted, traced and dropped; the host
keeps serving."""

from __future__ import annotations

import os
import time

import msgspec
import pytest
import zmq
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.dispatch import StepCleared
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.messages import Award, Bid, BidSegment


class Echo(Agent):
    """Answers every Bid with an Award of its total quantity; keeps what it got."""

    role = "echo"

    def __init__(self, name):
        super().__init__(name)
        self.got = []
        self.on(Bid, self._bid)
        self.on(Award, lambda env, body: self.got.append(body))
        self.on(StepCleared, lambda env, body: self.got.append(body))

    def _bid(self, env, bid):
        self.got.append(bid)
        if bid.step < 0:
            raise ProtocolError("negative step")
        total = sum(s.quantity_kw for s in bid.segments)
        self.send(env.sender, Award(bid.step, total, 0.0, None), conversation=env.conversation,
                  round=env.round + 1)


def _pair(context, registry, a_end, b_end, trace=None, pub=None):
    a = Host("a", a_end, context=context, registry=registry, trace=trace)
    b = Host("b", b_end, context=context, registry=registry, trace=trace, pub_endpoint=pub)
    a.connect("b", b_end, pub)
    b.connect("a", a_end)
    return a, b


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
def test_request_and_answer_cross_every_transport(context, registry, transport, tmp_path):
    ends = {"inproc": ("inproc://t-a", "inproc://t-b"),
            "ipc": (f"ipc://{tmp_path}/a.sock", f"ipc://{tmp_path}/b.sock"),
            "tcp": ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")}[transport]
    a = Host("a", ends[0], context=context, registry=registry)
    b = Host("b", ends[1], context=context, registry=registry)
    a.connect("b", b.endpoint)
    b.connect("a", a.endpoint)
    asker, echo = a.add(Echo("asker")), b.add(Echo("echo"))
    loop = EventLoop(a, b)
    asker.send("b/echo", Bid(4, [BidSegment(10.0, 1.0), BidSegment(2.5, 3.0)]), conversation="x")
    assert loop.run_until(lambda: asker.got, 5.0)
    assert asker.got == [Award(4, 12.5, 0.0, None)]
    assert echo.got[0].step == 4
    assert a.stats.sent == b.stats.sent == 1
    a.close()
    b.close()


def test_bad_frames_are_counted_traced_and_the_host_keeps_serving(context, registry, tmp_path):
    trace = TraceRecorder(shard_path(tmp_path, "b"), "b")
    a, b = _pair(context, registry, "inproc://bad-a", "inproc://bad-b", trace=trace)
    asker, _ = a.add(Echo("asker")), b.add(Echo("echo"))
    loop = EventLoop(a, b)
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"raw")
    raw.connect("inproc://bad-b")
    enc = msgspec.msgpack.Encoder()

    def env(kind, body, sender="raw/fuzzer", receiver="b/echo"):
        return enc.encode(Envelope(1, kind, sender, receiver, "x", 0, 0.0, msgspec.Raw(enc.encode(body))))

    raw.send(os.urandom(64))                                       # not a batch at all
    raw.send(b"\x91\xc1")                                         # an array of garbage
    raw.send(b"\x91" + env("Nope", {}))                            # unknown kind
    raw.send(b"\x91" + env("Bid", {"step": "x", "segments": []}))  # wrong type
    raw.send(b"\x91" + enc.encode(b"x" * (b.codec.max_frame_bytes + 10)))  # oversized message
    raw.send(b"\x91" + env("Bid", {"step": 1, "segments": []}, receiver="b/nobody"))
    raw.send(b"\x91" + env("Bid", {"step": 1, "segments": []}, sender="a/asker"))   # claims another host
    raw.send(b"\x91" + env("Bid", {"step": -1, "segments": []}))   # rejected by the agent
    raw.send_multipart([b"\x90", b"\x90"])                         # too many frames
    loop.run_until(lambda: b.stats.dropped_total >= 9, 5.0)
    assert b.stats.dropped == {
        "malformed-batch": 2, "unknown-kind": 1, "malformed-body": 1, "oversized": 1,
        "unknown-receiver": 1, "spoofed-sender": 1, "rejected": 1, "malformed-frames": 1,
    }
    # still serving
    asker.send("b/echo", Bid(7, [BidSegment(1.0, 1.0)]), conversation="y")
    assert loop.run_until(lambda: asker.got, 5.0)
    assert asker.got[-1].power_kw == 1.0
    raw.close()
    a.close()
    b.close()
    trace.close()
    reader = TraceReader(tmp_path)
    drops = reader.messages(direction="drop")
    assert len(drops) == 9
    assert {d.error.split(":")[0] for d in drops} == set(b.stats.dropped)
    assert any(d.kind == "Nope" for d in drops)
    reader.close()


def test_broadcast_reaches_subscribers_only(context, registry):
    a, b = _pair(context, registry, "inproc://pub-a", "inproc://pub-b", pub="inproc://pub-b-pub")
    listener, deaf = a.add(Echo("listener")), a.add(Echo("deaf"))
    a.subscribe(listener, "dispatch")
    speaker = b.add(Echo("speaker"))
    loop = EventLoop(a, b)
    loop.run_once(0.01)
    speaker.publish("dispatch", StepCleared(1, 10.0, 8.0, 2.0, 50.0))
    speaker.publish("other", StepCleared(2, 10.0, 8.0, 2.0, 50.0))
    speaker.publish("dispatch-2", StepCleared(3, 10.0, 8.0, 2.0, 50.0))  # a longer topic
    assert loop.run_until(lambda: listener.got, 5.0)
    loop.run_for(0.05)
    assert listener.got == [StepCleared(1, 10.0, 8.0, 2.0, 50.0)]
    assert deaf.got == []
    with pytest.raises(ValueError, match="NUL"):
        a.subscribe(listener, "dis\0patch")
    a.close()
    b.close()


def test_malformed_broadcasts_are_dropped_and_the_subscriber_keeps_serving(context, registry):
    host = Host("a", "inproc://bc-a", context=context, registry=registry)
    listener = host.add(Echo("listener"))
    host.subscribe(listener, "dispatch")
    raw = context.socket(zmq.PUB)
    raw.bind("inproc://bc-raw")
    host.sub.connect("inproc://bc-raw")
    loop = EventLoop(host)
    enc = msgspec.msgpack.Encoder()

    def frame(kind, body):
        env = Envelope(1, kind, "raw/x", "*dispatch", "", 0, 0.0, msgspec.Raw(enc.encode(body)))
        return b"dispatch\0\x91" + enc.encode(env)

    good = frame("StepCleared", StepCleared(4, 10.0, 8.0, 2.0, 50.0))
    end = time.monotonic() + 5.0
    while not listener.got and time.monotonic() < end:   # until the subscription is in
        raw.send(good)
        loop.run_for(0.02)
    listener.got.clear()
    raw.send(b"dispatch\0\xc1")                                   # not a batch
    raw.send(frame("Nope", {}))                                     # unknown kind
    raw.send(frame("StepCleared", {"step": "x"}))                   # wrong body
    raw.send_multipart([good, b"no topic here"])                    # a second frame
    raw.send(good)
    assert loop.run_until(lambda: host.stats.dropped_total >= 4 and len(listener.got) >= 2, 5.0)
    assert host.stats.dropped == {"malformed-batch": 1, "unknown-kind": 1,
                                  "malformed-body": 1, "malformed-frames": 1}
    assert listener.got == [StepCleared(4, 10.0, 8.0, 2.0, 50.0)] * 2
    raw.close(linger=0)
    host.close()


def test_deadline_timers_fire_in_order_and_can_be_cancelled(context, registry):
    host = Host("h", "inproc://timers", context=context, registry=registry)
    fired = []
    host.call_later(0.02, lambda: fired.append("late"))
    host.call_later(0.0, lambda: fired.append("soon"))
    host.call_later(0.01, lambda: fired.append("never")).cancel()
    loop = EventLoop(host)
    assert loop.run_until(lambda: len(fired) == 2, 2.0)
    assert fired == ["soon", "late"]
    host.close()


def test_drain_reads_every_waiting_batch_and_an_idle_socket_reads_none(context, registry):
    a = Host("a", "tcp://127.0.0.1:*", context=context, registry=registry)
    b = Host("b", "tcp://127.0.0.1:*", context=context, registry=registry)
    a.connect("b", b.endpoint)
    sender, echo = a.add(Echo("sender")), b.add(Echo("echo"))
    assert b.drain(b.router) == 0  # nothing waits: no error, nothing read
    # three batches (one per flush), all waiting at once on b's ROUTER
    for step in (1, 2, 3):
        sender.send("b/echo", Award(step, 10.0 * step, 0.0, None), conversation="c")
        a.flush_out()
    poller = zmq.Poller()
    poller.register(b.router, zmq.POLLIN)
    assert poller.poll(5000)
    time.sleep(0.2)  # the two later batches follow the first on the same connection
    # one drain reads them all (past its first message it asks the socket, then reads on)
    assert b.drain(b.router) == 3
    assert [m.step for m in echo.got] == [1, 2, 3]
    assert b.drain(b.router) == 0
    a.close()
    b.close()


def test_send_all_is_as_many_sends_and_an_oversized_frame_leaves_the_batch_whole(
        context, registry, tmp_path):
    trace = TraceRecorder(shard_path(tmp_path, "s"), "s")
    a, b = _pair(context, registry, "inproc://all-a", "inproc://all-b", trace=trace)
    asker = a.add(Echo("asker"))
    echoes = [b.add(Echo(f"e{i}")) for i in range(3)]
    loop = EventLoop(a, b)
    bid = Bid(2, [BidSegment(1.0, 5.0)])
    asker.send_all([e.address for e in echoes], bid, conversation="c", round=1)
    for e in echoes:
        asker.send(e.address, bid, conversation="c", round=1)
    assert asker.messages_out == 6
    # a frame over the send cap raises, and what was queued before it still goes out
    a.codec.max_send_bytes = 200
    with pytest.raises(ValueError, match="frame cap"):
        asker.send("b/e0", Bid(3, [BidSegment(1.0, 5.0)] * 40))
    assert loop.run_until(lambda: len(asker.got) == 6, 5.0)
    assert [len(e.got) for e in echoes] == [2, 2, 2]
    assert asker.got == [Award(2, 1.0, 0.0, None)] * 6
    a.close()
    b.close()
    trace.close()
    sent = [m for m in TraceReader(tmp_path).messages() if m.direction == "send"
            and m.sender == "a/asker"]
    assert [(m.receiver, m.round, m.size) for m in sent[:3]] == \
        [(m.receiver, m.round, m.size) for m in sent[3:]]
    assert len(sent) == 6 and b.stats.dropped_total == 0
