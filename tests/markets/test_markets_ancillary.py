"""Ancillary services: procurement in merit order and the delivery penalty, hand-worked."""

from __future__ import annotations

import pytest

from vpp.markets.ancillary import (
    CapacityAward,
    CapacityBid,
    PenaltyRules,
    assess_delivery,
    procure,
)

BIDS = [
    CapacityBid("A", "p1", "reserve_up", 20.0, 10.0),
    CapacityBid("B", "p2", "reserve_up", 15.0, 12.0, divisible=False),
    CapacityBid("C", "p3", "reserve_up", 30.0, 12.0),  # same price as B, submitted later
    CapacityBid("D", "p4", "reserve_up", 10.0, 8.0),
    CapacityBid("E", "p5", "reserve_down", 50.0, 1.0),  # other product: ignored
]


def test_pay_as_bid_merit_order_with_tie_and_partial_fill():
    # Need 50 MW for 4 h. Merit order: D 10 @8, A 20 @10 (30 MW), then the tie at 12:
    # B first (earlier), indivisible 15 fits (45 MW), then C takes the last 5 MW.
    # Payments: D 10*8*4 = 320, A 20*10*4 = 800, B 15*12*4 = 720, C 5*12*4 = 240.
    r = procure(BIDS, "reserve_up", 50.0, hours=4.0)
    assert [(a.bid_id, a.awarded_mw, a.payment_eur) for a in r.awards] == [
        ("D", 10.0, 320.0), ("A", 20.0, 800.0), ("B", 15.0, 720.0), ("C", 5.0, 240.0),
    ]
    assert (r.procured_mw, r.shortfall_mw, r.marginal_price_eur_mw_h) == (50.0, 0.0, 12.0)


def test_uniform_pricing_pays_the_marginal_price():
    # Same awards, all at the marginal 12 EUR/MW/h: 50 MW * 12 * 4 h = 2400 EUR.
    r = procure(BIDS, "reserve_up", 50.0, hours=4.0, pricing="uniform")
    assert sum(a.payment_eur for a in r.awards) == 2400.0
    assert {a.price_eur_mw_h for a in r.awards} == {12.0}


def test_indivisible_bid_is_skipped_and_shortfall_reported():
    # Need 40 MW: D 10 + A 20 = 30; B (15, indivisible) would make 45 > 40: skipped;
    # C gives the last 10 MW.
    r = procure(BIDS, "reserve_up", 40.0, hours=1.0)
    assert [(a.bid_id, a.awarded_mw) for a in r.awards] == [("D", 10.0), ("A", 20.0), ("C", 10.0)]
    # Need 100 MW: all 75 MW offered is taken, 25 MW is missing.
    r = procure(BIDS, "reserve_up", 100.0, hours=1.0)
    assert (r.procured_mw, r.shortfall_mw) == (75.0, 25.0)
    with pytest.raises(ValueError, match="requirement_mw"):
        procure(BIDS, "reserve_up", -1.0, hours=1.0)


def test_shortfall_is_penalised_by_the_stated_rule():
    # Sold 10 MW at 20 EUR/MW/h for 4 h -> capacity payment 10*20*4 = 800 EUR.
    award = CapacityAward("A", "p1", "reserve_up", 10.0, 20.0, 4.0, 800.0)
    # Fully called for one hour, sampled every 15 min; measured 10, 8, 6, 10 MW.
    # Shortfall 0, 2, 4, 0 MW * 0.25 h = 1.5 MWh; required 4 * 10 * 0.25 = 10 MWh.
    # Withheld 800 * 1.5 / 10 = 120 EUR; penalty 100 EUR/MWh * 1.5 MWh = 150 EUR;
    # net 800 - 120 - 150 = 530 EUR.
    a = assess_delivery(award, [10.0, 8.0, 6.0, 10.0], interval_s=900.0,
                        rules=PenaltyRules(penalty_eur_mwh=100.0))
    assert a.required_mwh == 10.0 and a.shortfall_mwh == 1.5 and a.max_shortfall_mw == 4.0
    assert a.withheld_eur == 120.0 and a.penalty_eur == 150.0 and a.net_payment_eur == 530.0
    assert a.performance == 0.85
    # A provider that delivered in full (over-delivery earns nothing extra) keeps 800.
    full = assess_delivery(award, [10.0, 12.0, 10.0, 10.0], interval_s=900.0)
    assert (full.shortfall_mwh, full.net_payment_eur) == (0.0, 800.0)


def test_fcr_symmetric_response_and_tolerance():
    # FCR 4 MW, 1 h award at 10 EUR/MW/h -> 40 EUR. Calls +0.5, -1.0 (up 2 MW, down 4 MW),
    # samples of 30 min. Measured +2.0 (full) and -3.0 (1 MW short of -4).
    # With a 5% tolerance (0.2 MW): shortfall 0 and 0.8 MW * 0.5 h = 0.4 MWh;
    # required (2 + 4) * 0.5 = 3 MWh; withheld 40 * 0.4 / 3 = 5.333 EUR;
    # penalty 50 * 0.4 = 20 EUR; net 40 - 5.333 - 20 = 14.667 EUR.
    award = CapacityAward("F", "p9", "fcr", 4.0, 10.0, 1.0, 40.0)
    a = assess_delivery(award, [2.0, -3.0], 1800.0, activation=[0.5, -1.0],
                        rules=PenaltyRules(penalty_eur_mwh=50.0, tolerance_share=0.05))
    assert a.required_mwh == pytest.approx(3.0)
    assert a.shortfall_mwh == pytest.approx(0.4)
    assert a.withheld_eur == pytest.approx(40 * 0.4 / 3)
    assert a.penalty_eur == pytest.approx(20.0)
    assert a.net_payment_eur == pytest.approx(40 - 40 * 0.4 / 3 - 20)
    with pytest.raises(ValueError, match="activation"):
        assess_delivery(CapacityAward("A", "p1", "reserve_up", 1.0, 1.0, 1.0, 1.0), [1.0], 60.0, -0.5)
