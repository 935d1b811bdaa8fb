"""``vpp bench codec``: encode and decode a typical bid message."""

from __future__ import annotations

import json
import statistics
import time

from vpp.agents.kinds import default_registry
from vpp.agents.runtime.codec import Codec
from vpp.coordination.merit_order.messages import Bid, BidSegment


def typical_bid() -> Bid:
    """A 12-segment bid (24 floats): a site with a dozen devices or price steps."""
    return Bid(42, [BidSegment(100.0 + i, 20.0 + 3.5 * i) for i in range(12)], 5.0)


def run(repeats: int = 20_000) -> dict:
    """Median microseconds to encode and decode one enveloped bid; JSON as the baseline."""
    codec = Codec(default_registry())
    bid = typical_bid()

    def ours() -> None:
        _, frame = codec.encode(bid, sender="sites/site-7", receiver="agg/aggregator",
                                conversation="merit-order/42", round=0, sim_time=37800.0)
        codec.decode(frame)

    def baseline() -> None:
        doc = {"kind": "Bid", "sender": "sites/site-7", "receiver": "agg/aggregator",
               "conversation": "merit-order/42", "round": 0, "sim_time": 37800.0,
               "body": {"step": bid.step, "segments": [[s.quantity_kw, s.price_eur_mwh]
                                                       for s in bid.segments],
                        "reserve_price_eur_mw_h": bid.reserve_price_eur_mw_h}}
        json.loads(json.dumps(doc))

    def median_us(fn) -> float:
        samples = []
        for _ in range(20):
            t = time.perf_counter()
            for _ in range(repeats // 20):
                fn()
            samples.append((time.perf_counter() - t) / (repeats // 20) * 1e6)
        return statistics.median(samples)

    ours_us, json_us = median_us(ours), median_us(baseline)
    return {"encode_decode_us_p50": round(ours_us, 3), "json_baseline_us_p50": round(json_us, 3),
            "speedup_vs_json": round(json_us / ours_us, 2)}
