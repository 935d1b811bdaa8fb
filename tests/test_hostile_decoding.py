"""Decoding that cannot crash (#19, finding 1): nested, mutated and random frames on a live
host's ROUTER and SUB are counted drops by reason, the host serves on; the other decode
paths (codec, trace bodies, feeds, the scenario transfer, the plug-in pipe) say why
instead of raising."""

from __future__ import annotations

import random

import msgspec
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vpp.agents.frequency.site import FrequencySiteAgent
from vpp.agents.kinds import default_registry
from vpp.agents.ops.feeds import ZmqPushSource
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.batches import join_batch as _batch
from vpp.agents.runtime.codec import Codec, DecodeError, check_depth
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.limits import RateLimiter
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.frequency.messages import FREQUENCY_TOPIC, FrequencySample
from vpp.coordination.frequency.presets import SERVICES
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.coordination.merit_order.messages import Award, Bid, BidSegment
from vpp.coordination.planning import isolation
from vpp.runs.bench.hostile_frames import mutate

pytestmark = pytest.mark.timeout(120)

NESTED = b"\x91" * 1001 + b"\xc0"
"""The frame of finding 1: 1,001 nested one-item arrays around a nil (1,002 bytes)."""

REASONS = {"malformed-frames", "malformed-batch", "oversized", "too-deep", "malformed-envelope",
           "bad-version", "spoofed-sender", "unknown-receiver", "unknown-kind", "malformed-body",
           "rejected", "rate-limited"}
"""The documented drop reasons of a receiving host (docs/runtime.md, Errors)."""

enc = msgspec.msgpack.Encoder()


def envelope(kind: str, body: bytes, sender: str = "raw/x", receiver: str = "b/echo",
             version: int = WIRE_VERSION) -> bytes:
    """One encoded envelope around an already encoded body."""
    return enc.encode(Envelope(version, kind, sender, receiver, "c", 0, 0.0, msgspec.Raw(body)))


class Echo(Agent):
    """Answers a Bid with an Award of its total; keeps what it got."""

    role = "echo"

    def __init__(self, name):
        super().__init__(name)
        self.got = []
        self.on(Bid, self._bid)
        self.on(Award, lambda env, body: self.got.append(body))

    def _bid(self, env, bid):
        self.got.append(bid)
        if self.host.reachable(env.sender.partition("/")[0]):
            self.send(env.sender, Award(bid.step, sum(s.quantity_kw for s in bid.segments),
                                        0.0, None), conversation=env.conversation)


def _pump(host: Host, sock: zmq.Socket, timeout_ms: int = 200) -> None:
    """Drain ``sock`` until nothing more arrives within ``timeout_ms``."""
    while sock.poll(timeout_ms):
        host.drain(sock)


@pytest.fixture
def served(context, registry):
    """Host ``b`` (an Echo agent, a rate limit) reached by host ``a`` and by a raw DEALER
    named ``raw``; yields (a, b, asker, raw)."""
    a = Host("a", "inproc://hd-a", context=context, registry=registry)
    b = Host("b", "inproc://hd-b", context=context, registry=registry,
             limiter=RateLimiter(1e9, 1e9))
    a.connect("b", "inproc://hd-b")
    b.connect("a", "inproc://hd-a")
    asker = a.add(Echo("asker"))
    b.add(Echo("echo"))
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"raw")
    raw.setsockopt(zmq.LINGER, 0)
    raw.connect("inproc://hd-b")
    yield a, b, asker, raw
    raw.close()
    a.close()
    b.close()


def _still_serves(a: Host, b: Host, asker: Echo, step: int) -> None:
    asker.send("b/echo", Bid(step, [BidSegment(2.0, 1.0), BidSegment(3.5, 2.0)]))
    assert EventLoop(a, b).run_until(lambda: any(getattr(m, "step", None) == step
                                                 and isinstance(m, Award) for m in asker.got),
                                     5.0)
    award = [m for m in asker.got if isinstance(m, Award) and m.step == step][-1]
    assert award.power_kw == 5.5


