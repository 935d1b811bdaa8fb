"""Merit order through regions equals the flat merit order of the same bids.

The reference is the flat auction (``coordination/merit_order/auction.py``) driven with the
same bids and the same site behaviour (declines, silence). Compared: every site's last
award and outcome set-point, reserve, cost; the marginal price (exactly); served and
unserved energy; which sites declined or were silent; the rounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.hierarchy.fleets import Script, random_bids, random_topology
from vpp.coordination.hierarchy.merit_driver import run_flat_step, run_step
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology
from vpp.coordination.merit_order.allocation import allocate
from vpp.coordination.merit_order.messages import Accept, Bid, BidSegment, Decline

# The flat auction books a payment (|kW| x price) once the `edges` change lands, the
# signed product (kW x price) before it; the hierarchy books the payment. Probe which.
_FLAT_PAYS = allocate(np.array([0]), np.array([-1.0]), np.array([10.0]), -1.0, 1).cost_eur_per_h > 0


def _flat_cost_as_payment(cost: float, target_kw: float, baseline_kw: float) -> float:
    """The flat run's cost in the payment convention (a sign flip on the absorbing side)."""
    return cost if _FLAT_PAYS or target_kw - baseline_kw >= 0 else -cost


def assert_same(hier, flat, unreached=frozenset(), tol=0.0):
    h, f = hier.outcome, flat.outcome
    assert h.rounds == f.rounds
    assert h.declined == f.declined
    assert h.silent == f.silent
    assert h.marginal_price_eur_mwh == f.marginal_price_eur_mwh
    assert set(h.site_power_kw) == set(f.site_power_kw)
    for s, p in f.site_power_kw.items():
        assert h.site_power_kw[s] == pytest.approx(p, abs=tol), s
    assert set(h.site_reserve_kw) == set(f.site_reserve_kw)
    for s, r in f.site_reserve_kw.items():
        assert h.site_reserve_kw[s] == pytest.approx(r, abs=tol), s
    assert h.served_kw == pytest.approx(f.served_kw, abs=tol)
    assert h.unserved_kw == pytest.approx(f.unserved_kw, abs=tol)
    assert h.reserve_served_kw == pytest.approx(f.reserve_served_kw, abs=tol)
    # what each site was told: the same last award (set-point, reserve, price); the sites
    # of a lost region never hear of theirs
    assert set(hier.awards) == set(flat.awards) - set(unreached)
    for s, awards in hier.awards.items():
        awards = flat.awards[s]
        last_h, last_f = hier.awards[s][-1], awards[-1]
        assert last_h.power_kw == pytest.approx(last_f.power_kw, abs=tol), s
        assert last_h.reserve_kw == pytest.approx(last_f.reserve_kw, abs=tol), s
        assert last_h.marginal_price_eur_mwh == last_f.marginal_price_eur_mwh
        assert len(hier.awards[s]) == len(awards), s


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_sites=st.integers(1, 30),
       target=st.floats(-3000, 3000, allow_nan=False), reserve=st.sampled_from([0.0, 40.0, 300.0]))
def test_hierarchy_equals_flat_when_every_site_accepts(seed, n_sites, target, reserve):
    rng = np.random.default_rng(seed)
    sites = [f"s{i:02d}" for i in range(n_sites)]
    topo = random_topology(rng, sites)
    bids = random_bids(rng, sites)
    hier = run_step(topo, bids, step=0, target_kw=target, reserve_kw=reserve)
    flat = run_flat_step(sites, bids, step=0, target_kw=target, reserve_kw=reserve)
    assert hier.errors == [] and flat.errors == []
    assert_same(hier, flat)
    baseline = sum(b.baseline_kw for b in bids.values())
    assert hier.outcome.cost_eur == pytest.approx(
        _flat_cost_as_payment(flat.outcome.cost_eur, target, baseline), abs=1e-9)
    # no award round went to a site whose set-point did not change
    assert hier.messages["root"] <= 2 * len(topo.children(topo.root))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_sites=st.integers(2, 30),
       target=st.floats(-3000, 3000, allow_nan=False), reserve=st.sampled_from([0.0, 60.0]),
       p_decline=st.sampled_from([0.0, 0.15, 0.4]), p_silent=st.sampled_from([0.0, 0.1]),
       max_rounds=st.integers(1, 5))
