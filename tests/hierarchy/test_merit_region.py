"""A regional aggregator driven message by message, and the aggregate curve."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.curve import book_from_aggregate
from vpp.coordination.hierarchy.merit_driver import run_flat_step, run_step
from vpp.coordination.hierarchy.merit_region import RegionalAuction
from vpp.coordination.hierarchy.messages import (
    AggregateBid,
    Clearing,
    RegionAnswer,
    RegionAward,
    SegmentAward,
    SiteDecline,
)
from vpp.coordination.hierarchy.spec import RegionSpec, TopologySpec
from vpp.coordination.hierarchy.topology import build_topology
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    BidSegment,
    CallForBids,
    Decline,
)

SITES = ["a", "b", "c", "d"]
TOPO = build_topology(TopologySpec(regions=[RegionSpec(name="r", sites=["a", "b", "c"])],
                                   site_regions={"d": "portfolio"}), SITES)
CALL = CallForBids(7, 0.0, 900.0, 100.0, 0.0, 2000)


def _bid_region():
    region = RegionalAuction("r", TOPO)
    calls = region.on_call(CALL)
    assert [(o.receiver, o.body.deadline_ms) for o in calls] == [("a", 1600), ("b", 1600),
                                                                ("c", 1600)]
    assert region.on_bid("c", Bid(7, [BidSegment(60.0, 30.0), BidSegment(-20.0, 1.0)],
                                  3.0, -5.0)) == []
    assert region.on_bid("a", Bid(7, [BidSegment(50.0, 30.0), BidSegment(40.0, 10.0)],
                                  4.0)) == []
    return region


def test_the_aggregate_curve_is_every_segment_sorted_by_price_remembering_its_site():
    region = _bid_region()
    out = region.on_deadline()  # b is silent
    (up,) = out
    assert up.receiver == "portfolio" and up.round == 0
    bid = up.body
    assert isinstance(bid, AggregateBid) and bid.step == 7
    assert bid.sites == ["a", "c"] and bid.baseline_kw == [0.0, -5.0]
    assert bid.reserve_price_eur_mw_h == [4.0, 3.0] and bid.silent == ["b"]
    curve = [(bid.sites[s], j, q, p) for s, j, q, p in zip(
        bid.segment_site, bid.segment_index, bid.quantity_kw, bid.price_eur_mwh)]
    # by price; the tie at 30 goes to a (earlier in the fleet), then c
    assert curve == [("c", 1, -20.0, 1.0), ("a", 1, 40.0, 10.0), ("a", 0, 50.0, 30.0),
                     ("c", 0, 60.0, 30.0)]
    # the wire form survives MessagePack and reads back in fleet order
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(bid), type=AggregateBid)
    book = book_from_aggregate(back, 7, {s: TOPO.order(s) for s in SITES}, {"a", "b", "c"})
    assert book.sites == ["a", "c"]
    assert book.quantity_kw.tolist() == [50.0, 40.0, 60.0, -20.0]


def _awarded_region():
    region = _bid_region()
    region.on_bid("b", Bid(7, [BidSegment(30.0, 20.0)], 0.0, 2.0))
    return region


def test_an_award_is_split_at_the_clearing_point_and_a_decline_is_reported_up():
    region = _awarded_region()
    # the parent's merit order: a@10 (40) and b@20 (30) in full, a@30 20 of 50
    clearing = Clearing(side=1, price=30.0, site="a", segment=0,
                        partial=[SegmentAward("a", 0, 20.0)])
    out = region.on_award(RegionAward(7, 1, 90.0, 0.0, 30.0, clearing))
    assert {o.receiver: o.body for o in out} == {
        "a": Award(7, 60.0, 0.0, 30.0), "b": Award(7, 32.0, 0.0, 30.0),  # b: 2 + 30
        "c": Award(7, -5.0, 0.0, 30.0)}  # c at its baseline
    assert region.on_accept("a", Accept(7, 60.0, 0.0)) == []
    assert region.on_decline("b", Decline(7, "trip")) == []
    (up,) = region.on_accept("c", Accept(7, -5.0, 0.0))
    assert up.body == RegionAnswer(7, 1, 90.0, 0.0, declined=[SiteDecline("b", "trip")], silent=[])
    # round 2: b is out; the parent moves 30 kW to a's and c's segments at 30
    clearing = Clearing(side=1, price=30.0, site="c", segment=0,
                        partial=[SegmentAward("c", 0, 30.0)])
    out = region.on_award(RegionAward(7, 2, 120.0, 0.0, 30.0, clearing))
    assert {o.receiver: o.body.power_kw for o in out} == {"a": 90.0, "c": 25.0}
    region.on_accept("a", Accept(7, 90.0, 0.0))
    (up,) = region.on_deadline()  # c silent
    assert up.body.silent == ["c"] and up.body.declined == []
    assert region.site_awards() == {"a": (90.0, 0.0)}


def test_bad_messages_are_protocol_errors_and_change_nothing():
    region = _bid_region()
    with pytest.raises(ProtocolError, match="not a site below r"):
        region.on_bid("d", Bid(7, []))
    with pytest.raises(ProtocolError, match="late or duplicate"):
        region.on_bid("a", Bid(7, []))
    with pytest.raises(ProtocolError, match="not finite"):
        region.on_bid("b", Bid(7, [BidSegment(float("nan"), 1.0)]))
    (up,) = region.take_after_error()  # b was the last: the curve goes up without it
    assert up.body.rejected[0].site == "b" and up.body.sites == ["a", "c"]
    region = _awarded_region()
    good = Clearing(side=1, price=30.0, site="a", segment=0,
                    partial=[SegmentAward("a", 0, 20.0)])
    bad = [
        (RegionAward(6, 1, 90.0, 0.0, 30.0, good), "late or duplicate"),
        (RegionAward(7, 1, 95.0, 0.0, 30.0, good), "clearing point gives 90"),
        (RegionAward(7, 1, 90.0, 0.0, 30.0, Clearing(side=2)), "side"),
        (RegionAward(7, 1, 90.0, 0.0, 30.0, Clearing(side=1, price=30.0, site="zz",
                                                      segment=0)), "'zz'"),
        (RegionAward(7, 1, 90.0, 0.0, 30.0, Clearing(
            side=1, price=30.0, site="a", segment=0, partial=[SegmentAward("a", 9, 1.0)])),
         "segment 9"),
        (RegionAward(7, 1, 90.0, 0.0, 30.0, Clearing(
            side=1, price=30.0, site="a", segment=0, partial=[SegmentAward("a", 0, 80.0)])),
         "outside"),
        (RegionAward(7, 1, float("nan"), 0.0, 30.0, good), "finite"),
    ]
    for award, text in bad:
        with pytest.raises(ProtocolError, match=text):
            region.on_award(award)
        assert region.phase == "bid" and region.round == 0
    out = region.on_award(RegionAward(7, 1, 90.0, 0.0, 30.0, good))
    assert len(out) == 3
    with pytest.raises(ProtocolError, match="does not match"):
        region.on_accept("a", Accept(7, 59.0, 0.0))
    with pytest.raises(ProtocolError, match="unexpected RegionAward"):
        region.on_award(RegionAward(7, 1, 90.0, 0.0, 30.0, good))


def test_invalid_aggregate_bids_are_refused_by_field():
    order = {s: TOPO.order(s) for s in SITES}

    def bid(**change):
        fields = dict(step=7, sites=["a"], baseline_kw=[0.0], reserve_price_eur_mw_h=[0.0],
                      segment_site=[0], segment_index=[0], quantity_kw=[1.0],
                      price_eur_mwh=[1.0])
        return AggregateBid(**(fields | change))

    book_from_aggregate(bid(), 7, order, {"a"})
    for change, text in [
        ({"step": 6}, "step"), ({"sites": ["d"]}, "'d', not in the subtree"),
        ({"baseline_kw": []}, "one length"), ({"quantity_kw": [1.0, 2.0]}, "one length"),
        ({"segment_site": [3]}, "out of range"), ({"price_eur_mwh": [float("inf")]}, "finite"),
        ({"segment_site": [0, 0], "segment_index": [0, 0], "quantity_kw": [1.0, 1.0],
          "price_eur_mwh": [1.0, 2.0]}, "twice"),
        ({"silent": ["a"]}, "'a' twice"), ({"segment_index": [5]}, "out of range"),
    ]:
        with pytest.raises(ProtocolError, match=text):
            book_from_aggregate(bid(**change), 7, order, {"a"})


def test_a_large_fleet_takes_the_flat_allocations_banded_path_and_still_equals_it():
    rng = np.random.default_rng(5)
    sites = [f"s{i:05d}" for i in range(6000)]
    topo = build_topology(TopologySpec(regions=7, assign="round-robin"), sites)
    bids = {s: Bid(0, [BidSegment(float(rng.uniform(1, 20)), float(np.round(rng.normal(50, 20), 1))),
                       BidSegment(-float(rng.uniform(1, 20)), float(rng.choice([-3.0, 2.0])))],
                   float(rng.choice([1.0, 2.0]))) for s in sites}
    for target in (31_234.5, -20_000.0):
        hier = run_step(topo, bids, step=0, target_kw=target, reserve_kw=5_000.0)
        flat = run_flat_step(sites, bids, step=0, target_kw=target, reserve_kw=5_000.0)
        assert hier.outcome.site_power_kw == flat.outcome.site_power_kw
        assert hier.outcome.site_reserve_kw == flat.outcome.site_reserve_kw
        assert hier.outcome.marginal_price_eur_mwh == flat.outcome.marginal_price_eur_mwh
        assert hier.outcome.served_kw == flat.outcome.served_kw
        assert abs(hier.outcome.served_kw - target) < 1e-6
        # the root spoke to 7 regions, not to 6,000 sites
        assert hier.messages["root"] == 14


def test_the_root_refuses_bad_region_messages_and_goes_on():
    from vpp.coordination.hierarchy.merit_root import PortfolioAuction

    topo = build_topology(TopologySpec(regions=2), SITES)  # region-1: a, b; region-2: c, d
    root = PortfolioAuction(step=1, window_start_s=0.0, window_s=900.0, target_kw=50.0,
                            reserve_kw=0.0, topology=topo)
    assert [o.receiver for o in root.start()] == ["region-1", "region-2"]
    good = AggregateBid(1, ["c", "d"], [0.0, 0.0], [0.0, 0.0], [0, 1], [0, 0], [40.0, 40.0],
                        [10.0, 20.0])
    with pytest.raises(ProtocolError, match="not a site"):
        root.on_bid("c", Bid(1, []))
    with pytest.raises(ProtocolError, match="'a', not in the subtree"):
        root.on_aggregate_bid("region-2", AggregateBid(1, ["a"], [0.0], [0.0], [], [], [], []))
    # the refused curve counts as region-2's answer: its sites are out with the reason
    with pytest.raises(ProtocolError, match="late or duplicate"):
        root.on_aggregate_bid("region-2", good)
    out = root.on_aggregate_bid("region-1", AggregateBid(
        1, ["a"], [0.0], [0.0], [0], [0], [100.0], [30.0], silent=["b"]))
    assert [(o.receiver, o.body.deviation_kw) for o in out] == [("region-1", 50.0)]
    with pytest.raises(ProtocolError, match="does not match"):
        root.on_region_answer("region-1", RegionAnswer(1, 1, 49.0, 0.0))
    with pytest.raises(ProtocolError, match="'c', not one of its sites"):
        root.on_region_answer("region-1", RegionAnswer(1, 1, 50.0, 0.0, silent=["c"]))
    assert root.on_region_answer("region-1", RegionAnswer(1, 1, 50.0, 0.0)) == []
    out = root.outcome()
    assert out.site_power_kw == {"a": 50.0} and out.silent == ["b"]
    assert out.declined["c"].startswith("invalid aggregate bid from region-2")
    assert set(out.declined) == {"b", "c", "d"}  # b silent, c and d refused