def test_the_nested_frame_of_finding_1_is_a_counted_drop_and_the_host_serves_on(served):
    a, b, asker, raw = served
    bid = enc.encode(Bid(1, [BidSegment(1.0, 1.0)]))
    raw.send(NESTED)                                               # the batch itself
    raw.send(b"\x91" + envelope("Bid", NESTED))                    # an envelope's body
    raw.send(b"\x92" + envelope("Bid", bid) + NESTED)              # a second envelope
    raw.send(b"\x91" + envelope("Bid", b"\x82\xa4step\x01\xa1z" + NESTED))  # an unknown field
    _pump(b, b.router)                                             # raised RecursionError before
    assert b.stats.dropped["too-deep"] == 4
    assert b.stats.dropped["malformed-body"] == 0
    _still_serves(a, b, asker, 7)


def test_the_nested_frame_on_a_sites_frequency_sub_is_a_counted_drop(context, registry):
    """A site process in local mode hears the grid's PUB (``Host.hear``): what comes on
    it may be anything."""
    grid = context.socket(zmq.PUB)
    grid.setsockopt(zmq.LINGER, 0)
    grid.bind("inproc://hd-grid")
    site_host = Host("site-1", "inproc://hd-site", context=context, registry=registry)
    site_host.hear("inproc://hd-grid")
    rule = SiteFrequencyRule(f0_hz=50.0, service=SERVICES["ce-fcr"], contracted_kw=100.0)
    site = site_host.add(FrequencySiteAgent("north.frequency", rule))
    topic = FREQUENCY_TOPIC.encode() + b"\0"
    codec = Codec(registry)

    def sample(seq: int, f_hz: float) -> bytes:
        _, frame = codec.encode(FrequencySample(seq, 1.0 * seq, f_hz, 0.0), sender="grid/grid",
                                receiver="*" + FREQUENCY_TOPIC)
        return topic + _batch([frame])

    try:
        assert site_host.sub.poll(0) == 0
        grid.send(topic + b"\x91")  # let the subscription reach the PUB
        EventLoop(site_host).run_for(0.2)
        grid.send(topic + NESTED)
        grid.send(topic + b"\x91" + envelope("FrequencySample", NESTED, "grid/grid", "*frequency"))
        grid.send(sample(3, 49.8))
        _pump(site_host, site_host.sub)
        assert site_host.stats.dropped["too-deep"] == 2
        # and the legitimate sample after them was decided: 0.2 Hz low, full service
        assert site.seq == 3 and site.setpoint_kw == pytest.approx(100.0)
    finally:
        site_host.close()
        grid.close()


def _mutations(frames: list[bytes], rng: random.Random, n: int) -> list[bytes]:
    """``n`` mutated frames: bit flips, truncations, splices of two real frames, repeats."""
    return [mutate(rng.choice(frames), rng, frames) for _ in range(n)]


def _real_frames(registry) -> list[bytes]:
    codec = Codec(registry)
    bodies = [Bid(3, [BidSegment(10.0, 45.5), BidSegment(-5.0, 12.0)], 1.5),
              Award(3, 12.5, 44.0, 2.0), FrequencySample(4, 2.0, 49.9, -0.01)]
    frames = [codec.encode(body, sender="raw/x", receiver="b/echo", conversation="m/3")[1]
              for body in bodies]
    return [_batch([f]) for f in frames] + [_batch(frames)]


def test_mutated_real_frames_are_delivered_or_dropped_by_reason(served, registry):
    a, b, asker, raw = served
    rng = random.Random(19)
    mutated = _mutations(_real_frames(registry), rng, 3000)
    for i, frame in enumerate(mutated):
        raw.send(frame)
        if i % 500 == 499:  # the queue towards b holds 2,000 (high-water marks)
            _pump(b, b.router, 20)
    _pump(b, b.router)
    assert set(b.stats.dropped) <= REASONS
    # every frame is accounted for: delivered, or at least one drop
    assert b.stats.received + b.stats.dropped_total >= len(mutated)
    assert b.stats.dropped["malformed-batch"] > 100 and b.stats.dropped["malformed-body"] > 10
    _still_serves(a, b, asker, 11)


_msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats()
    | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=5),
    max_leaves=30)
_kinds = st.sampled_from(["Bid", "Award", "StepCleared", "FrequencySample", "Nope", ""])
_addresses = st.sampled_from(["raw/x", "b/echo", "b/nobody", "a/asker", "raw", "", "*x"])


