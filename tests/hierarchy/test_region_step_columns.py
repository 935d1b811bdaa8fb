"""The aggregators' step built column-wise equals the per-site construction it replaced.

Each reference below is the earlier, per-site code, kept here verbatim in substance: the
book of site bids, the award round's messages and the root's outcome must be the same
values (floats bit for bit, dictionaries in the same order).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.clearing import encode, from_allocation
from vpp.coordination.hierarchy.curve import SiteBook, allocate_book, book_from_bids
from vpp.coordination.hierarchy.gather import node_tables
from vpp.coordination.hierarchy.merit_driver import run_flat_step, run_step
from vpp.coordination.hierarchy.merit_region import RegionalAuction, award_children
from vpp.coordination.hierarchy.messages import Clearing, RegionAward
from vpp.coordination.merit_order.auction import Outgoing
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    BidSegment,
    CallForBids,
)

from tests.hierarchy.fleets import Script, random_bids, random_topology


def _reference_book(bids, order) -> SiteBook:
    sites = sorted(bids, key=order.__getitem__)
    seg_site, seg_index, qty, price = [], [], [], []
    for i, s in enumerate(sites):
        for j, seg in enumerate(bids[s].segments):
            seg_site.append(i)
            seg_index.append(j)
            qty.append(seg.quantity_kw)
            price.append(seg.price_eur_mwh)
    return SiteBook(
        sites=sites, order=np.asarray([order[s] for s in sites], dtype=np.int64),
        baseline_kw=np.asarray([bids[s].baseline_kw for s in sites], dtype=float),
        reserve_price_eur_mw_h=np.asarray([bids[s].reserve_price_eur_mw_h for s in sites],
                                          dtype=float),
        segment_site=np.asarray(seg_site, dtype=np.intp),
        segment_index=np.asarray(seg_index, dtype=np.intp),
        quantity_kw=np.asarray(qty, dtype=float), price_eur_mwh=np.asarray(price, dtype=float))


def _assert_same_book(got: SiteBook, want: SiteBook) -> None:
    assert got.sites == want.sites
    for name in ("order", "baseline_kw", "reserve_price_eur_mw_h", "segment_site",
                 "segment_index", "quantity_kw", "price_eur_mwh"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype, name
        assert a.tobytes() == b.tobytes(), name  # bit for bit (and -0.0 stays -0.0)


def _shuffled(rng, bids):
    keys = list(bids)
    return {keys[i]: bids[keys[i]] for i in rng.permutation(len(keys))}


@pytest.mark.parametrize("seed", range(40))
def test_the_book_of_bids_equals_the_per_site_construction(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    sites = [f"s{i:02d}" for i in range(n)]
    bids = random_bids(rng, sites)
    for s in sites[::3]:  # zero-quantity segments, ties, signed zeros, whole numbers
        bids[s] = Bid(0, [BidSegment(0.0, 10.0), BidSegment(-0.0, 10.0), BidSegment(5, 10.0),
                          BidSegment(0.0, -20.0)][: int(rng.integers(0, 5))], 2, -0.0)
    positions = rng.permutation(n + 5)[:n]  # fleet positions with gaps, not in name order
    order = {s: int(p) for s, p in zip(sites, positions)}
    bids = _shuffled(rng, bids)
    _assert_same_book(book_from_bids(bids, order), _reference_book(bids, order))


def test_the_book_of_no_bids_is_empty():
    book = book_from_bids({}, {})
    _assert_same_book(book, _reference_book({}, {}))
    assert book.n_sites == 0 and book.segment_site.size == 0


def _reference_award_children(*, step, round, children, is_site, child_of, site_index, book,
                              awards, changed, power, reserve, marginal_price):
    out, sent = [], {}
    changed_children = set(child_of[changed].tolist())
    for k, child in enumerate(children):
        if k not in changed_children:
            continue
        if is_site[child]:
            i = site_index[child]
            out.append(Outgoing(child, Award(step, float(power[i]), float(reserve[i]),
                                             marginal_price), round))
            continue
        members = child_of == k
        mine = members & awards.eligible
        totals = (float(awards.site_deviation_kw[mine].sum()),
                  float(awards.site_reserve_kw[mine].sum()))
        sent[child] = totals
        out.append(Outgoing(child, RegionAward(step, round, totals[0], totals[1],
                                               marginal_price, encode(book, awards, members)),
                            round))
    return out, sent


@pytest.mark.parametrize("seed", range(30))
def test_an_award_round_sends_what_the_per_child_loop_sent(seed):
    rng = np.random.default_rng(seed)
    sites = [f"s{i:02d}" for i in range(int(rng.integers(2, 50)))]
    topo = random_topology(rng, sites, direct_share=0.4)
    tables = node_tables(topo, topo.root)
    bids = _shuffled(rng, random_bids(rng, sites))
    book = book_from_bids(bids, tables.order)
    eligible = rng.random(book.n_sites) < 0.85
    target = float(rng.uniform(-800.0, 800.0))
    side = 1 if target >= 0 else -1
    booked = allocate_book(book, eligible, target, float(rng.choice([0.0, 50.0])))
    awards = from_allocation(book, eligible, booked, side)
    power = np.where(eligible, book.baseline_kw + awards.site_deviation_kw, np.nan)
    reserve = np.where(eligible, awards.site_reserve_kw, np.nan)
    changed = eligible & (rng.random(book.n_sites) < 0.6)
    args = {"step": 3, "round": 2, "children": tables.children, "is_site": tables.is_site,
            "child_of": tables.child_of(book.order),
            "site_index": dict(zip(book.sites, range(book.n_sites))), "book": book,
            "awards": awards, "changed": changed, "power": power, "reserve": reserve,
            "marginal_price": booked.allocation.marginal_price_eur_mwh}
    got, got_sent = award_children(**args)
    want, want_sent = _reference_award_children(**args)
    assert got == want and got_sent == want_sent
    for o in got:
        if isinstance(o.body, Award):
            assert type(o.body.power_kw) is float and type(o.body.reserve_kw) is float


def _reference_costs(root, accepted):
    site_cost, marginal = {}, None
    book, booked = root._book, root._booked
    if book is not None and booked is not None:
        alloc, index = booked.allocation, booked.index
        local = [k for k, i in enumerate(index.tolist()) if book.sites[i] in accepted]
        mask = np.isin(booked.segment_site, local)
        per_site = np.bincount(
            booked.segment_site[mask],
            weights=np.abs(alloc.segment_power_kw[mask]) * booked.price_eur_mwh[mask],
            minlength=index.size) / 1000.0 * (root.window_s / 3600.0)
        site_cost = {book.sites[index[k]]: float(per_site[k]) for k in local}
        awarded = mask & (alloc.segment_power_kw != 0.0)
        marginal = float(booked.price_eur_mwh[awarded].max()) if awarded.any() else None
    return site_cost, marginal


@pytest.mark.parametrize("seed", range(40))
def test_the_roots_outcome_equals_the_flat_runs_in_its_order(seed):
    rng = np.random.default_rng(seed)
    sites = [f"s{i:02d}" for i in range(int(rng.integers(2, 40)))]
    topo = random_topology(rng, sites)
    bids = random_bids(rng, sites)
    kw = {"step": 0, "target_kw": float(rng.uniform(-2000.0, 2000.0)),
          "reserve_kw": float(rng.choice([0.0, 60.0])), "max_rounds": int(rng.integers(1, 5))}
    run = run_step(topo, bids, answer=Script(np.random.default_rng(seed + 1), sites, 0.2, 0.1),
                   **kw)
    flat = run_flat_step(sites, bids, answer=Script(np.random.default_rng(seed + 1), sites,
                                                   0.2, 0.1), **kw)
    root, out = run.root, run.outcome
    assert root is not None and root.done
    # the accepted set-points in the order the flat auction booked them (rounds in turn,
    # sites in fleet order within a round), the sites staying at their baseline after
    assert list(out.site_power_kw.items()) == list(flat.outcome.site_power_kw.items())
    assert list(out.site_reserve_kw.items()) == list(flat.outcome.site_reserve_kw.items())
    accepted = set(out.site_reserve_kw)
    assert [root._book.sites[i] for i in np.flatnonzero(root._accepted_at)] == sorted(
        accepted, key=root._index.__getitem__)
    site_cost, marginal = _reference_costs(root, accepted)
    assert list(out.site_cost_eur.items()) == list(site_cost.items())
    assert out.cost_eur == sum(site_cost.values())
    assert out.marginal_price_eur_mwh == marginal
    assert out.served_kw == math.fsum(out.site_power_kw.values())


def test_a_site_accept_is_checked_against_its_award():
    topo = random_topology(np.random.default_rng(0), ["a", "b"], max_regions=1,
                           direct_share=0.0)
    (region,) = topo.regions
    auction = RegionalAuction(region, topo)
    auction.on_call(CallForBids(1, 0.0, 900.0, 50.0, 0.0, 2000))
    auction.on_bid("a", Bid(1, [BidSegment(40.0, 10.0)]))
    (up,) = auction.on_bid("b", Bid(1, [BidSegment(30.0, 20.0)]))
    clearing = Clearing(side=1, price=20.0, site="b", segment=0,
                        partial=[])
    out = auction.on_award(RegionAward(1, 1, 70.0, 0.0, 20.0, clearing))
    assert [(o.receiver, o.body) for o in out] == [("a", Award(1, 40.0, 0.0, 20.0)),
                                                   ("b", Award(1, 30.0, 0.0, 20.0))]
    with pytest.raises(ProtocolError, match=r"Accept from a does not match its award "
                                            r"\(40\.000000 kW, 0\.000000 kW\)"):
        auction.on_accept("a", Accept(1, 39.0, 0.0))
    with pytest.raises(ProtocolError, match="not a site below region"):
        auction.on_accept("zz", Accept(1, 40.0, 0.0))
    assert auction.on_accept("b", Accept(1, 30.0, 0.0)) == []
    with pytest.raises(ProtocolError, match="late or duplicate"):
        auction.on_accept("b", Accept(1, 30.0, 0.0))
    (answer,) = auction.on_accept("a", Accept(1, 40.0, 0.0))
    assert answer.receiver == up.receiver and answer.body.deviation_kw == 70.0
