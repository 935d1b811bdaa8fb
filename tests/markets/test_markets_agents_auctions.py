"""Day-ahead and ancillary market agents over inproc ZeroMQ, with the VPP trader: results
equal clear_day_ahead / procure on the same bids, late and bad bids are rejected by message,
and the trader's cleared position becomes its dispatch targets."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import numpy as np
import pytest
from vpp.agents.markets.exchange import AncillaryMarketAgent, DayAheadMarketAgent
from vpp.agents.markets.vpp_trader import VppTraderAgent
from vpp.coordination.merit_order.messages import Bid, BidSegment
from vpp.markets.ancillary import CapacityBid, procure
from vpp.markets.day_ahead import clear_day_ahead
from vpp.markets.messages import (
    ANCILLARY_RESULTS_TOPIC,
    DAY_AHEAD_PRICES_TOPIC,
    AncillaryAward,
    AncillaryOffer,
    AncillaryResult,
    BidAck,
    BidRejected,
    CurveStep,
    DayAheadBid,
    DayAheadPrices,
    DayAheadResult,
    HourlyCurve,
)
from vpp.markets.sessions.day_ahead import bid_arrays
from vpp.markets.vpp_offer import ancillary_offer

from tests.markets.market_agents_helpers import Recorder, market_pair

GATE_S = 12 * 3600.0


def _random_bid(rng, bid_id, hours):
    curves = []
    for h in hours:
        steps = [CurveStep(round(rng.choice((-1, 1)) * rng.uniform(0.1, 5.0), 1),
                           round(rng.uniform(-20, 120), 2)) for _ in range(rng.randint(1, 4))]
        curves.append(HourlyCurve(h, steps))
    return DayAheadBid(bid_id, curves)


def test_day_ahead_agent_result_equals_clear_day_ahead(context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    market = mkt.add(DayAheadMarketAgent("da", range(24), GATE_S, auction_id="2019-01-16"))
    rng = random.Random(3)
    names = [f"trader-{i}" for i in range(6)]
    agents = [p.add(Recorder(n)) for n in names]
    watcher = p.add(Recorder("watcher"))
    p.subscribe(watcher, DAY_AHEAD_PRICES_TOPIC)
    loop.run_once(0.01)
    bids = [_random_bid(rng, f"b{i}", sorted(rng.sample(range(24), 6))) for i in range(6)]
    for agent, bid in zip(agents, bids):
        agent.send("mkt/da", bid)
    assert loop.run_until(lambda: all(a.of(BidAck) for a in agents), 5.0)
    assert not market.cleared
    clock.advance_to(GATE_S)               # the gate closes by the clock alone
    assert loop.run_until(lambda: all(a.of(DayAheadResult) for a in agents)
                          and watcher.of(DayAheadPrices), 5.0)
    hour, is_buy, price, qty = bid_arrays(bids)
    expected = clear_day_ahead(hour, is_buy, price, qty)
    published = watcher.of(DayAheadPrices)[0]
    assert published.auction_id == "2019-01-16"
    assert [h.hour for h in published.hours] == expected.hours.tolist()
    # an hour with one side only is published without a price (None for NaN)
    assert [h.clearing_price_eur_mwh for h in published.hours] == [
        None if math.isnan(p) else p for p in expected.clearing_price_eur_mwh.tolist()]
    assert [h.volume_mwh for h in published.hours] == expected.volume_mwh.tolist()
    k = 0
    price_of = {h: None if math.isnan(p) else p for h, p in
                zip(expected.hours.tolist(), expected.clearing_price_eur_mwh.tolist())}
    for agent, bid in zip(agents, bids):
        result = agent.of(DayAheadResult)[0]
        assert result.bid_id == bid.bid_id
        for curve, pos in zip(bid.curves, result.positions):
            n = len(curve.steps)
            fills = expected.fill_mw[k:k + n]
            buys = is_buy[k:k + n]
            assert pos.hour == curve.hour
            assert pos.sold_mw == pytest.approx(fills[~buys].sum())
            assert pos.bought_mw == pytest.approx(fills[buys].sum())
            assert pos.clearing_price_eur_mwh == price_of[curve.hour]
            assert pos.cash_eur == pytest.approx(pos.net_mw * (price_of[curve.hour] or 0.0))
            k += n
    mkt.close()
    p.close()


def test_late_and_bad_bids_are_rejected_and_the_earlier_bid_kept(context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    market = mkt.add(DayAheadMarketAgent("da", [0, 1], GATE_S))
    seller, buyer = p.add(Recorder("seller")), p.add(Recorder("buyer"))
    seller.send("mkt/da", DayAheadBid("s1", [HourlyCurve(0, [CurveStep(1.0, 20.0)])]))
    buyer.send("mkt/da", DayAheadBid("b1", [HourlyCurve(0, [CurveStep(-0.5, 80.0)])]))
    bad = [
        DayAheadBid("x", [HourlyCurve(7, [CurveStep(1.0, 20.0)])]),
        DayAheadBid("x", [HourlyCurve(0, [CurveStep(1.0, 20.0)]),
                          HourlyCurve(0, [CurveStep(1.0, 20.0)])]),
        DayAheadBid("x", [HourlyCurve(0, [CurveStep(1.0, 5000.0)])]),
        DayAheadBid("x", [HourlyCurve(0, [CurveStep(float("inf"), 5.0)])]),
        DayAheadBid("x", [HourlyCurve(1, [])]),
        DayAheadBid("x", []),
        DayAheadBid("", [HourlyCurve(0, [CurveStep(1.0, 20.0)])]),
    ]
    for bid in bad:
        seller.send("mkt/da", bid)
    assert loop.run_until(lambda: len(seller.got) == 1 + len(bad), 5.0)
    reasons = [r.reason for r in seller.of(BidRejected)]
    assert [r.split(":")[0] for r in reasons] == [
        "curves[0].hour", "curves[1].hour", "curves[0].steps[0].price_eur_mwh",
        "curves[0].steps[0].quantity_mw", "curves[0].steps", "curves", "bid_id"]
    clock.advance_to(GATE_S + 1)
    buyer.send("mkt/da", DayAheadBid("late", [HourlyCurve(0, [CurveStep(-5.0, 90.0)])]))
    assert loop.run_until(lambda: buyer.of(BidRejected) and buyer.of(DayAheadResult)
                          and seller.of(DayAheadResult), 5.0)
    assert buyer.of(BidRejected)[0].reason.startswith("gate closed")
    # cleared on the bids recorded before: supply is long, so 0.5 MW at the seller's 20
    (sold,) = seller.of(DayAheadResult)[0].positions
    (bought,) = buyer.of(DayAheadResult)[0].positions
    assert (sold.sold_mw, bought.bought_mw, sold.clearing_price_eur_mwh) == (0.5, 0.5, 20.0)
    assert market.session.result is not None
    mkt.close()
    p.close()


def test_vpp_trader_end_to_end_position_equals_the_hand_worked_clearing(
        context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    mkt.add(DayAheadMarketAgent("da", range(24), GATE_S))
    mkt.add(AncillaryMarketAgent("fcr", {"fcr": 1.0}, hours=4.0, gate_closure_s=GATE_S))
    trader = p.add(VppTraderAgent("vpp", "mkt/da", "mkt/fcr"))
    buyer, seller = p.add(Recorder("buyer")), p.add(Recorder("seller"))
    watcher = p.add(Recorder("watcher"))
    p.subscribe(watcher, ANCILLARY_RESULTS_TOPIC)
    loop.run_once(0.01)
    # the sites' merit-order bids per hour (kW, EUR/MWh)
    chp = [BidSegment(200.0, 30.0)]
    bess = [BidSegment(-100.0, 5.0)]
    gen = [BidSegment(300.0, 50.0)]
    sent = trader.offer_day_ahead({0: [Bid(0, chp + bess), Bid(0, gen)],
                                   1: [Bid(4, bess), Bid(4, gen)]})
    buyer.send("mkt/da", DayAheadBid("load", [HourlyCurve(0, [CurveStep(-0.4, 60.0)])]))
    seller.send("mkt/da", DayAheadBid("wind", [HourlyCurve(0, [CurveStep(0.1, 40.0)]),
                                               HourlyCurve(1, [CurveStep(0.5, -10.0)])]))
    store = SimpleNamespace(energy_kwh=500.0, capacity_kwh=1000.0, p_charge_kw=1000.0,
                            p_discharge_kw=1000.0, eta_c=0.95, eta_d=0.95)  # 50 % charged
    offer = ancillary_offer("vpp-fcr", "fcr", [store], duration_h=1.0, price_eur_mw_h=10.0)
    trader.offer_ancillary(offer)
    seller.send("mkt/fcr", AncillaryOffer("w-fcr", "fcr", 0.8, 12.0))
    assert loop.run_until(lambda: len(trader.acks) == 2 and len(seller.of(BidAck)) == 2, 5.0)
    clock.advance_to(GATE_S)
    assert loop.run_until(lambda: trader.result is not None and trader.awards
                          and watcher.of(AncillaryResult), 5.0)
    # hour 0: supply 0.2@30, 0.1@40, 0.3@50 vs demand 0.4@60 (+ the VPP's 0.1 at -5):
    #   price 50, the VPP sells 0.2 + 0.1 (pro rata at the price) and buys nothing
    # hour 1: supply 0.5@-10, 0.3@50 vs the VPP's 0.1 at limit -5: price -10, it buys 0.1
    assert trader.net_position_mw == pytest.approx({0: 0.3, 1: -0.1})
    assert trader.positions[0].clearing_price_eur_mwh == 50.0
    assert trader.positions[1].clearing_price_eur_mwh == -10.0
    assert trader.positions[0].cash_eur == pytest.approx(15.0)
    assert trader.positions[1].cash_eur == pytest.approx(1.0)
    # ... and equals clear_day_ahead on the same bids, in arrival order
    bids = [sent, DayAheadBid("load", [HourlyCurve(0, [CurveStep(-0.4, 60.0)])]),
            DayAheadBid("wind", [HourlyCurve(0, [CurveStep(0.1, 40.0)]),
                                 HourlyCurve(1, [CurveStep(0.5, -10.0)])])]
    hour, is_buy, price, qty = bid_arrays(bids)
    ref = clear_day_ahead(hour, is_buy, price, qty)
    n = sum(len(c.steps) for c in sent.curves)
    net = {}
    for h, b, f in zip(hour[:n], is_buy[:n], ref.fill_mw[:n]):
        net[int(h)] = net.get(int(h), 0.0) + (-f if b else f)
    assert trader.net_position_mw == pytest.approx(net)
    # what was sold becomes the dispatch target, per 15-min step, in kW
    assert trader.dispatch_targets_kw([0, 1, 2], 4) == pytest.approx(
        [300.0] * 4 + [-100.0] * 4 + [0.0] * 4)
    # FCR: the store at 50 % holds 0.475 MW for a 1 h call; cheapest first, pay-as-bid
    assert trader.reserve_mw == pytest.approx({"fcr": 0.475})
    assert trader.awards[0].payment_eur == pytest.approx(0.475 * 10.0 * 4.0)
    ref_fcr = procure([CapacityBid("0", "p/vpp", "fcr", offer.capacity_mw, 10.0),
                       CapacityBid("1", "p/seller", "fcr", 0.8, 12.0)], "fcr", 1.0, 4.0)
    (result,) = watcher.of(AncillaryResult)
    assert (result.procured_mw, result.shortfall_mw, result.marginal_price_eur_mw_h) == (
        ref_fcr.procured_mw, ref_fcr.shortfall_mw, ref_fcr.marginal_price_eur_mw_h)
    assert seller.of(AncillaryAward)[0].awarded_mw == pytest.approx(0.525)
    mkt.close()
    p.close()


def test_ancillary_rejects_bad_and_late_offers(context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    market = mkt.add(AncillaryMarketAgent("anc", {"reserve_up": 2.0}, hours=1.0,
                                          gate_closure_s=100.0))
    prov = p.add(Recorder("prov"))
    prov.send("mkt/anc", AncillaryOffer("a", "reserve_up", 1.0, 5.0))
    prov.send("mkt/anc", AncillaryOffer("b", "fcr", 1.0, 5.0))
    prov.send("mkt/anc", AncillaryOffer("c", "reserve_up", -1.0, 5.0))
    prov.send("mkt/anc", AncillaryOffer("d", "reserve_up", 1.0, float("nan")))
    assert loop.run_until(lambda: len(prov.got) == 4, 5.0)
    assert [r.reason.split(":")[0] for r in prov.of(BidRejected)] == [
        "product", "capacity_mw", "price_eur_mw_h"]
    clock.advance_to(100.0)
    prov.send("mkt/anc", AncillaryOffer("e", "reserve_up", 1.0, 1.0))
    assert loop.run_until(lambda: prov.of(AncillaryAward) and len(prov.of(BidRejected)) == 4,
                          5.0)
    assert prov.of(BidRejected)[-1].reason.startswith("gate closed")
    (award,) = prov.of(AncillaryAward)
    assert (award.offer_id, award.awarded_mw, award.payment_eur) == ("a", 1.0, 5.0)
    assert market.session.results["reserve_up"].shortfall_mw == pytest.approx(1.0)
    mkt.close()
    p.close()


def test_numpy_types_do_not_leak_into_messages():
    # results are sent over msgspec: every number must be a plain float
    from vpp.markets.sessions.day_ahead import DayAheadSession
    s = DayAheadSession("x", [0], 10.0)
    s.on_bid("a/b", DayAheadBid("b", [HourlyCurve(0, [CurveStep(1.0, 1.0)])]), 0.0)
    out = s.close()
    for o in out:
        body = o.body
        for field in body.__struct_fields__:
            assert not isinstance(getattr(body, field), np.generic)


def test_clearings_are_written_to_the_trace(context, registry, endpoint, tmp_path):
    from vpp.agents.runtime.trace import TraceRecorder, shard_path
    from vpp.agents.runtime.trace_reader import TraceReader

    trace = TraceRecorder(shard_path(tmp_path, "mkt"), "mkt")
    clock, mkt, p, loop = market_pair(context, registry, endpoint, trace=trace)
    mkt.add(DayAheadMarketAgent("da", [0, 1], 10.0))
    mkt.add(AncillaryMarketAgent("anc", {"fcr": 1.0}, hours=1.0, gate_closure_s=10.0))
    a = p.add(Recorder("a"))
    a.send("mkt/da", DayAheadBid("x", [
        HourlyCurve(0, [CurveStep(1.0, 20.0), CurveStep(-0.5, 30.0)]),
        HourlyCurve(1, [CurveStep(1.0, 20.0)])]))
    a.send("mkt/anc", AncillaryOffer("o", "fcr", 0.4, 7.0))
    assert loop.run_until(lambda: len(a.of(BidAck)) == 2, 5.0)
    clock.advance_to(10.0)
    assert loop.run_until(lambda: a.of(DayAheadResult) and a.of(AncillaryAward), 5.0)
    mkt.close()
    p.close()
    trace.close()
    reader = TraceReader(tmp_path)
    rows = reader.rounds()
    reader.close()
    da = [r for r in rows if r["protocol"] == "day-ahead"]
    # no buyers in hour 1: no price is published, and the trace says why
    assert [(r["step"], r["price"], r["bids"]) for r in da] == [(0, 20.0, 2), (1, None, 1)]
    assert [r["detail"]["one_sided"] for r in da] == [False, True]
    assert da[0]["detail"]["volume_mwh"] == 0.5
    (anc,) = [r for r in rows if r["protocol"] == "ancillary"]
    assert anc["price"] == 7.0 and anc["detail"]["shortfall_mw"] == pytest.approx(0.6)
