"""The aggregator's contract net, driven message by message without sockets."""

from __future__ import annotations

import pytest
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.auction import MeritOrderAuction, SitePositions
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    BidSegment,
    CallForBids,
    Decline,
)


def _auction(target=150.0, reserve=0.0, sites=("a", "b", "c"), max_rounds=5):
    return MeritOrderAuction(step=3, window_start_s=2700.0, window_s=900.0, target_kw=target,
                             reserve_kw=reserve, sites=list(sites), max_rounds=max_rounds)


BIDS = {"a": Bid(3, [BidSegment(100.0, 20.0)]),
        "b": Bid(3, [BidSegment(100.0, 40.0)]),
        "c": Bid(3, [BidSegment(100.0, 90.0)])}


def _bid_all(auction, bids=BIDS):
    out = []
    for site, bid in bids.items():
        out = auction.on_bid(site, bid)
    return {o.receiver: o.body for o in out}


def test_call_bid_award_accept():
    auction = _auction()
    calls = auction.start()
    assert [o.receiver for o in calls] == ["a", "b", "c"]
    assert all(isinstance(o.body, CallForBids) and o.round == 0 for o in calls)
    awards = _bid_all(auction)
    assert awards == {"a": Award(3, 100.0, 0.0, 40.0), "b": Award(3, 50.0, 0.0, 40.0),
                      "c": Award(3, 0.0, 0.0, 40.0)}
    for site, award in awards.items():
        assert not auction.done
        auction.on_accept(site, Accept(3, award.power_kw, award.reserve_kw))
    assert auction.done
    out = auction.outcome()
    assert out.served_kw == 150.0 and out.unserved_kw == 0.0
    # pay-as-bid cost over a 15-minute window: (100*20 + 50*40) EUR/MWh * kW / 1000 * 0.25 h
    assert out.cost_eur == pytest.approx((100 * 20 + 50 * 40) / 1000 * 0.25)
    assert out.site_cost_eur == pytest.approx({"a": 100 * 20 / 1000 * 0.25,
                                               "b": 50 * 40 / 1000 * 0.25, "c": 0.0})
    assert out.marginal_price_eur_mwh == 40.0


def test_a_decline_is_re_awarded_down_the_merit_order():
    auction = _auction()
    auction.start()
    awards = _bid_all(auction)
    auction.on_accept("b", Accept(3, awards["b"].power_kw, 0.0))
    auction.on_accept("c", Accept(3, 0.0, 0.0))
    again = auction.on_decline("a", Decline(3, "forced outage"))
    # a's 100 kW moves to b (50 more) and c (50): both get new awards in round 2
    assert {o.receiver: (o.body.power_kw, o.round) for o in again} == {
        "b": (100.0, 2), "c": (50.0, 2)}
    auction.on_accept("b", Accept(3, 100.0, 0.0))
    auction.on_accept("c", Accept(3, 50.0, 0.0))
    out = auction.outcome()
    assert out.site_power_kw == {"b": 100.0, "c": 50.0, "a": 0.0}  # a stays at its baseline
    assert out.declined == {"a": "forced outage"}
    assert out.served_kw == 150.0 and out.rounds == 2
    assert out.marginal_price_eur_mwh == 90.0


def test_silent_sites_are_dropped_at_the_deadline_and_energy_left_unserved_is_reported():
    auction = _auction(target=250.0)
    auction.start()
    auction.on_bid("a", BIDS["a"])
    auction.on_bid("b", BIDS["b"])
    awards = {o.receiver: o.body for o in auction.on_deadline()}  # c never bids
    assert set(awards) == {"a", "b"}
    auction.on_accept("a", Accept(3, 100.0, 0.0))
    assert auction.on_deadline() == []  # b silent on its award: nobody left to re-award
    out = auction.outcome()
    assert out.silent == ["c", "b"]
    assert out.served_kw == 100.0 and out.unserved_kw == 150.0


