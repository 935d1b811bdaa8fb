"""Day-ahead auction: hand-worked cases and random curves against a welfare LP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.markets.day_ahead import (
    AuctionOrder,
    AuctionRules,
    clear_day_ahead,
    clear_orders,
)

SELL, BUY = False, True


def test_simple_crossing_marginal_seller_partially_filled():
    # Supply: 50 MW @10, 50 MW @30, 50 MW @50 -> steps 0-50 @10, 50-100 @30, 100-150 @50.
    # Demand: 40 MW @60, 40 MW @40, 40 MW @20 -> steps 0-40 @60, 40-80 @40, 80-120 @20.
    # Walking right: at 80 MW demand drops to 20 < 30 (supply price) -> volume 80 MWh.
    # Prices that clear: supply(<=p) >= demand(>p) needs p >= 30 (at 30: 100 >= 80;
    # at 20: 50 < 80); demand(>=p) >= supply(<p) needs p <= 30 (at 40: 80 < 100).
    # -> interval [30, 30], price 30 EUR/MWh, the 30-step sells 80 - 50 = 30 MW.
    r = clear_day_ahead(
        [0] * 6,
        [SELL, SELL, SELL, BUY, BUY, BUY],
        [10, 30, 50, 60, 40, 20],
        [50, 50, 50, 40, 40, 40],
    )
    assert r.clearing_price_eur_mwh.tolist() == [30.0]
    assert r.volume_mwh.tolist() == [80.0]
    assert r.fill_mw.tolist() == [50.0, 30.0, 0.0, 40.0, 40.0, 0.0]
    np.testing.assert_array_equal(
        r.settlement_price_eur_mwh, [30, 30, np.nan, 30, 30, np.nan]
    )
    (hc,) = r.hour_clearings()
    assert hc.price_determinate and hc.price_low_eur_mwh == hc.price_high_eur_mwh == 30.0


def test_pay_as_bid_keeps_allocation_and_settles_at_own_price():
    # Same curves as above; the allocation is unchanged (80 MWh), but each fill is
    # paid its own price: sellers 10 and 30, buyers 60 and 40 EUR/MWh.
    r = clear_day_ahead(
        [0] * 6,
        [SELL, SELL, SELL, BUY, BUY, BUY],
        [10, 30, 50, 60, 40, 20],
        [50, 50, 50, 40, 40, 40],
        AuctionRules(pricing="pay_as_bid"),
    )
    assert r.fill_mw.tolist() == [50.0, 30.0, 0.0, 40.0, 40.0, 0.0]
    np.testing.assert_array_equal(
        r.settlement_price_eur_mwh, [10, 30, np.nan, 60, 40, np.nan]
    )
    assert r.clearing_price_eur_mwh.tolist() == [30.0]


def test_vertical_overlap_takes_midpoint():
    # Hour 0: supply 100 MW @20, demand 100 MW @60: both curves end at 100 MW,
    # so any price in [20, 60] clears; midpoint (20 + 60) / 2 = 40.
    # Hour 1: supply 60 @10 + 60 @50, demand 60 @70 + 60 @5. At 60 MW supply jumps
    # 10 -> 50 and demand drops 70 -> 5: interval [max(10, 5), min(50, 70)] = [10, 50]
    # -> price 30, volume 60.
    r = clear_day_ahead(
        [0, 0, 1, 1, 1, 1],
        [SELL, BUY, SELL, SELL, BUY, BUY],
        [20, 60, 10, 50, 70, 5],
        [100, 100, 60, 60, 60, 60],
    )
    assert r.hours.tolist() == [0, 1]
    assert r.price_low_eur_mwh.tolist() == [20.0, 10.0]
    assert r.price_high_eur_mwh.tolist() == [60.0, 50.0]
    assert r.clearing_price_eur_mwh.tolist() == [40.0, 30.0]
    assert r.volume_mwh.tolist() == [100.0, 60.0]
    assert r.fill_mw.tolist() == [100.0, 100.0, 60.0, 0.0, 60.0, 0.0]
    assert not any(h.price_determinate for h in r.hour_clearings())


def test_pro_rata_at_the_clearing_price():
    # Two sellers at 30 EUR/MWh (60 MW and 40 MW), one buyer 50 MW @45.
    # Price: supply(<=30) = 100 >= demand(>30) = 50 and demand(>=30) = 50 >= supply(<30) = 0
    # -> 30; at 45 supply(<45) = 100 > 50, so the interval is the point 30.
    # The sellers are long (100 MW for 50): pro rata 50/100 -> 30 MW and 20 MW.
    r = clear_day_ahead([0, 0, 0], [SELL, SELL, BUY], [30, 30, 45], [60, 40, 50])
    assert r.clearing_price_eur_mwh.tolist() == [30.0]
    assert r.volume_mwh.tolist() == [50.0]
    np.testing.assert_allclose(r.fill_mw, [30.0, 20.0, 50.0])


def test_horizontal_overlap_trades_the_largest_volume():
    # Seller 100 MW @30, buyers 50 MW @30 and 50 MW @20. Price 30 (as above);
    # at 30 the buyer at 30 is indifferent; the rule trades the largest volume, 50 MWh.
    r = clear_day_ahead([0, 0, 0], [SELL, BUY, BUY], [30, 30, 20], [100, 50, 50])
    assert r.clearing_price_eur_mwh.tolist() == [30.0]
    assert r.fill_mw.tolist() == [50.0, 50.0, 0.0]


def test_scarcity_clears_at_the_cap_and_no_cross_trades_nothing():
    # Hour 0: demand 100 MW at the cap (4000) but only 60 MW of supply @50:
    # supply(<=p) >= demand(>p) only holds from p = 4000 -> price 4000, volume 60.
    # Hour 1: supply 10 MW @50, demand 10 MW @40: no cross, volume 0; every price in
    # [40, 50] clears (nothing trades) -> midpoint 45.
    r = clear_day_ahead(
        [0, 0, 1, 1], [BUY, SELL, SELL, BUY], [4000, 50, 50, 40], [100, 60, 10, 10]
    )
    assert r.clearing_price_eur_mwh.tolist() == [4000.0, 45.0]
    assert r.volume_mwh.tolist() == [60.0, 0.0]
    assert r.fill_mw.tolist() == [60.0, 60.0, 0.0, 0.0]


def test_one_sided_hours_publish_no_price():
    # Hour 0 has only a seller @20, hour 1 only a buyer @20: the intervals [floor, 20] and
    # [20, cap] are open at the limit, so no price (it used to be -240 and 2010).
    r = clear_day_ahead([0, 1], [SELL, BUY], [20, 20], [5, 5])
    assert np.isnan(r.clearing_price_eur_mwh).all()
    assert r.one_sided.tolist() == [True, True]
    assert r.price_low_eur_mwh.tolist() == [-500.0, 20.0]
    assert r.price_high_eur_mwh.tolist() == [20.0, 4000.0]
    assert r.volume_mwh.tolist() == [0.0, 0.0]


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match=r"price_eur_mwh\[1\]"):
        clear_day_ahead([0, 0], [BUY, SELL], [10, 5000], [1, 1])
    with pytest.raises(ValueError, match="pricing"):
        clear_day_ahead([0], [BUY], [10], [1], AuctionRules(pricing="discriminatory"))
    with pytest.raises(ValueError, match="hour"):
        clear_day_ahead([0.5], [BUY], [10], [1])
    with pytest.raises(ValueError, match=r"quantity_mw\[0\]"):
        clear_day_ahead([0], [BUY], [10], [-1])
    with pytest.raises(ValueError, match="order_id"):
        clear_orders(
            [AuctionOrder("a", 0, "buy", 10.0, 1.0), AuctionOrder("a", 0, "sell", 5.0, 1.0)]
        )


def test_typed_orders_round_trip():
    hours, fills = clear_orders(
        [
            AuctionOrder("s1", 7, "sell", 10.0, 50.0),
            AuctionOrder("b1", 7, "buy", 60.0, 40.0),
        ]
    )
    # Seller 50 @10, buyer 40 @60: volume 40; buyer long? no: seller is long at 10
    # (50 MW offered, 40 bought) -> price 10 (supply(<10)=0 <= 40 <= demand(>=10)=40).
    assert hours[0].hour == 7 and hours[0].clearing_price_eur_mwh == 10.0
    assert [f.filled_mw for f in fills] == [40.0, 40.0]
    assert fills[0].settlement_price_eur_mwh == 10.0


# --- random curves against the welfare-maximising LP -------------------------------


def _lp_welfare_and_price(is_buy, price, qty):
    linprog = pytest.importorskip("scipy.optimize").linprog
    c = np.where(is_buy, -price, price)
    a_eq = np.where(is_buy, 1.0, -1.0)[None, :]
    res = linprog(
        c, A_eq=a_eq, b_eq=[0.0], bounds=np.c_[np.zeros_like(qty), qty], method="highs"
    )
    assert res.status == 0
    volume = float(res.x[is_buy].sum())
    return -res.fun, volume, -float(res.eqlin.marginals[0])


def _dual_objective(lam, is_buy, price, qty):
    """Lagrangian dual of the welfare LP: its minimisers are exactly the clearing prices."""
    return float(
        np.sum(qty * np.where(is_buy, np.maximum(0.0, price - lam), np.maximum(0.0, lam - price)))
    )


@st.composite
def curves(draw, integer_prices: bool):
    n = draw(st.integers(2, 40))
    is_buy = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if integer_prices:  # many ties, overlapping steps
        price = np.array(draw(st.lists(st.integers(-20, 20), min_size=n, max_size=n)), float)
    else:  # distinct prices (0.1 EUR/MWh apart at least): the optimal volume is unique
        price = (
            np.array(
                draw(st.lists(st.integers(-4000, 30000), min_size=n, max_size=n, unique=True)),
                float,
            )
            / 10
        )
    qty = np.array(draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n)), float) / 10
    return is_buy, price, qty


def _check_against_lp(is_buy, price, qty, compare_volume: bool):
    r = clear_day_ahead(np.zeros(price.size, int), is_buy, price, qty)
    welfare, lp_volume, lp_price = _lp_welfare_and_price(is_buy, price, qty)
    scale = 1e-6 * (1.0 + float(np.sum(qty * np.abs(price))))
    fill = r.fill_mw
    # Our allocation is feasible and balanced, and reaches the LP's optimum welfare.
    assert np.all(fill >= -1e-9) and np.all(fill <= qty + 1e-9)
    assert abs(fill[is_buy].sum() - fill[~is_buy].sum()) < 1e-6
    ours = float(np.sum(np.where(is_buy, price, -price) * fill))
    assert ours == pytest.approx(welfare, abs=scale)
    if compare_volume:
        assert r.volume_mwh[0] == pytest.approx(lp_volume, abs=1e-6)
    else:  # with ties we trade the largest optimal volume
        assert r.volume_mwh[0] >= lp_volume - 1e-6
    lo, hi, p = r.price_low_eur_mwh[0], r.price_high_eur_mwh[0], r.clearing_price_eur_mwh[0]
    # The LP's dual price lies in our interval; every price in it is an optimal dual.
    has_both_sides = is_buy.any() and (~is_buy).any()
    if has_both_sides:
        assert lo - 1e-9 <= lp_price <= hi + 1e-9
    # a one-sided hour publishes no price, unless its interval is one point (the limit)
    assert np.isnan(p) == (not has_both_sides and lo != hi)
    for lam in (lo, hi) if np.isnan(p) else (lo, p, hi):
        assert _dual_objective(lam, is_buy, price, qty) == pytest.approx(welfare, abs=scale)
    # ... and the interval is maximal: just outside it the dual objective rises.
    if has_both_sides:
        assert _dual_objective(lo - 1e-3, is_buy, price, qty) > welfare - scale
        assert _dual_objective(hi + 1e-3, is_buy, price, qty) > welfare - scale


@settings(max_examples=150, deadline=None)
@given(curves(integer_prices=False))
def test_random_curves_match_lp(c):
    _check_against_lp(*c, compare_volume=True)


@settings(max_examples=150, deadline=None)
@given(curves(integer_prices=True))
def test_random_tied_curves_match_lp_welfare(c):
    _check_against_lp(*c, compare_volume=False)


def test_many_hours_at_once_equal_hour_by_hour():
    rng = np.random.default_rng(7)
    n = 5000
    hour = rng.integers(0, 24, n)
    is_buy = rng.random(n) < 0.5
    price = np.round(rng.uniform(-50, 200, n), 1)
    qty = np.round(rng.uniform(0.1, 30, n), 1)
    r = clear_day_ahead(hour, is_buy, price, qty)
    for k, h in enumerate(r.hours):
        m = hour == h
        one = clear_day_ahead(hour[m], is_buy[m], price[m], qty[m])
        assert one.clearing_price_eur_mwh[0] == r.clearing_price_eur_mwh[k]
        np.testing.assert_allclose(one.fill_mw, r.fill_mw[m])


# --- the real MIBEL order book ----------------------------------------------------


def test_mibel_hour_clears_near_the_exchange_volume(record_property, capsys):
    from vpp.markets.data import load_omie_curves

    o = load_omie_curves()
    offered = ~o.matched  # every offered 'O' step; the 'C' rows are the exchange's result
    # MIBEL in 2009: floor 0, cap 18.03 c€/kWh = 180.3 EUR/MWh.
    rules = AuctionRules(price_floor_eur_mwh=0.0, price_cap_eur_mwh=180.3)
    r = clear_day_ahead(
        np.zeros(int(offered.sum()), int),
        o.is_buy[offered],
        o.price_eur_mwh[offered],
        o.quantity_mwh[offered],
        rules,
    )
    exchange_volume = o.matched_volume_mwh()  # 25,312.1 MWh
    exchange_price = o.highest_matched_sell_price_eur_mwh()  # 53.69 EUR/MWh
    assert exchange_volume == pytest.approx(25312.1)
    ours_volume = float(r.volume_mwh[0])
    ours_price = float(r.clearing_price_eur_mwh[0])
    assert abs(ours_volume - exchange_volume) <= 0.005 * exchange_volume
    # We clear simple steps only; the exchange's result also reflects the complex
    # conditions of MIBEL sell offers (e.g. minimum income), which we do not model.
    # On this hour our price comes out below the exchange's highest matched step.
    assert 0.0 < ours_price <= exchange_price
    record_property("mibel_volume_mwh", ours_volume)
    record_property("mibel_price_eur_mwh", ours_price)
    with capsys.disabled():
        print(
            f"\nMIBEL 2009-01-02 h1: ours {ours_volume:,.1f} MWh at {ours_price:.2f} EUR/MWh;"
            f" exchange {exchange_volume:,.1f} MWh, highest matched sell {exchange_price:.2f}"
            f" EUR/MWh (volume gap {100 * (ours_volume / exchange_volume - 1):+.2f} %)"
        )


@settings(max_examples=100, deadline=None)
@given(curves(integer_prices=True), st.integers(-100, 100), st.randoms(use_true_random=False))
def test_shift_and_permutation_invariance(c, shift, rnd):
    is_buy, price, qty = c
    hour = np.zeros(price.size, int)
    base = clear_day_ahead(hour, is_buy, price, qty)
    # Shifting every price by a constant shifts the price interval and keeps the fills
    # (two-sided hours: a one-sided hour's open end is the fixed floor or cap).
    moved = clear_day_ahead(hour, is_buy, price + shift, qty)
    np.testing.assert_allclose(moved.fill_mw, base.fill_mw)
    if is_buy.any() and (~is_buy).any():
        assert moved.price_low_eur_mwh[0] == base.price_low_eur_mwh[0] + shift
        assert moved.price_high_eur_mwh[0] == base.price_high_eur_mwh[0] + shift
    # The order of the input does not matter.
    perm = list(range(price.size))
    rnd.shuffle(perm)
    shuffled = clear_day_ahead(hour, is_buy[perm], price[perm], qty[perm])
    np.testing.assert_allclose(shuffled.fill_mw, base.fill_mw[perm], atol=1e-9)
    np.testing.assert_equal(shuffled.clearing_price_eur_mwh[0], base.clearing_price_eur_mwh[0])