def test_hierarchy_equals_flat_with_declines_silence_and_missing_bids(
        seed, n_sites, target, reserve, p_decline, p_silent, max_rounds):
    rng = np.random.default_rng(seed)
    sites = [f"s{i:02d}" for i in range(n_sites)]
    topo = random_topology(rng, sites)
    bids = random_bids(rng, sites)
    for s in sites:  # some sites never bid (silent at the call)
        if rng.random() < 0.1:
            del bids[s]
    # some bids are invalid (not the last bidder's: the flat auction loses its awards
    # when the bid that closes the phase is invalid; see the report)
    for s in sites[:-1]:
        if s in bids and rng.random() < 0.05:
            bids[s] = Bid(0, [BidSegment(float("inf"), 1.0)])
    hier = run_step(topo, bids, step=0, target_kw=target, reserve_kw=reserve,
                    answer=Script(np.random.default_rng(seed + 1), sites, p_decline, p_silent),
                    max_rounds=max_rounds)
    flat = run_flat_step(sites, bids, step=0, target_kw=target, reserve_kw=reserve,
                         answer=Script(np.random.default_rng(seed + 1), sites, p_decline,
                                       p_silent), max_rounds=max_rounds)
    assert_same(hier, flat)
    assert len(hier.errors) == len(flat.errors)  # the invalid bids, rejected at each level


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dead_round=st.sampled_from([0, 1]))
def test_a_dead_region_equals_its_sites_silent_in_the_flat_run(seed, dead_round):
    """A region lost before its answer: the same as all its sites silent in the flat run at
    that point (the call, or the first award round where every site is asked)."""
    rng = np.random.default_rng(seed)
    sites = [f"s{i:02d}" for i in range(20)]
    topo = random_topology(rng, sites, direct_share=0.0)
    bids = random_bids(rng, sites)
    dead = topo.regions[int(rng.integers(len(topo.regions)))]
    gone = set(topo.sites_under(dead))
    hier = run_step(topo, bids, step=0, target_kw=400.0, dead_regions={dead: dead_round})
    if dead_round == 0:
        flat = run_flat_step(sites, {s: b for s, b in bids.items() if s not in gone},
                             step=0, target_kw=400.0)
    else:
        flat = run_flat_step(sites, bids, step=0, target_kw=400.0,
                             answer=lambda s, a: None if s in gone else
                             Accept(a.step, a.power_kw, a.reserve_kw))
    assert_same(hier, flat, unreached=gone)
    parent = topo.parent(dead)
    above = hier.root if parent == topo.root else hier.regions[parent]
    assert above.silent_regions == [dead]


def _two_regions():
    sites = ["a1", "a2", "b1", "b2"]
    topo = build_topology(TopologySpec(regions=2), sites)  # region-1: a*, region-2: b*
    bids = {"a1": Bid(0, [BidSegment(100.0, 10.0)]), "a2": Bid(0, [BidSegment(100.0, 30.0)]),
            "b1": Bid(0, [BidSegment(100.0, 20.0)]), "b2": Bid(0, [BidSegment(100.0, 40.0)])}
    return sites, topo, bids


def test_hand_worked_decline_goes_up_and_down_the_fleet_merit_order():
    """250 kW: a1 100 @10, b1 100 @20, a2 50 @30. a1 declines: the root re-runs the fleet's
    merit order, so its 100 kW go to a2 (50 more @30) and b2 (50 @40), across regions,
    exactly as the flat run: not to the next site of a1's own region alone."""
    sites, topo, bids = _two_regions()

    def answer(site, award):
        if site == "a1":
            return Decline(0, "forced outage")
        return Accept(0, award.power_kw, award.reserve_kw)

    hier = run_step(topo, bids, step=0, target_kw=250.0, answer=answer)
    flat = run_flat_step(sites, bids, step=0, target_kw=250.0, answer=answer)
    assert_same(hier, flat)
    out = hier.outcome
    assert out.site_power_kw == {"a1": 0.0, "a2": 100.0, "b1": 100.0, "b2": 50.0}
    assert out.marginal_price_eur_mwh == 40.0 and out.rounds == 2 and out.unserved_kw == 0.0
    assert [a.power_kw for a in hier.awards["b2"]] == [0.0, 50.0]
    assert [a.power_kw for a in hier.awards["b1"]] == [100.0]  # unchanged: not asked again
    # round 2: region-1 (a2 changed) and region-2 (b2 changed) each got one RegionAward
    assert hier.root.records[2].declines == 0 and hier.root.records[1].declines == 1