def test_rounds_are_capped():
    auction = _auction(max_rounds=1)
    auction.start()
    awards = _bid_all(auction)
    auction.on_accept("b", Accept(3, awards["b"].power_kw, 0.0))
    auction.on_accept("c", Accept(3, 0.0, 0.0))
    assert auction.on_decline("a", Decline(3, "no")) == []
    out = auction.outcome()
    assert out.served_kw == 50.0 and out.unserved_kw == 100.0


def test_bad_and_late_messages_are_protocol_errors():
    auction = _auction()
    auction.start()
    with pytest.raises(ProtocolError, match="not called"):
        auction.on_bid("mallory", BIDS["a"])
    with pytest.raises(ProtocolError, match="Bid.segments"):
        auction.on_bid("a", Bid(3, [BidSegment(float("nan"), 1.0)]))
    with pytest.raises(ProtocolError, match="late or duplicate"):
        auction.on_bid("a", BIDS["a"])  # a is out after its invalid bid
    with pytest.raises(ProtocolError, match="step"):
        auction.on_bid("b", Bid(99, []))
    auction.on_bid("c", BIDS["c"])
    out = auction.outcome() if auction.done else None
    assert out is None  # the awards went out; answers pending
    with pytest.raises(ProtocolError, match="does not match"):
        auction.on_accept("c", Accept(3, 1.0, 0.0))


def test_an_invalid_last_bid_still_releases_the_others_awards():
    """The last awaited bid is invalid: its site is out, and the awards its arrival
    releases for the others are not lost (they come from take_after_error)."""
    auction = _auction()
    auction.start()
    auction.on_bid("a", BIDS["a"])
    auction.on_bid("b", BIDS["b"])
    with pytest.raises(ProtocolError, match="Bid.segments"):
        auction.on_bid("c", Bid(3, [BidSegment(float("nan"), 1.0)]))
    awards = {o.receiver: o.body for o in auction.take_after_error()}
    # 150 kW from a (100 at 20) and b (50 at 40); c is out with its invalid bid
    assert awards == {"a": Award(3, 100.0, 0.0, 40.0), "b": Award(3, 50.0, 0.0, 40.0)}
    assert auction.take_after_error() == []
    for site, award in awards.items():
        auction.on_accept(site, Accept(3, award.power_kw, award.reserve_kw))
    assert auction.done and auction.outcome().served_kw == 150.0


def test_site_positions_made_once_are_used_only_for_the_same_names():
    positions = SitePositions(["c", "a", "b"])
    # the same names in the same order: the shared table is used (ties go to "c" first)
    shared = MeritOrderAuction(step=3, window_start_s=2700.0, window_s=900.0, target_kw=50.0,
                               reserve_kw=0.0, sites=["c", "a", "b"], positions=positions)
    assert shared.sites is positions.names
    assert [o.receiver for o in shared.start()] == ["c", "a", "b"]
    # other names (or another order) than the table's: the auction makes its own
    other = MeritOrderAuction(step=3, window_start_s=2700.0, window_s=900.0, target_kw=50.0,
                              reserve_kw=0.0, sites=["a", "b", "c"], positions=positions)
    assert other.sites == ["a", "b", "c"] and other.sites is not positions.names
    other.start()
    tied = {s: Bid(3, [BidSegment(100.0, 20.0)]) for s in ("a", "b", "c")}
    awards = _bid_all(other, tied)
    assert {s: a.power_kw for s, a in awards.items()} == {"a": 50.0, "b": 0.0, "c": 0.0}
    with pytest.raises(ValueError, match="unique"):
        SitePositions(["a", "b", "a"])
    with pytest.raises(ValueError, match="unique"):
        MeritOrderAuction(step=3, window_start_s=0.0, window_s=900.0, target_kw=1.0,
                          reserve_kw=0.0, sites=["a", "a"], positions=positions)
