"""The codec: round trips, and every kind of bad frame is a DecodeError with a reason."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vpp.agents.runtime.codec import Codec, DecodeError
from vpp.agents.runtime.messages import Envelope, KindRegistry
from vpp.coordination.merit_order.messages import Award, Bid, BidSegment


def test_round_trip_keeps_every_field(registry):
    codec = Codec(registry)
    bid = Bid(3, [BidSegment(120.0, 45.5), BidSegment(-30.0, -2.0)], 4.0)
    env, frame = codec.encode(bid, sender="sites/a", receiver="agg/b", conversation="c/3",
                              round=2, sim_time=2700.0)
    env2, body = codec.decode(frame)
    assert body == bid
    assert (env2.kind, env2.sender, env2.receiver, env2.conversation, env2.round,
            env2.sim_time) == ("Bid", "sites/a", "agg/b", "c/3", 2, 2700.0)


def test_wrong_field_type_names_the_kind_and_field(registry):
    codec = Codec(registry)
    enc = msgspec.msgpack.Encoder()
    body = enc.encode({"step": "three", "segments": [], "reserve_price_eur_mw_h": 0.0})
    frame = enc.encode(Envelope(1, "Bid", "s/a", "a/b", "", 0, 0.0, msgspec.Raw(body)))
    with pytest.raises(DecodeError) as info:
        codec.decode(frame)
    assert info.value.reason == "malformed-body"
    assert "Bid" in str(info.value) and "step" in str(info.value)


def test_unknown_kind_and_bad_version(registry):
    codec = Codec(registry)
    enc = msgspec.msgpack.Encoder()
    raw = msgspec.Raw(enc.encode({}))
    with pytest.raises(DecodeError) as info:
        codec.decode(enc.encode(Envelope(1, "NoSuchKind", "s/a", "a/b", "", 0, 0.0, raw)))
    assert info.value.reason == "unknown-kind"
    with pytest.raises(DecodeError) as info:
        codec.decode(enc.encode(Envelope(9, "Award", "s/a", "a/b", "", 0, 0.0, raw)))
    assert info.value.reason == "bad-version"


def test_oversized_frames_are_refused_both_ways():
    codec = Codec(KindRegistry([Bid]), max_frame_bytes=200)
    big = Bid(1, [BidSegment(float(i), 1.0) for i in range(50)])
    with pytest.raises(ValueError, match="frame cap"):
        codec.encode(big, sender="s/a", receiver="a/b")
    with pytest.raises(DecodeError) as info:
        codec.decode(b"\x00" * 201)
    assert info.value.reason == "oversized"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_ever_raise_decode_error(data):
    codec = Codec(KindRegistry([Bid, Award]))
    try:
        codec.decode(data)
    except DecodeError as exc:
        assert exc.reason in {"malformed-envelope", "bad-version", "unknown-kind",
                              "malformed-body", "oversized"}


def test_registry_refuses_a_second_type_under_one_name():
    class Bid(msgspec.Struct):  # noqa: D106 - a plug-in's clash
        x: int

    registry = KindRegistry([Award])
    registry.register(Bid)
    from vpp.coordination.merit_order.messages import Bid as RealBid

    with pytest.raises(ValueError, match="already registered"):
        registry.register(RealBid)