def test_a_region_lost_after_its_sites_accepted_takes_them_all_out():
    """The one place the hierarchy differs from the flat run: a region silent in award
    round 2 counts all its sites silent, also those that accepted in round 1 (the region
    cannot vouch for any of them); the flat run would keep their round-1 acceptance."""
    sites, topo, bids = _two_regions()

    def answer(site, award):
        if site == "b1":
            return Decline(0, "trip")
        return Accept(0, award.power_kw, award.reserve_kw)

    hier = run_step(topo, bids, step=0, target_kw=250.0, answer=answer,
                    dead_regions={"region-1": 2})
    out = hier.outcome
    assert hier.root.silent_regions == ["region-1"]
    assert out.silent == ["a1", "a2"] and out.declined["b1"] == "trip"
    # rounds: 1 (b1 declines), 2 (region-1 lost), 3 (b2 alone: 100 kW)
    assert out.site_power_kw == {"b1": 0.0, "b2": 100.0}
    assert out.served_kw == 100.0 and out.unserved_kw == 150.0 and out.rounds == 3


def test_a_silent_site_in_a_region_is_reported_up_and_re_awarded_like_flat():
    sites, topo, bids = _two_regions()
    answer = lambda s, a: None if s == "b1" else Accept(0, a.power_kw, a.reserve_kw)  # noqa: E731
    hier = run_step(topo, bids, step=0, target_kw=250.0, answer=answer)
    flat = run_flat_step(sites, bids, step=0, target_kw=250.0, answer=answer)
    assert_same(hier, flat)
    assert hier.outcome.silent == ["b1"] and hier.outcome.served_kw == 250.0


def test_reserve_and_absorption_through_regions_hand_worked():
    """-150 kW from absorbers a2 (-100 @ -5) and b1 (-80 @ 3): a2 takes 100, b1 50.
    Reserve 120 from headroom (offered injection minus awarded power, so an absorber's
    headroom is the absorption it could drop) by reserve price, ties to the earlier site:
    a2 (price 0, headroom 100) 100, b1 (price 0, headroom 50) 20; b2 and a1 none."""
    sites = ["a1", "a2", "b1", "b2"]
    topo = build_topology(TopologySpec(regions=2), sites)
    bids = {"a1": Bid(0, [BidSegment(50.0, 30.0)], 2.0),
            "a2": Bid(0, [BidSegment(-100.0, -5.0)], 0.0),
            "b1": Bid(0, [BidSegment(-80.0, 3.0)], 0.0),
            "b2": Bid(0, [BidSegment(100.0, 60.0)], 1.0)}
    hier = run_step(topo, bids, step=0, target_kw=-150.0, reserve_kw=120.0)
    out = hier.outcome
    assert out.site_power_kw == {"a1": 0.0, "a2": -100.0, "b1": -50.0, "b2": 0.0}
    assert out.site_reserve_kw == {"a1": 0.0, "a2": 100.0, "b1": 20.0, "b2": 0.0}
    assert out.marginal_price_eur_mwh == 3.0
    # payment over 15 minutes: a2 asks -5 EUR/MWh for 100 kW (it pays), b1 3 for 50 kW
    assert out.site_cost_eur == pytest.approx({"a1": 0.0, "a2": -100 * 5 / 1000 * 0.25,
                                               "b1": 50 * 3 / 1000 * 0.25, "b2": 0.0})
    flat = run_flat_step(sites, bids, step=0, target_kw=-150.0, reserve_kw=120.0)
    assert_same(hier, flat)