@st.composite
def _structured_frames(draw) -> bytes:
    """A batch of well-formed envelopes whose fields and bodies are anything."""
    n = draw(st.integers(1, 4))
    parts = []
    for _ in range(n):
        body = enc.encode(draw(_msgpack_values))
        if draw(st.booleans()):
            body = b"\x91" * draw(st.integers(900, 3000)) + body  # deeply nested
        parts.append(envelope(draw(_kinds), body, draw(_addresses), draw(_addresses),
                              draw(st.sampled_from([WIRE_VERSION, WIRE_VERSION, 0, 2]))))
    return _batch(parts)


def test_structured_random_frames_never_crash_a_live_host(served):
    a, b, asker, raw = served

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(frames=st.lists(_structured_frames() | st.binary(max_size=300), min_size=1,
                           max_size=5))
    def throw(frames):
        for frame in frames:
            raw.send(frame)
        _pump(b, b.router, 20)
        assert set(b.stats.dropped) <= REASONS

    throw()
    assert b.stats.dropped["too-deep"] > 0 and b.stats.dropped["spoofed-sender"] > 0
    _still_serves(a, b, asker, 13)


@given(st.binary(max_size=400) | st.builds(lambda d: b"\x91" * d + b"\xc0", st.integers(0, 5000)))
@settings(max_examples=300, deadline=None, database=None)
def test_the_codec_only_ever_raises_its_decode_error(data):
    codec = Codec(default_registry())
    try:
        codec.decode(data)
    except DecodeError as exc:
        assert exc.reason in REASONS


def test_check_depth_bounds_nesting_exactly_without_decoding():
    check_depth(b"\x91" * 32 + b"\xc0")
    for deep in (b"\x91" * 33 + b"\xc0", NESTED, b"\x81\xa1k" * 40 + b"\xc0",
                 b"\xdc\x00\x01" * 40 + b"\x01"):
        with pytest.raises(DecodeError, match="too-deep"):
            check_depth(deep)
    # bytes that look like containers inside a string or a float are not nesting
    check_depth(enc.encode(["\x91" * 500, b"\x91" * 500, [1.5e-300] * 100]))
    check_depth(enc.encode({"a": [[[{"b": [1, 2]}]]]}), limit=6)  # six containers deep
    with pytest.raises(DecodeError):
        check_depth(enc.encode({"a": [[[{"b": [1, 2]}]]]}), limit=5)


def test_a_traced_body_too_deep_to_show_is_named_not_raised(tmp_path):
    trace = TraceRecorder(shard_path(tmp_path, "h"), "h")
    good = Envelope(1, "Bid", "a/x", "h/y", "m/1", 0, 0.0, msgspec.Raw(enc.encode({"step": 1})))
    deep = Envelope(1, "Bid", "a/x", "h/y", "m/1", 0, 0.0,
                    msgspec.Raw(b"\x82\xa4step\x01\xa1z" + b"\x91" * 500 + b"\xc0"))
    trace.message("recv", good, 10)
    trace.message("recv", deep, 10)
    trace.close()
    reader = TraceReader(tmp_path)
    try:
        bodies = [r.body for r in reader.messages()]
    finally:
        reader.close()
    assert bodies == [{"step": 1}, "<undecodable body: too-deep>"]


def test_a_pushed_feed_message_too_deep_is_counted_by_reason(context):
    source = ZmqPushSource("inproc://hd-feed", context)
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect("inproc://hd-feed")
    try:
        push.send(b"\x93\xa1p\xa1t" + b"\x91" * 2000 + b"\xc0")  # nested past the cap
        push.send(b"\x94\xa1p\xa1t\xcb" + b"\0" * 8 + NESTED[:1000] + b"\xc0")  # an extra item
        push.send(enc.encode(["p", "2025-01-01T00:00:00Z", 41.5]))
        points = source.poll(0.0)
    finally:
        push.close()
        source.close()
    assert [p.value for p in points] == [41.5]
    assert source.dropped_by_reason == {"too-deep": 2}


def test_a_plugin_reply_nested_or_oversized_is_reported_not_raised():
    assert "nested deeper than 32" in isolation._decode_reply(
        b"\x81\xa4kind\xa6result" + NESTED)
    assert isinstance(isolation._decode_reply(b"\xc1"), str)
    good = isolation._encoder.encode(isolation._Reply("raised", error="boom"))
    assert isolation._decode_reply(good).error == "boom"
