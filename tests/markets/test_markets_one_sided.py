"""Day-ahead hours with orders on one side only publish no price (flagged), except where
SDAC's curtailment rule prices them at the harmonised limit; hand-built hours."""

from __future__ import annotations

import math

import numpy as np

from vpp.markets.day_ahead import AuctionOrder, AuctionRules, clear_day_ahead, clear_orders
from vpp.markets.messages import (
    CurveStep,
    DayAheadBid,
    DayAheadPrices,
    DayAheadResult,
    HourlyCurve,
    HourPrice,
)
from vpp.markets.sessions import Outgoing, Publication
from vpp.markets.sessions.day_ahead import DayAheadSession


def test_only_buyers_publish_no_price_and_trade_nothing():
    # hour 7: two buyers, 30 MW at 100 and 20 MW at 80 EUR/MWh, nobody sells. The old
    # midpoint of [100, 4000] published 2,050 EUR/MWh at zero volume.
    hours, fills = clear_orders([AuctionOrder("b1", 7, "buy", 100.0, 30.0),
                                 AuctionOrder("b2", 7, "buy", 80.0, 20.0)])
    (h,) = hours
    assert h.clearing_price_eur_mwh is None and h.one_sided
    assert h.volume_mwh == 0.0 and not h.price_determinate
    assert (h.price_low_eur_mwh, h.price_high_eur_mwh) == (100.0, 4000.0)
    assert [(f.filled_mw, f.settlement_price_eur_mwh) for f in fills] == [(0.0, None)] * 2


def test_only_sellers_publish_no_price_beside_a_normal_hour():
    # hour 0: a seller at 30 and a buyer at 50 for 10 MW each: 10 MWh at the midpoint 40
    # hour 1: only sellers (at -20 and 15): no price
    r = clear_day_ahead([0, 0, 1, 1], [False, True, False, False], [30.0, 50.0, -20.0, 15.0],
                        [10.0, 10.0, 5.0, 5.0])
    assert r.clearing_price_eur_mwh[0] == 40.0 and math.isnan(r.clearing_price_eur_mwh[1])
    assert r.one_sided.tolist() == [False, True]
    assert r.volume_mwh.tolist() == [10.0, 0.0]
    assert r.fill_mw.tolist() == [10.0, 10.0, 0.0, 0.0]


def test_a_lone_side_at_the_limit_is_priced_there_as_sdac_curtails():
    # a buyer at the cap with no seller: every unit of demand at the maximum price is
    # curtailed and the hour is priced at the cap; likewise a seller at the floor
    rules = AuctionRules(price_floor_eur_mwh=-500.0, price_cap_eur_mwh=4000.0)
    r = clear_day_ahead([0, 1], [True, False], [4000.0, -500.0], [12.0, 8.0], rules)
    assert r.clearing_price_eur_mwh.tolist() == [4000.0, -500.0]
    assert r.one_sided.tolist() == [True, True] and r.volume_mwh.tolist() == [0.0, 0.0]
    assert r.fill_mw.tolist() == [0.0, 0.0]


def test_the_session_publishes_none_with_the_flag():
    session = DayAheadSession("d1", [0, 1], gate_closure_s=10.0)
    session.on_bid("buyer", DayAheadBid("x", [HourlyCurve(0, [CurveStep(-5.0, 60.0)]),
                                            HourlyCurve(1, [CurveStep(-5.0, 60.0)])]), 0.0)
    session.on_bid("seller", DayAheadBid("y", [HourlyCurve(0, [CurveStep(5.0, 40.0)])]), 0.0)
    out = session.close()
    (pub,) = [o for o in out if isinstance(o, Publication)]
    assert isinstance(pub.body, DayAheadPrices)
    assert pub.body.hours == [HourPrice(0, 50.0, 5.0, 40.0, 60.0, False, False),
                              HourPrice(1, None, 0.0, 60.0, 4000.0, False, True)]
    results = {o.receiver: o.body for o in out if isinstance(o, Outgoing)}
    buyer = results["buyer"]
    assert isinstance(buyer, DayAheadResult)
    assert [(p.hour, p.bought_mw, p.clearing_price_eur_mwh, p.cash_eur)
            for p in buyer.positions] == [(0, 5.0, 50.0, -250.0), (1, 0.0, None, 0.0)]
    # the published result survives the wire (None, not NaN)
    import msgspec

    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(pub.body), type=DayAheadPrices)
    assert wire.hours[1].clearing_price_eur_mwh is None and wire.hours[1].one_sided
    assert not np.isnan(wire.hours[0].clearing_price_eur_mwh)
