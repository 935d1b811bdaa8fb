"""The VPP's offer: day-ahead curves from site bids, storage reserve from state of charge,
positions as dispatch targets (transport-free, hand-worked numbers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vpp.coordination.merit_order.messages import Bid, BidSegment
from vpp.markets.day_ahead import clear_day_ahead
from vpp.markets.messages import CurveStep, DayAheadBid, HourlyCurve, HourPosition
from vpp.markets.sessions.day_ahead import bid_arrays
from vpp.markets.vpp_offer import (
    ancillary_offer,
    day_ahead_curve,
    day_ahead_curves,
    position_to_targets_kw,
    storage_reserve_mw,
)


def test_curve_from_site_bids_equals_the_hand_worked_curve():
    chp = Bid(0, [BidSegment(200.0, 30.0), BidSegment(100.0, 45.0)])
    bess = Bid(0, [BidSegment(250.0, 45.0), BidSegment(-250.0, -5.0)])
    heat = Bid(0, [BidSegment(-200.0, 4.0), BidSegment(0.0, 99.0), BidSegment(80.0, 70.0)])
    mill = Bid(0, [BidSegment(-60.0, -5.0)])
    # sells: 0.2 MW at 30, 0.1 + 0.25 MW at 45, 0.08 MW at 70 (ascending)
    # buys (limit = -asked): 0.25 + 0.06 MW at 5, 0.2 MW at -4 (descending)
    got = day_ahead_curve([chp, bess, heat, mill])
    expected = [(0.2, 30.0), (0.35, 45.0), (0.08, 70.0), (-0.31, 5.0), (-0.2, -4.0)]
    # flat lists: pytest.approx takes no nested structures
    assert [s.quantity_mw for s in got] == pytest.approx([q for q, _ in expected])
    assert [s.price_eur_mwh for s in got] == pytest.approx([p for _, p in expected])
    curves = day_ahead_curves({3: [chp], 1: [mill], 2: [Bid(0, [BidSegment(0.0, 1.0)])]})
    assert curves == [HourlyCurve(1, [CurveStep(-0.06, 5.0)]),
                      HourlyCurve(3, [CurveStep(0.2, 30.0), CurveStep(0.1, 45.0)])]


def test_curve_refuses_prices_outside_the_auction_limits_naming_the_segment():
    with pytest.raises(ValueError, match=r"site_bids\[1\]\.segments\[0\]\.price_eur_mwh"):
        day_ahead_curve([Bid(0, [BidSegment(1.0, 1.0)]), Bid(0, [BidSegment(-1.0, 600.0)])])
    with pytest.raises(ValueError, match="finite"):
        day_ahead_curve([Bid(0, [BidSegment(float("nan"), 1.0)])])


def test_the_vpp_curve_clears_like_its_hand_worked_position():
    vpp = DayAheadBid("vpp", day_ahead_curves({0: [Bid(0, [BidSegment(200.0, 30.0),
                                                           BidSegment(-100.0, 5.0)]),
                                                   Bid(0, [BidSegment(300.0, 50.0)])]}))
    others = [DayAheadBid("b", [HourlyCurve(0, [CurveStep(-0.4, 60.0)])]),
              DayAheadBid("s", [HourlyCurve(0, [CurveStep(0.1, 40.0)])])]
    res = clear_day_ahead(*bid_arrays([vpp, *others]))
    # supply 0.2@30, 0.1@40, 0.3@50 against demand 0.4@60 (and the VPP's 0.1 at -5):
    # price 50, volume 0.4; the VPP sells 0.2 in full and 0.1 of its 0.3 at the price
    assert res.clearing_price_eur_mwh.tolist() == [50.0]
    assert res.volume_mwh[0] == pytest.approx(0.4)
    assert res.fill_mw[:3].tolist() == pytest.approx([0.2, 0.1, 0.0])


@pytest.mark.parametrize("product, energy_kwh, duration_h, expected_mw", [
    ("reserve_up", 500.0, 1.0, 0.475),      # 500 kWh * 0.95 / 1 h = 475 kW < 1000 kW
    ("reserve_up", 500.0, 2.0, 0.2375),     # held for twice as long: half the power
    ("reserve_up", 1000.0, 0.25, 1.0),      # power-limited
    ("reserve_down", 500.0, 1.0, 0.5 / 0.95),
    ("reserve_down", 1000.0, 1.0, 0.0),     # full: nothing to absorb into
    ("fcr", 500.0, 1.0, 0.475),             # symmetric: the smaller direction
    ("fcr", 100.0, 1.0, 0.095),
    ("fcr", 0.0, 1.0, 0.0),                 # empty: no upward response, so no FCR
])
def test_storage_reserve_respects_state_of_charge(product, energy_kwh, duration_h, expected_mw):
    got = storage_reserve_mw(product, energy_kwh=energy_kwh, capacity_kwh=1000.0,
                             p_charge_kw=1000.0, p_discharge_kw=1000.0, duration_h=duration_h)
    assert got == pytest.approx(expected_mw)


def _store(capacity_kwh, power_kw, state_of_charge):
    """A storage device's attributes (duck-typed: the device classes live in physics)."""
    return SimpleNamespace(energy_kwh=capacity_kwh * state_of_charge, capacity_kwh=capacity_kwh,
                           p_charge_kw=power_kw, p_discharge_kw=power_kw, eta_c=0.95, eta_d=0.95)


