"""``vpp bench codec``: encode and decode a typical bid message, against JSON in interleaved
chunks (:mod:`.paired`)."""

from __future__ import annotations

import json
import statistics
import time

from vpp.agents.kinds import default_registry
from vpp.agents.runtime.codec import Codec
from vpp.coordination.merit_order.messages import Bid, BidSegment
from vpp.runs.bench.paired import interleave


def typical_bid() -> Bid:
    """A 12-segment bid (24 floats): a site with a dozen devices or price steps."""
    return Bid(42, [BidSegment(100.0 + i, 20.0 + 3.5 * i) for i in range(12)], 5.0)


def run(repeats: int = 20_000) -> dict:
    """Median microseconds to encode and decode one enveloped bid; JSON as the baseline,
    timed in 20 interleaved pairs of chunks (the speed-up: median and spread of the pairs)."""
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

    chunk = max(repeats // 20, 1)

    def per_call_us(fn) -> float:
        t = time.perf_counter()
        for _ in range(chunk):
            fn()
        return (time.perf_counter() - t) / chunk * 1e6

    per_call_us(ours), per_call_us(baseline)                  # warm up
    # 20 chunks of each, interleaved: the JSON chunk beside ours is timed in the same state
    got = interleave(lambda: per_call_us(baseline), lambda: per_call_us(ours), 20)
    return {"encode_decode_us_p50": round(statistics.median(got.second), 3),
            "json_baseline_us_p50": round(statistics.median(got.first), 3),
            **got.summary("speedup_vs_json", digits=2)}
