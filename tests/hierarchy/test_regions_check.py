"""The bench's flat check from what the root receives (``runs/bench/regions_check.py``):
the bids rebuilt from the regions' curves are the sites' own, and the flat auction replayed
from the regions' answers (declines and silence, by round) gives the hierarchy's dispatch;
a wrong dispatch or a wrong round says False."""

from __future__ import annotations

import numpy as np
import pytest
from vpp.coordination.hierarchy import merit_driver
from vpp.coordination.hierarchy.merit_driver import run_flat_step, run_step
from vpp.coordination.hierarchy.merit_root import PortfolioAuction
from vpp.coordination.merit_order.messages import Award
from vpp.runs.bench import regions_check, swarm_regions
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.runner import build_run
from vpp.runs.scenario import parse

from tests.hierarchy.fleets import Script, random_bids, random_topology


def test_the_sample_of_steps_checked():
    assert regions_check.checked_steps(1000, 96) == list(range(96))
    assert regions_check.checked_steps(100_000, 96) == [0, 14, 27, 41, 54, 68, 81, 95]
    assert regions_check.checked_steps(100_000, 5) == [0, 1, 2, 3, 4]


def _seen_by_root(monkeypatch) -> regions_check.StepSeen:
    """What a driven step's root state machine is handed, recorded as the bench's tap
    records what the root agent receives."""
    seen = regions_check.StepSeen()
    for name in ("on_bid", "on_aggregate_bid", "on_accept", "on_decline", "on_region_answer"):
        original = getattr(PortfolioAuction, name)

        def wrapped(self, sender, body, _original=original):
            regions_check.RootTap._record(seen, sender, body, self.round)
            return _original(self, sender, body)

        monkeypatch.setattr(PortfolioAuction, name, wrapped)
    award_round = PortfolioAuction._award_round

    def awarding(self):
        out = award_round(self)
        seen.awarded.update({o.receiver: o.round for o in out if isinstance(o.body, Award)})
        return out

    monkeypatch.setattr(PortfolioAuction, "_award_round", awarding)
    return seen


@pytest.mark.parametrize("seed", range(12))
def test_the_replay_from_the_root_equals_the_hierarchy_and_the_flat_run(monkeypatch, seed):
    rng = np.random.default_rng(seed)
    sites = [f"s{i:02d}" for i in range(30)]
    topo = random_topology(rng, sites)
    bids = random_bids(rng, sites)
    for s in sites[::7]:
        del bids[s]  # silent at the call
    target, reserve = float(rng.uniform(-200, 600)), float(rng.uniform(0, 80))
    seen = _seen_by_root(monkeypatch)
    hier = run_step(topo, bids, step=0, target_kw=target, reserve_kw=reserve,
                    answer=Script(np.random.default_rng(seed + 1), sites, 0.2, 0.1))
    monkeypatch.undo()
    assert merit_driver.PortfolioAuction.on_bid is PortfolioAuction.on_bid
    assert seen.bids == bids and not seen.unreplayable
    got = regions_check.flat_outcome(sites, seen, step=0, target_kw=target, reserve_kw=reserve,
                                     window_start_s=0.0, window_s=900.0, deadline_ms=2000,
                                     max_rounds=5)
    flat = run_flat_step(sites, bids, step=0, target_kw=target, reserve_kw=reserve,
                         answer=Script(np.random.default_rng(seed + 1), sites, 0.2, 0.1)).outcome
    for ref in (hier.outcome, flat):
        assert got.site_power_kw == ref.site_power_kw
        assert got.site_reserve_kw == ref.site_reserve_kw
        assert got.declined == ref.declined and got.silent == ref.silent
        assert got.rounds == ref.rounds


def test_a_decline_replayed_in_another_round_changes_the_dispatch(monkeypatch):
    """The round an answer names matters: the same decline a round late is not the run."""
    changed = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        sites = [f"s{i:02d}" for i in range(30)]
        topo = random_topology(rng, sites)
        bids = random_bids(rng, sites)
        seen = _seen_by_root(monkeypatch)
        run_step(topo, bids, step=0, target_kw=400.0, reserve_kw=20.0,
                 answer=Script(np.random.default_rng(seed + 1), sites, 0.3, 0.0))
        monkeypatch.undo()
        if not seen.out:
            continue
        args = {"step": 0, "target_kw": 400.0, "reserve_kw": 20.0, "window_start_s": 0.0,
                "window_s": 900.0, "deadline_ms": 2000, "max_rounds": 5}
        right = regions_check.flat_outcome(sites, seen, **args)
        seen.out = {s: (r + 1, d) for s, (r, d) in seen.out.items()}
        late = regions_check.flat_outcome(sites, seen, **args)
        changed += (late.declined != right.declined
                    or late.site_power_kw != right.site_power_kw)
    assert changed > 0


def test_the_root_tap_of_a_run_sees_the_sites_bids_and_checks_the_dispatch(tmp_path):
    data = bench_scenario(12, 2)
    data["topology"] = {"regions": 3}
    _, model = build_run(parse(data, "<test>"), tmp_path)
    try:
        sites = swarm_regions.SiteTap(model.sites)
        root = regions_check.RootTap(model.aggregator, [1])
        model.step(0)
        assert root.seen == {}  # step 0 is not to be checked
        sites.clear()
        model.step(1)
        seen = root.seen[1]
        assert seen.bids == sites.bids and len(seen.bids) == 12
        got = model.aggregator.outcomes[-1]
        assert regions_check.root_flat_equal(model, seen, 1, got)
        site = next(s for s, p in got.site_power_kw.items() if p != 0.0)
        got.site_power_kw[site] += 1e-9
        assert not regions_check.root_flat_equal(model, seen, 1, got)
        assert not regions_check.root_flat_equal(model, None, 1, got)
    finally:
        model.close()