def test_baselines_are_price_inelastic_steps():
    load = SimpleNamespace(segments=[BidSegment(40.0, 80.0)], baseline_kw=-150.0)
    pv = SimpleNamespace(segments=[BidSegment(-30.0, 2.0)], baseline_kw=50.0)
    # net baseline -100 kW: 0.1 MW bought at the cap, whatever the price
    got = day_ahead_curve([load, pv])
    assert [s.quantity_mw for s in got] == pytest.approx([0.04, -0.1, -0.03])
    assert [s.price_eur_mwh for s in got] == pytest.approx([80.0, 4000.0, -2.0])
    # net baseline injection sells at the floor, merged with a segment at the floor
    gen = SimpleNamespace(segments=[BidSegment(10.0, -500.0)], baseline_kw=20.0)
    assert day_ahead_curve([gen]) == [CurveStep(0.03, -500.0)]


def test_ancillary_offer_sums_the_fleets_storage_and_checks_fields():
    stores = [_store(1000.0, 1000.0, 0.5), _store(200.0, 60.0, 0.9)]
    offer = ancillary_offer("o1", "reserve_up", stores, duration_h=1.0, price_eur_mw_h=10.0)
    assert offer.capacity_mw == pytest.approx(0.475 + 0.06)
    down = ancillary_offer("o2", "reserve_down", stores, duration_h=1.0, price_eur_mw_h=10.0)
    assert down.capacity_mw == pytest.approx(0.5 / 0.95 + 20.0 / 0.95 / 1000.0)
    with pytest.raises(ValueError, match="duration_h"):
        storage_reserve_mw("fcr", energy_kwh=1, capacity_kwh=2, p_charge_kw=1,
                           p_discharge_kw=1, duration_h=0.0)
    with pytest.raises(ValueError, match="product"):
        storage_reserve_mw("spin", energy_kwh=1, capacity_kwh=2, p_charge_kw=1,
                           p_discharge_kw=1, duration_h=1.0)
    with pytest.raises(ValueError, match="energy_kwh"):
        storage_reserve_mw("fcr", energy_kwh=3, capacity_kwh=2, p_charge_kw=1,
                           p_discharge_kw=1, duration_h=1.0)


def test_position_becomes_one_target_per_step_in_kw():
    positions = [HourPosition(0, 0.3, 0.0, 50.0, 15.0), HourPosition(1, 0.0, 0.1, -10.0, 1.0)]
    assert position_to_targets_kw(positions, [0, 1, 2], 2) == pytest.approx(
        [300.0, 300.0, -100.0, -100.0, 0.0, 0.0])
    assert position_to_targets_kw({5: 1.5}, [5], 1) == [1500.0]
