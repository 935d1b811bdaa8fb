"""`vpp bench admm --regions R [--processes P]`: the figures it reports are the
negotiation's, in one process and with whole regions in processes over TCP."""

from __future__ import annotations

import pytest
from vpp.runs.bench import admm_regions
from vpp.runs.bench.admm_regions_procs import deal_regions


def test_regions_in_processes_negotiate_what_one_process_does():
    local = admm_regions.run(sites=12, regions=3, horizon=12, seed=4, flat=True)
    spread = admm_regions.run(sites=12, regions=3, horizon=12, seed=4, processes=2)
    assert local["converged"] and spread["converged"]
    # the flat negotiation of the same instance: the same iterations and cost
    assert local["iterations"] == local["flat_iterations"]
    assert local["flat_cost_rel_diff"] < 1e-12
    # in processes over TCP: the same iterations and cost, every message delivered
    assert spread["iterations"] == local["iterations"]
    assert spread["cost_admm_eur"] == pytest.approx(local["cost_admm_eur"], rel=1e-9)
    assert spread["dropped"] == local["dropped"] == 0
    assert spread["clean_exit"] and spread["processes_reported"] == 2
    # per iteration: 3 RegionalRound, 12 AdmmRound, 12 AdmmSchedule, 3 RegionalSums;
    # at the end 3 RegionalDone and 12 AdmmDone
    assert local["messages"] == 30 * local["iterations"] + 15
    # both against the centralized optimum, computed in the same run
    assert abs(local["gap"]) < 1e-3 and abs(spread["gap"]) < 1e-3
    assert local["cost_centralized_eur"] == spread["cost_centralized_eur"]


def test_regions_are_dealt_in_blocks_and_a_bad_count_is_named():
    assert deal_regions(["a", "b", "c"], 2) == [("a", "b"), ("c",)]
    with pytest.raises(ValueError, match="--processes"):
        deal_regions(["a", "b"], 3)
    with pytest.raises(ValueError, match="--regions"):
        admm_regions.run(sites=4, regions=5)
