"""The merit-order allocation against a simple reference and against an LP optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from vpp.coordination.merit_order.allocation import allocate, fill


def reference(site, qty, price, target, n_sites, reserve, reserve_price):
    """A plain-Python merit order: sort the usable segments by (price, position), take
    them whole until the last, partial one; then reserve site by site from headroom."""
    sign = 1 if target >= 0 else -1
    order = sorted((p, i) for i, (q, p) in enumerate(zip(qty, price)) if sign * q > 0)
    award = [0.0] * len(qty)
    need = abs(target)
    for _, i in order:
        take = min(sign * qty[i], need)
        if take <= 0:
            break
        award[i] = sign * take
        need -= take
    site_power = [0.0] * n_sites
    site_max = [0.0] * n_sites
    for i, s in enumerate(site):
        site_power[s] += award[i]
        site_max[s] += max(qty[i], 0.0)
    reserve_award = [0.0] * n_sites
    left = reserve
    for _, s in sorted((reserve_price[s], s) for s in range(n_sites)):
        take = min(max(site_max[s] - site_power[s], 0.0), left)
        reserve_award[s] = take
        left -= take
    return award, site_power, reserve_award


segments = st.lists(
    st.tuples(st.integers(0, 5),
              st.floats(-200, 200, allow_nan=False).filter(lambda q: abs(q) > 1e-3),
              st.sampled_from([-20.0, 0.0, 10.0, 25.5, 40.0, 80.0, 150.0])),
    min_size=0, max_size=40)


@settings(max_examples=300, deadline=None)
@given(segments, st.floats(-3000, 3000, allow_nan=False), st.floats(0, 500),
       st.lists(st.sampled_from([0.0, 2.0, 5.0]), min_size=6, max_size=6))
def test_allocation_equals_the_reference(segs, target, reserve, reserve_price):
    segs = sorted(segs, key=lambda s: s[0])  # the aggregator orders segments by site
    site = [s for s, _, _ in segs]
    qty = [q for _, q, _ in segs]
    price = [p for _, _, p in segs]
    got = allocate(np.array(site, dtype=int), np.array(qty), np.array(price), target, 6,
                   reserve, np.array(reserve_price))
    award, site_power, reserve_award = reference(site, qty, price, target, 6, reserve,
                                                 reserve_price)
    np.testing.assert_allclose(got.segment_power_kw, award, atol=1e-6)
    np.testing.assert_allclose(got.site_power_kw, site_power, atol=1e-6)
    np.testing.assert_allclose(got.site_reserve_kw, reserve_award, atol=1e-6)
    capacity = sum(q for q in qty if (q > 0) == (target >= 0) and q != 0)
    assert got.unserved_kw == pytest.approx(max(abs(target) - abs(capacity), 0.0), abs=1e-6)
    assert abs(got.served_kw) <= abs(target) + 1e-6
    # reserve only from headroom: power + reserve never above what a site offered
    site_max = np.bincount(site, weights=np.maximum(qty, 0), minlength=6) if site else np.zeros(6)
    assert np.all(got.site_power_kw + got.site_reserve_kw <= site_max + 1e-6)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 10_000), st.floats(0.05, 1.3))
def test_cost_equals_the_lp_optimum(n, seed, fraction):
    rng = np.random.default_rng(seed)
    qty = rng.uniform(1, 100, n)
    price = rng.choice([10.0, 20.0, 35.5, 50.0, 90.0], n)
    target = fraction * qty.sum()
    got = allocate(np.arange(n), qty, price, target, n)
    served = min(target, qty.sum())
    lp = linprog(price, A_eq=np.ones((1, n)), b_eq=[served], bounds=list(zip([0] * n, qty)),
                 method="highs")
    assert lp.status == 0
    assert got.cost_eur_per_h * 1000 == pytest.approx(lp.fun, rel=1e-9, abs=1e-6)
    assert got.served_kw == pytest.approx(served)


def test_hand_worked_case_with_a_tie_and_absorption():
    # segments: site0 100 kW @ 30, site1 50 kW @ 20, site2 80 kW @ 30 (tie with site0),
    # site2 absorbs 40 kW @ -5, site1 absorbs 60 kW @ 3.
    site = np.array([0, 1, 2, 2, 1])
    qty = np.array([100.0, 50.0, 80.0, -40.0, -60.0])
    price = np.array([30.0, 20.0, 30.0, -5.0, 3.0])
    up = allocate(site, qty, price, 120.0, 3, reserve_kw=60.0,
                  reserve_price_eur_mw_h=np.array([1.0, 0.0, 2.0]))
    # 50 @ 20 from site1, then the tie at 30: site0 (earlier) takes the remaining 70
    np.testing.assert_allclose(up.segment_power_kw, [70.0, 50.0, 0.0, 0.0, 0.0])
    assert up.marginal_price_eur_mwh == 30.0
    assert up.cost_eur_per_h == pytest.approx((50 * 20 + 70 * 30) / 1000)
    # headroom: site0 30, site1 0, site2 80; cheapest reserve is site1 (none left), then
    # site0 (30), then site2 (30 of 80)
    np.testing.assert_allclose(up.site_reserve_kw, [30.0, 0.0, 30.0])
    down = allocate(site, qty, price, -80.0, 3)
    # absorption in price order: site2 40 @ -5, then site1 40 of 60 @ 3
    np.testing.assert_allclose(down.segment_power_kw, [0, 0, 0, -40.0, -40.0])
    assert down.served_kw == -80.0 and down.unserved_kw == 0.0
    over = allocate(site, qty, price, 500.0, 3)
    assert over.served_kw == 230.0 and over.unserved_kw == 270.0


@pytest.mark.parametrize("n", [5000, 200_000])
def test_large_inputs_take_the_banded_path_and_agree_with_a_full_sort(n):
    rng = np.random.default_rng(n)
    qty = rng.uniform(0, 50, n)
    price = np.round(rng.normal(50, 30, n), 1)  # many ties
    for need in (0.0, 1.0, qty.sum() * 0.37, qty.sum() * 0.999, qty.sum() * 2):
        got = fill(qty, price, need)
        order = np.argsort(price, kind="stable")
        q = qty[order]
        want = np.empty_like(q)
        want[order] = np.clip(need - (np.cumsum(q) - q), 0.0, q)
        np.testing.assert_allclose(got, want, atol=1e-6)
