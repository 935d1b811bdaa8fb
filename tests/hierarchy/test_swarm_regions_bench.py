"""``vpp bench swarm --regions R``: the hierarchical swarm's figures, and a ``flat_equal``
that is computed (a flat auction on the recorded bids), so a wrong dispatch says False."""

from __future__ import annotations

import json

from typer.testing import CliRunner
from vpp.runs.bench import swarm_regions
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.cli import app
from vpp.runs.runner import build_run
from vpp.runs.scenario import parse


def test_the_cli_prints_the_hierarchical_figures():
    result = CliRunner().invoke(app, ["bench", "swarm", "--sites", "24", "--steps", "3",
                                      "--regions", "4", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert {"sites", "regions", "wall_s", "messages", "messages_per_s", "peak_rss_mb",
            "dropped", "flat_equal", "direct_allocation_s", "overhead_ratio"} <= set(got)
    assert (got["sites"], got["regions"], got["steps"]) == (24, 4, 3)
    assert got["flat_equal"] is True and got["dropped"] == 0 and got["silent_site_steps"] == 0
    # per step: a call, a bid, an award, an answer per site, the dispatch to each site;
    # and the regions' own four messages each way per round
    assert got["messages"] >= 3 * (24 * 4 + 4 * 4)


def test_flat_equal_is_false_when_the_dispatch_differs(tmp_path):
    data = bench_scenario(12, 2)
    data["topology"] = {"regions": 3}
    mode, model = build_run(parse(data, "<test>"), tmp_path)
    try:
        assert mode.name == "merit_hierarchy"
        tap = swarm_regions.SiteTap(model.sites)
        model.step(0)
        assert len(tap.bids) == 12 and swarm_regions.flat_equal(model, tap, 0)
        outcome = model.aggregator.outcomes[-1]
        site = next(s for s, p in outcome.site_power_kw.items() if p != 0.0)
        outcome.site_power_kw[site] += 1e-9
        assert not swarm_regions.flat_equal(model, tap, 0)
    finally:
        model.close()


def test_the_trace_gives_back_the_bids_and_answers_the_sites_sent(tmp_path):
    """What the bench reads from the trace with --processes is what the sites sent (seen
    here by the tap of a one-process run)."""
    data = bench_scenario(12, 3)
    data["topology"] = {"regions": 3}
    _, model = build_run(parse(data, "<test>"), tmp_path)
    try:
        tap = swarm_regions.SiteTap(model.sites)
        sent = []
        for k in range(3):
            tap.clear()
            model.step(k)
            sent.append((dict(tap.bids), {s: list(a) for s, a in tap.answers.items()}))
        model.fleet.trace.flush()
        taps, messages = swarm_regions.traced_steps(str(tmp_path), 3)
        for k, traced in enumerate(taps):
            assert traced.bids == sent[k][0] and len(traced.bids) == 12
            assert dict(traced.answers) == sent[k][1]
            assert swarm_regions.flat_equal_at(model, traced, k)
        assert messages == sum(h.stats.sent for h in model.fleet.hosts)
    finally:
        model.close()


def test_regions_in_processes_are_checked_from_what_the_root_received():
    got = swarm_regions.run(24, 2, 4, processes=2, trace="rounds")
    assert (got["processes"], got["dropped"], got["flat_equal"]) == (2, 0, True)
    assert (got["flat_check"], got["flat_checked_steps"], got["trace"]) == ("root", "all",
                                                                           "rounds")
    assert got["silent_site_steps"] == 0 and got["deadline_ms"] == 2000
    assert got["messages"] >= 2 * (24 * 4 + 4 * 4)


def test_the_deadlines_grow_with_the_sites_of_a_process():
    assert swarm_regions.process_timing(1000, 2) == {"deadline_ms": 2000,
                                                    "link_timeout_ms": 1500, "ack_ms": 500}
    assert swarm_regions.process_timing(100_000, 2) == {"deadline_ms": 10_000,
                                                       "link_timeout_ms": 10_000,
                                                       "ack_ms": 5000}
