"""The hostile frames of ``vpp bench hostile`` (``runs/bench/hostile.py``): random bytes,
mutated real frames, nesting past the recursion limit, oversized frames, kinds the
receiver does not take, unknown kinds and receivers, spoofed senders and floods of
well-formed messages, for an aggregator's ROUTER and for a site's frequency SUB."""

from __future__ import annotations

import random

import msgspec

ATTACKERS = 8
"""DEALER identities the attacker uses on the aggregator (``evil-0`` ...)."""
TOPIC = b"frequency\0"
"""The frequency topic as the SUB filters it."""
_enc = msgspec.msgpack.Encoder()


# -- hostile frames --------------------------------------------------------------------------
def mutate(frame: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """``frame`` with bits flipped, cut short, spliced with another of ``pool``, or with a
    stretch of it repeated."""
    f = bytearray(frame)
    how = rng.randrange(4)
    if how == 0:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(f))
            f[i] ^= 1 << rng.randrange(8)
    elif how == 1:
        f = f[:rng.randrange(len(f))]
    elif how == 2:
        g = rng.choice(pool)
        f = f[:rng.randrange(len(f))] + g[rng.randrange(len(g)):]
    else:
        i = rng.randrange(len(f))
        f = f[:i] + f[i:i + 8] * rng.randint(2, 50) + f[i:]
    return bytes(f)


def aggregator_frames(rng: random.Random, n: int) -> list[tuple[int, str, bytes]]:
    """``n`` (attacker, kind, batch) for the aggregator's ROUTER."""
    from vpp.agents.membership.messages import (
        Heartbeat,
        Register,
        ScenarioRequest,
        SiteInfo,
        Stopped,
        distributed_registry,
    )
    from vpp.agents.runtime.batches import join_batch as _batch
    from vpp.agents.runtime.codec import Codec
    from vpp.coordination.dispatch import Applied
    from vpp.coordination.merit_order.messages import Award, Bid, BidSegment

    codec = Codec(distributed_registry())

    def frame(body, sender: str, receiver: str = "agg/coordinator") -> bytes:
        return codec.encode(body, sender=sender, receiver=receiver, conversation="m/1")[1]

    out = []
    for _ in range(n):
        who = rng.randrange(ATTACKERS)
        me = f"evil-{who}/link"
        real = [frame(Heartbeat(3), me), frame(ScenarioRequest(f"evil-{who}"), me),
                frame(Register(f"evil-{who}", [SiteInfo("site-0", ["gen"], 0.0, 50.0)],
                               "0" * 64, 1), me),
                frame(Applied(2, 10.0, 0.0, 5.0), f"evil-{who}/site-0"),
                frame(Stopped(f"evil-{who}", 3), me),
                frame(Bid(2, [BidSegment(50.0, 30.0)], 1.0), f"evil-{who}/site-0",
                      "agg/aggregator")]
        kind = rng.choice(("random", "mutated", "mutated", "nested", "wrong-kind",
                           "unknown-kind", "unknown-receiver", "spoofed-sender", "flood",
                           "flood", "ask-scenario",
                           "oversized" if rng.random() < 0.02 else "random"))
        if kind == "random":
            batch = rng.randbytes(rng.randint(1, 300))
        elif kind == "mutated":
            batch = mutate(_batch([rng.choice(real)]), rng, [_batch([r]) for r in real])
        elif kind == "nested":
            deep = b"\x91" * rng.randint(1000, 5000) + b"\xc0"
            batch = rng.choice((deep, _batch([_envelope("Heartbeat", deep, me)])))
        elif kind == "oversized":
            batch = _batch([_envelope("Heartbeat", _enc.encode(b"x" * 300_000), me)])
        elif kind == "wrong-kind":
            batch = _batch([frame(Award(1, 1.0, 0.0, None), me)])
        elif kind == "unknown-kind":
            batch = _batch([_envelope(rng.choice(("Nope", "", "x" * 500)), b"\x80", me)])
        elif kind == "unknown-receiver":
            batch = _batch([frame(Heartbeat(1), me, rng.choice(("agg/nobody", "other/x")))])
        elif kind == "ask-scenario":  # asked again and again, never read
            batch = _batch([frame(ScenarioRequest(f"evil-{who}"), me)])
        elif kind == "spoofed-sender":
            batch = _batch([frame(Heartbeat(1), rng.choice(("site-all/link", "agg/x")))])
        else:  # a flood of well-formed heartbeats from a host that never registered
            batch = _batch([frame(Heartbeat(1), me)] * rng.randint(1, 50))
        out.append((who, kind, batch))
    return out


def _envelope(kind: str, body: bytes, sender: str, receiver: str = "agg/coordinator") -> bytes:
    from vpp.agents.runtime.messages import WIRE_VERSION, Envelope

    return _enc.encode(Envelope(WIRE_VERSION, kind, sender, receiver, "m/1", 0, 0.0,
                                msgspec.Raw(body)))


def feed_frames(rng: random.Random, n: int) -> tuple[list[tuple[str, bytes]], int]:
    """``n`` (kind, frame) for the site's frequency SUB, and how many mutations were
    skipped as forgeries (they decode as a valid sample)."""
    from vpp.agents.kinds import default_registry
    from vpp.agents.runtime.batches import join_batch as _batch
    from vpp.agents.runtime.codec import DECODE_ERRORS, Codec, DecodeError
    from vpp.coordination.frequency.messages import FrequencySample
    from vpp.coordination.merit_order.messages import Bid, BidSegment

    codec = Codec(default_registry())
    sample = codec.encode(FrequencySample(7, 1.0, 49.95, 0.0), sender="grid/grid",
                          receiver="*frequency")[1]
    real = [_batch([sample]), _batch([sample, sample])]
    batches = msgspec.msgpack.Decoder(list[msgspec.Raw])
    out, forged = [], 0
    while len(out) < n:
        kind = rng.choice(("random", "mutated", "mutated", "nested", "wrong-kind",
                           "unknown-kind", "oversized" if rng.random() < 0.02 else "random"))
        if kind == "random":
            batch = rng.randbytes(rng.randint(1, 300))
        elif kind == "mutated":
            batch = mutate(rng.choice(real), rng, real)
            try:
                if any(isinstance(codec.decode(bytes(f))[1], FrequencySample)
                       for f in batches.decode(batch)):
                    forged += 1
                    continue
            except (DecodeError, *DECODE_ERRORS):
                pass
        elif kind == "nested":
            batch = b"\x91" * rng.randint(1000, 5000) + b"\xc0"
        elif kind == "oversized":
            batch = _batch([_envelope("FrequencySample", _enc.encode(b"x" * 300_000),
                                      "grid/grid", "*frequency")])
        elif kind == "wrong-kind":
            batch = _batch([codec.encode(Bid(1, [BidSegment(1.0, 1.0)]), sender="grid/grid",
                                         receiver="*frequency")[1]])
        else:
            batch = _batch([_envelope("Nope", b"\x80", "grid/grid", "*frequency")])
        out.append((kind, TOPIC + batch))
    return out, forged
