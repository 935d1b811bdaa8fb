"""A region's curve too large for one message goes up in parts (``curve_parts``): each part
fits, together they merge back into the very book, and the dispatch through parts equals
the flat run's; a bad part, or a deadline between parts, leaves the region's sites out as
one curve would."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.curve import book_from_aggregate, curve_parts, merge
from vpp.coordination.hierarchy.gather import BidGathering
from vpp.coordination.hierarchy.merit_driver import run_flat_step, run_step
from vpp.coordination.hierarchy.messages import AggregateBid, SiteDecline
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology

from tests.hierarchy.fleets import Script, random_bids, random_topology


def _books_equal(a, b):
    assert a.sites == b.sites
    for field in ("order", "baseline_kw", "reserve_price_eur_mw_h", "segment_site",
                  "segment_index", "quantity_kw", "price_eur_mwh"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_parts_fit_and_merge_back_into_the_book():
    rng = np.random.default_rng(3)
    sites = [f"s{i:04d}" for i in range(600)]
    topo = build_topology(TopologySpec(regions=1), sites)
    gathering = BidGathering("region-1", topo, 0)
    for s, bid in random_bids(rng, sites[:-2]).items():
        gathering.on_bid(s, bid)
    gathering.on_deadline()
    book, silent, _ = gathering.close()
    assert silent == ["s0598", "s0599"]
    whole = curve_parts(book, 0, ["s0598"], [SiteDecline("s0599", "invalid bid: z")])
    assert len(whole) == 1 and not whole[0].more
    parts = curve_parts(book, 0, ["s0598"], [SiteDecline("s0599", "invalid bid: z")],
                        max_bytes=4000)
    assert len(parts) > 4
    assert all(len(msgspec.msgpack.encode(p)) <= 4000 for p in parts)
    assert [p.more for p in parts] == [True] * (len(parts) - 1) + [False]
    assert all(not p.silent and not p.rejected for p in parts[:-1])
    assert parts[-1].silent == ["s0598"] and parts[-1].rejected[0].site == "s0599"
    order = {s: i for i, s in enumerate(sites)}
    books = [book_from_aggregate(p, 0, order, set(sites)) for p in parts]
    assert sum(b.n_sites for b in books) == book.n_sites
    _books_equal(merge(books), book)


@pytest.mark.parametrize("seed", range(8))
def test_a_step_through_curves_in_parts_equals_the_flat_run(seed):
    rng = np.random.default_rng(seed)
    sites = [f"s{i:03d}" for i in range(120)]
    topo = random_topology(rng, sites)
    bids = random_bids(rng, sites)
    for s in sites[::9]:
        del bids[s]
    target = float(rng.uniform(-500, 2000))
    hier = run_step(topo, bids, step=0, target_kw=target, reserve_kw=50.0,
                    answer=Script(np.random.default_rng(seed + 1), sites, 0.1, 0.05),
                    max_curve_bytes=700)
    flat = run_flat_step(sites, bids, step=0, target_kw=target, reserve_kw=50.0,
                         answer=Script(np.random.default_rng(seed + 1), sites, 0.1, 0.05))
    assert hier.messages["root"] > 2 * len(topo.children(topo.root))  # parts were sent
    assert hier.outcome.site_power_kw == flat.outcome.site_power_kw
    assert hier.outcome.site_reserve_kw == flat.outcome.site_reserve_kw
    assert hier.outcome.declined == flat.outcome.declined
    assert hier.outcome.silent == flat.outcome.silent


def _two_parts():
    sites = ["a", "b", "c", "d"]
    topo = build_topology(TopologySpec(regions=1), sites)
    first = AggregateBid(0, ["a", "b"], [0.0, 0.0], [0.0, 0.0], [0, 1], [0, 0], [5.0, 6.0],
                         [10.0, 20.0], more=True)
    return topo, first


def test_the_parent_waits_for_the_last_part_and_counts_what_it_leaves_out_silent():
    topo, first = _two_parts()
    gathering = BidGathering(topo.root, topo, 0)
    gathering.on_aggregate_bid("region-1", first)
    assert not gathering.done
    with pytest.raises(ProtocolError, match="'a', not in the subtree"):  # named again
        gathering.on_aggregate_bid("region-1", AggregateBid(0, ["a"], [0.0], [0.0], [], [],
                                                            [], []))
    book, silent, rejected = gathering.close()
    assert gathering.done and book.n_sites == 0 and silent == []
    assert [r.site for r in rejected] == ["a", "b", "c", "d"]  # the earlier part too

    gathering = BidGathering(topo.root, topo, 0)
    gathering.on_aggregate_bid("region-1", first)
    gathering.on_aggregate_bid("region-1", AggregateBid(0, ["c"], [1.0], [0.0], [0], [0],
                                                        [7.0], [15.0]))
    book, silent, rejected = gathering.close()
    assert book.sites == ["a", "b", "c"] and silent == ["d"] and rejected == []


def test_a_deadline_between_parts_leaves_the_whole_region_silent():
    topo, first = _two_parts()
    gathering = BidGathering(topo.root, topo, 0)
    gathering.on_aggregate_bid("region-1", first)
    gathering.on_deadline()
    book, silent, rejected = gathering.close()
    assert book.n_sites == 0 and silent == ["a", "b", "c", "d"] and rejected == []
    assert gathering.silent_children == ["region-1"]
