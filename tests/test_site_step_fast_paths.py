"""The sites' per-step fast paths give what the general code gives, value for value.

The merit-order site sums its limits and baseline with its offers, splits a set-point as a
list, bids through the exact MarginalCostBidder without its price methods and sums only its
stores; the battery's limits and step skip the ``_limits`` call without heat or C-rate.
Each is checked against the general path it replaces (exact equality, types included).
"""

from __future__ import annotations

import random

import numpy as np
from vpp.agents.dispatch.devices import SiteDevice
from vpp.agents.merit_order.site import SiteAgent
from vpp.coordination.dispatch import StepCleared
from vpp.coordination.merit_order.bidding import (
    Offer,
    check_award,
    limits_reason,
    setpoints,
    site_limits,
    split_award,
)
from vpp.coordination.merit_order.messages import CallForBids
from vpp.coordination.merit_order.strategies import MarginalCostBidder, MarkupBidder
from vpp.physics.battery import Battery, BatteryParams
from vpp.physics.battery_thermal import ThermalParams
from vpp.physics.flexible import FlexibleDevice


class _Plain(MarginalCostBidder):
    """The general bid path (a subclass: the exact-class shortcut is not taken)."""


def _offers(rng: random.Random, n: int) -> list[Offer]:
    out = []
    for i in range(n):
        low = -rng.choice([0.0, rng.uniform(0, 100)])
        high = rng.choice([0.0, rng.uniform(0, 100)])
        base = rng.choice([0.0, low, high, rng.uniform(low, high)])
        # few distinct prices, so ties (ranked by position) happen
        out.append(Offer(f"d{i}", low, high, rng.choice([10.0, 20.0, 30.5]),
                         rng.choice([-5.0, 0.0, 7.25]), base))
    return out


def test_setpoints_are_split_award_in_the_offers_order():
    rng = random.Random(7)
    cases = 0
    for _ in range(3000):
        offers = _offers(rng, rng.choice([0, 1, 2, 2, 3, 4]))
        baseline = sum(o.baseline_kw for o in offers)
        low, high = site_limits(offers)
        for power in (baseline, rng.uniform(low - 5, high + 5), low, high):
            split = split_award(offers, power)
            got = setpoints(offers, power, baseline)
            assert got == [split[o.device] for o in offers]
            assert [type(x) for x in got] == [type(split[o.device]) for o in offers]
            cases += 1
    assert cases == 12000


def test_two_offers_rank_as_sorting_does():
    # equal prices keep the order; a lower second price goes first, either direction
    tie = [Offer("a", -10.0, 10.0, 20.0, 5.0, 0.0), Offer("b", -10.0, 10.0, 20.0, 5.0, 0.0)]
    assert setpoints(tie, 15.0, 0.0) == [10.0, 5.0]
    assert setpoints(tie, -15.0, 0.0) == [-10.0, -5.0]
    cheap_second = [Offer("a", -10.0, 10.0, 30.0, 6.0, 0.0),
                    Offer("b", -10.0, 10.0, 20.0, 5.0, 0.0)]
    assert setpoints(cheap_second, 15.0, 0.0) == [5.0, 10.0]
    assert setpoints(cheap_second, -15.0, 0.0) == [-5.0, -10.0]


def test_limits_reason_is_check_awards():
    offers = [Offer("g", 0.0, 100.0, 50.0, 0.0, 0.0), Offer("b", -50.0, 50.0, 40.0, 1.0, 0.0)]
    low, high = site_limits(offers)
    for power, reserve in ((0.0, 0.0), (-60.0, 0.0), (140.0, 20.0), (150.0, 0.0)):
        assert limits_reason(low, high, power, reserve) == check_award(offers, power, reserve)
    assert limits_reason(low, high, -60.0, 0.0).startswith("award -60.000 kW is below")


def test_the_exact_bidder_bids_as_the_general_path():
    rng = random.Random(3)
    call = CallForBids(4, 0.0, 900.0, 100.0, 10.0, 1000)
    for _ in range(500):
        offers = _offers(rng, rng.choice([0, 1, 2, 3]))
        fast = MarginalCostBidder(7.5).bid(call, offers)
        plain = _Plain(7.5).bid(call, offers)
        assert fast == plain
        assert type(fast.baseline_kw) is type(plain.baseline_kw)
    # with absorption (a store) and without (a generator alone); no offers: an int 0
    store = [Offer("bess", -50.0, 50.0, 40.0, -3.0, 0.0)]
    assert [(s.quantity_kw, s.price_eur_mwh)
            for s in MarginalCostBidder().bid(call, store).segments] == [(50.0, 40.0),
                                                                        (-50.0, -3.0)]
    gen = [Offer("gen", 0.0, 80.0, 60.0, 0.0, 0.0)]
    assert len(MarginalCostBidder().bid(call, gen).segments) == 1
    assert type(MarginalCostBidder().bid(call, []).baseline_kw) is int
    # a subclass keeps its own prices
    marked = MarkupBidder(10.0).bid(call, store)
    assert [s.price_eur_mwh for s in marked.segments] == [50.0, 7.0]


