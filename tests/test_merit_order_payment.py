"""The merit-order cost is the aggregator's payment to the sites, on either side.

Pay-as-bid: a site is paid its asked price for every MWh it injects or absorbs beyond its
baseline. An absorber asking a negative price pays the aggregator, so its cost is negative.
The reference below is written apart from the allocation: a plain sort and a running sum.
"""

from __future__ import annotations

import numpy as np
import pytest

from vpp.coordination.merit_order.allocation import allocate
from vpp.coordination.merit_order.auction import MeritOrderAuction
from vpp.coordination.merit_order.messages import Accept, Bid, BidSegment


def _payment_eur_per_h(qty, price, target):
    """Take the usable segments whole in ascending (price, position), the last partly,
    and sum |taken kW| x price / 1000."""
    side = 1 if target >= 0 else -1
    usable = sorted((p, i) for i, (q, p) in enumerate(zip(qty, price)) if side * q > 0)
    need, paid = abs(target), 0.0
    for p, i in usable:
        take = min(abs(qty[i]), need)
        paid += take * p
        need -= take
        if need <= 0:
            break
    return paid / 1000.0


def test_hand_worked_absorption_pays_minus_eight_cents_an_hour():
    # site0 absorbs 40 kW asking -5 EUR/MWh (it pays 5 to charge), site1 absorbs 60 kW
    # asking 3: the 80 kW target takes 40 @ -5 and 40 @ 3 -> (-200 + 120) / 1000 EUR/h
    got = allocate(np.array([0, 1]), np.array([-40.0, -60.0]), np.array([-5.0, 3.0]),
                   -80.0, 2)
    np.testing.assert_allclose(got.segment_power_kw, [-40.0, -40.0])
    assert got.cost_eur_per_h == pytest.approx(-0.08)
    # the injection side is unchanged: 50 kW @ 20 -> +1 EUR/h
    up = allocate(np.array([0]), np.array([50.0]), np.array([20.0]), 50.0, 1)
    assert up.cost_eur_per_h == pytest.approx(1.0)


def test_the_auction_reports_the_payment_per_site_over_the_window():
    auction = MeritOrderAuction(step=0, window_start_s=0.0, window_s=3600.0, target_kw=-80.0,
                                reserve_kw=0.0, sites=["a", "b"])
    auction.start()
    auction.on_bid("a", Bid(0, [BidSegment(-40.0, -5.0)]))
    out = auction.on_bid("b", Bid(0, [BidSegment(-60.0, 3.0), BidSegment(10.0, 50.0)]))
    for o in out:
        auction.on_accept(o.receiver, Accept(0, o.body.power_kw, o.body.reserve_kw))
    result = auction.outcome()
    assert result.served_kw == pytest.approx(-80.0)
    # one hour: a pays 0.20 EUR (negative cost), b is paid 0.12 EUR
    assert result.site_cost_eur == pytest.approx({"a": -0.20, "b": 0.12})
    assert result.cost_eur == pytest.approx(-0.08)


@pytest.mark.parametrize("seed", range(40))
def test_random_sets_pay_what_an_independent_sum_says(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 25))
    qty = rng.uniform(1, 100, n) * rng.choice([-1.0, 1.0], n)
    price = np.round(rng.uniform(-40, 120, n), 1)
    site = np.arange(n)
    for target in (-rng.uniform(0, 1.2) * max(-qty[qty < 0].sum(), 1.0),
                   rng.uniform(0, 1.2) * max(qty[qty > 0].sum(), 1.0)):
        got = allocate(site, qty, price, float(target), n)
        want = _payment_eur_per_h(qty.tolist(), price.tolist(), float(target))
        assert got.cost_eur_per_h == pytest.approx(want, rel=1e-9, abs=1e-9)

        # the same through the auction, one segment per site, over a 15-minute window
        names = [f"s{i}" for i in range(n)]
        auction = MeritOrderAuction(step=1, window_start_s=0.0, window_s=900.0,
                                    target_kw=float(target), reserve_kw=0.0, sites=names)
        auction.start()
        out = []
        for i, name in enumerate(names):
            out = auction.on_bid(name, Bid(1, [BidSegment(float(qty[i]), float(price[i]))]))
        for o in out:
            auction.on_accept(o.receiver, Accept(1, o.body.power_kw, o.body.reserve_kw))
        result = auction.outcome()
        assert result.cost_eur == pytest.approx(want * 0.25, rel=1e-9, abs=1e-9)
        assert sum(result.site_cost_eur.values()) == pytest.approx(result.cost_eur)
