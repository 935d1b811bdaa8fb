"""What the message path's speed rests on, checked by value (the speed itself is shown by
``vpp bench swarm --json``, never timed here): the collector's settings while a local
fleet is open, message kinds the collector does not track, and a host's written-out send
giving the very frames and trace rows the codec gives."""

from __future__ import annotations

import gc

import msgspec
import pytest
import zmq
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.dispatch import DISPATCH_KINDS
from vpp.coordination.merit_order.messages import (
    MERIT_ORDER_KINDS,
    Award,
    Bid,
    BidSegment,
)
from vpp.runs.placement.collector import FLEET_GC_THRESHOLD
from vpp.runs.runner import build_run
from vpp.runs.scenario import DEFAULT_SCENARIO, load


def test_an_open_fleet_collects_the_young_generation_less_often_and_gives_it_back(tmp_path):
    before = gc.get_threshold()
    scenario = load(DEFAULT_SCENARIO)
    _, one = build_run(scenario, tmp_path / "one", scenario_path=DEFAULT_SCENARIO)
    _, two = build_run(scenario, tmp_path / "two", scenario_path=DEFAULT_SCENARIO)
    assert gc.get_threshold() == (max(FLEET_GC_THRESHOLD, before[0]), *before[1:])
    one.close()
    assert gc.get_threshold()[0] == max(FLEET_GC_THRESHOLD, before[0])  # two is open
    two.close()
    assert gc.get_threshold() == before


def test_the_merit_order_and_dispatch_kinds_are_not_tracked_by_the_collector():
    bid = Bid(3, [BidSegment(1.0, 5.0)], 2.0, 0.5)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(bid), type=Bid)
    assert decoded == bid and not gc.is_tracked(bid) and not gc.is_tracked(decoded)
    for kind in (*MERIT_ORDER_KINDS, *DISPATCH_KINDS):
        assert kind.__struct_config__.gc is False, kind.__name__


class _Sink(Agent):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.got: list[Envelope] = []
        self.on(Award, lambda envelope, body: self.got.append(envelope))
        self.on(Bid, lambda envelope, body: self.got.append(envelope))


def test_a_hosts_send_gives_the_codecs_frames_sizes_and_trace_rows(tmp_path):
    context = zmq.Context()
    trace = TraceRecorder(shard_path(tmp_path, "t"), "t")
    a = Host("a", "inproc://speed-a", context=context, registry=default_registry(),
             trace=trace)
    b = Host("b", "inproc://speed-b", context=context, registry=default_registry(),
             trace=trace)
    a.connect("b", b.endpoint)
    b.connect("a", a.endpoint)
    sender = a.add(_Sink("s"))
    sinks = [b.add(_Sink(f"r{i}")) for i in range(3)]
    bodies = [Award(7, 10.5 * i, 1.0, None if i else 12.0) for i in range(3)]
    for sink, body in zip(sinks, bodies):
        sender.send(sink.address, body, conversation="merit-order/7", round=2)
    sender.send_all([s.address for s in sinks], Bid(7, [BidSegment(-3.0, 1e9)]),
                    conversation="merit-order/7", round=3)
    with pytest.raises(KeyError, match="not connected"):
        sender.send("nowhere/x", bodies[0])
    loop = EventLoop(a, b)
    assert loop.run_until(lambda: all(len(s.got) == 2 for s in sinks), 5.0)
    a.close()
    b.close()
    trace.close()
    context.term()
    # each envelope delivered is the one the codec encodes, byte for byte
    for sink, body in zip(sinks, bodies):
        got = sink.got[0]
        _, frame = a.codec.encode(body, sender="a/s", receiver=sink.address,
                                         conversation="merit-order/7", round=2,
                                         sim_time=got.sim_time)
        assert msgspec.msgpack.encode(got) == frame
        assert got.version == WIRE_VERSION and got.kind == "Award"
    sent = [m for m in TraceReader(tmp_path).messages() if m.direction == "send"]
    assert [(m.kind, m.receiver, m.round) for m in sent] == [
        *(("Award", s.address, 2) for s in sinks), *(("Bid", s.address, 3) for s in sinks)]
    for m, sink in zip(sent, [*sinks, *sinks]):
        body = bodies[sinks.index(sink)] if m.kind == "Award" else Bid(
            7, [BidSegment(-3.0, 1e9)])
        _, frame = a.codec.encode(body, sender="a/s", receiver=sink.address,
                                  conversation="merit-order/7", round=m.round,
                                  sim_time=m.sim_time)
        assert m.size == len(frame)