def _site(thermal: bool = False, soc_init: float = 0.5) -> SiteAgent:
    params = BatteryParams(200.0, 50.0, 50.0, soc_init=soc_init,
                           thermal=ThermalParams() if thermal else None)
    devices = [SiteDevice("gen", FlexibleDevice("gen", 0.0, 120.0), 60.0),
               SiteDevice("bess", Battery(params), 45.0, absorb_price_eur_mwh=2.0)]
    return SiteAgent("s", devices, MarginalCostBidder(), dt_h=0.25,
                     rng=np.random.default_rng(1))


def _run(site: SiteAgent, step: int, award: tuple[float, float] | None) -> None:
    site.step = step
    site.award = award
    site._on_cleared(None, StepCleared(step, 0.0, 0.0, 0.0, None))


def test_a_sites_step_matches_the_dictionary_split_and_its_sums_follow_the_step():
    fast, general = _site(), _site()
    general._know_devices()
    general._unique = False  # (the split_award path, as for repeated device names)
    awards = [None, (150.0, 0.0), (-40.0, 5.0), (30.0, 0.0), None, (-50.0, 0.0), (170.0, 0.0)]
    for k, award in enumerate(awards):
        for site in (fast, general):
            offers = site.offers(k)
            assert (site._low, site._high) == site_limits(offers)
            assert site._baseline == sum(o.baseline_kw for o in offers)
            _run(site, k, award)
        assert fast.device_power_kw == general.device_power_kw
        assert fast.power_kw == general.power_kw
        assert fast.stored_kwh == general.stored_kwh == fast.devices[1].model.energy_kwh
    assert fast.devices[1].model.energy_kwh != 100.0  # (the store moved)


def test_the_sums_are_taken_again_after_a_step():
    site = _site(soc_init=0.12)  # (nearly empty: what it can inject is its energy's)
    before = site.offers(0)
    high_before = site._high
    _run(site, 0, (-50.0, 0.0))  # charge the store: it can discharge more next step
    after = site.offers(1)
    assert after is not before
    assert site._high == site_limits(after)[1] != high_before


def test_stored_kwh_is_sums_with_its_types():
    assert SiteAgent("empty", [], MarginalCostBidder(), dt_h=0.25).stored_kwh == 0
    assert type(SiteAgent("empty", [], MarginalCostBidder(), dt_h=0.25).stored_kwh) is int
    gen_only = SiteAgent("g", [SiteDevice("gen", FlexibleDevice("gen", 0.0, 10.0), 1.0)],
                         MarginalCostBidder(), dt_h=0.25)
    assert type(gen_only.stored_kwh) is float and gen_only.stored_kwh == 0.0
    site = _site()
    site.devices.append(SiteDevice("b2", Battery(BatteryParams(100.0, 10.0, 10.0)), 1.0))
    assert site.stored_kwh == 0 + 0.0 + 100.0 + 50.0  # (a device added later is counted)


def test_battery_limits_now_is_its_flexibility_with_and_without_heat():
    for params in (BatteryParams(200.0, 50.0, 40.0, soc_init=0.12),
                   BatteryParams(200.0, 50.0, 40.0, c_rate_max=0.1),
                   BatteryParams(200.0, 50.0, 40.0, soc_init=0.88, thermal=ThermalParams())):
        b = Battery(params)
        for setpoint in (40.0, -50.0, 0.0, 30.0, -20.0, 45.0):
            f = b.flexibility(1, 0.25)
            assert b.limits_now(0.25) == (f.p_min_kw[0], f.p_max_kw[0], f.e_min_kwh[0], f.e_max_kwh[0])
            b.step(setpoint, 0.25)


def test_repeated_device_names_run_as_the_dictionary_split_runs_them():
    # two stores named alike: split_award keys them by name, so both run at the value
    # the last one was given (the site's split, as before)
    def site() -> SiteAgent:
        devices = [SiteDevice("b", Battery(BatteryParams(200.0, 50.0, 50.0, soc_init=0.3)), 40.0),
                   SiteDevice("b", Battery(BatteryParams(200.0, 50.0, 50.0, soc_init=0.7)), 30.0)]
        return SiteAgent("s", devices, MarginalCostBidder(), dt_h=0.25)
    for award in (None, (30.0, 0.0), (-70.0, 0.0)):
        s = site()
        offers = s.offers(0)
        split = split_award(offers, award[0] if award else 0.0)
        _run(s, 0, award)
        ran = [d.model.energy_kwh for d in s.devices]
        expected = [Battery(BatteryParams(200.0, 50.0, 50.0, soc_init=soc)) for soc in (0.3, 0.7)]
        for b in expected:
            b.step(split["b"], 0.25)
        assert ran == [b.energy_kwh for b in expected]
