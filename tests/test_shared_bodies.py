"""A batch's envelopes that carry the same frozen body (one call for bids to every site of a
host) share one decoded body, as a broadcast's subscribers do; a mutable body is decoded
for each, and every message is still delivered, counted and traced on its own."""

from __future__ import annotations

import msgspec
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.merit_order.messages import Award, Bid, BidSegment


class Note(msgspec.Struct):
    """A mutable kind (a plug-in's): never shared between receivers."""

    text: str


class NoteAlias(msgspec.Struct, frozen=True):
    """A frozen kind that encodes exactly as a Note does."""

    text: str


class Keeper(Agent):
    """Keeps every body it is handed."""

    role = "keeper"

    def __init__(self, name):
        super().__init__(name)
        self.got = []
        for kind in (Bid, Award, Note, NoteAlias):
            self.on(kind, lambda env, body: self.got.append(body))


def _hosts(context, registry, tag, trace=None):
    a = Host("a", f"inproc://{tag}-a", context=context, registry=registry)
    b = Host("b", f"inproc://{tag}-b", context=context, registry=registry, trace=trace)
    a.connect("b", f"inproc://{tag}-b")
    b.connect("a", f"inproc://{tag}-a")
    return a, b


def test_one_frozen_body_to_many_receivers_is_decoded_once_and_each_is_traced(
        context, registry, tmp_path):
    trace = TraceRecorder(shard_path(tmp_path, "b"), "b")
    a, b = _hosts(context, registry, "shared", trace)
    sender = a.add(Keeper("sender"))
    keepers = [b.add(Keeper(f"k{i}")) for i in range(4)]
    bid = Bid(7, [BidSegment(1.5, 20.0)])
    # one batch: the same bid to three keepers, another bid, the first bid again to the last
    sender.send_all([k.address for k in keepers[:3]], bid, conversation="c", round=2)
    sender.send(keepers[3].address, Bid(8, [BidSegment(1.5, 20.0)]), conversation="c")
    sender.send(keepers[3].address, bid, conversation="c")
    loop = EventLoop(a, b)
    assert loop.run_until(lambda: len(keepers[3].got) == 2, 5.0)
    shared = [k.got[0] for k in keepers[:3]]
    assert shared == [bid] * 3
    assert shared[0] is shared[1] is shared[2]         # decoded once
    assert keepers[3].got == [Bid(8, [BidSegment(1.5, 20.0)]), bid]
    assert keepers[3].got[1] is not shared[0]          # another body came between
    assert b.stats.received == 5 and [k.messages_in for k in keepers] == [1, 1, 1, 2]
    a.close()
    b.close()
    trace.close()
    rows = [m for m in TraceReader(tmp_path).messages() if m.direction == "recv"]
    assert [(m.receiver, m.kind, m.round) for m in rows] == [
        ("b/k0", "Bid", 2), ("b/k1", "Bid", 2), ("b/k2", "Bid", 2), ("b/k3", "Bid", 0),
        ("b/k3", "Bid", 0)]
    assert [m.body["step"] for m in rows] == [7, 7, 7, 8, 7]


def test_a_mutable_body_is_decoded_for_each_receiver_and_a_kind_is_not_mistaken(
        context, registry):
    registry.register(Note)
    registry.register(NoteAlias)
    a, b = _hosts(context, registry, "mutable")
    sender = a.add(Keeper("sender"))
    keepers = [b.add(Keeper(f"k{i}")) for i in range(3)]
    sender.send_all([k.address for k in keepers], Note("same"))
    # a frozen kind, then the same bytes under another kind: decoded as that kind
    sender.send(keepers[0].address, NoteAlias("same"))
    sender.send(keepers[1].address, Note("same"))
    loop = EventLoop(a, b)
    assert loop.run_until(lambda: len(keepers[1].got) == 2, 5.0)
    notes = [k.got[0] for k in keepers]
    assert notes == [Note("same")] * 3
    assert len({id(n) for n in notes}) == 3            # one object per receiver
    notes[0].text = "changed"
    assert [n.text for n in notes[1:]] == ["same", "same"]
    assert keepers[0].got[1] == NoteAlias("same") and type(keepers[1].got[1]) is Note
    a.close()
    b.close()
