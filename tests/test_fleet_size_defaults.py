"""A large fleet on the defaults: link timings scaled to a process's sites, a summary that
names a lost region process's 50,000 sites in one cell, and a large scenario file read
without the garbage collector walking its millions of nodes."""

from __future__ import annotations

import gc
import json
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from vpp.agents.membership.coordinator import LinkSettings
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.modes.admm.mode import ADMM_SITE_CALL_MS, AdmmMode
from vpp.runs.modes.base import RunContext, names_cell, phase_deadline_ms
from vpp.runs.modes.hierarchy.merit_processes import SubtreeProcesses
from vpp.runs.modes.merit_order.mode import MeritOrderMode
from vpp.runs.placement.processes import ProcessesPlacement
from vpp.runs.placement.remote import RemoteFleet
from vpp.runs.placement.spawn import deal
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import BUNDLED, parse
from vpp.runs.scenario.limits import Limits
from vpp.runs.scenario.yaml_bounds import YamlError, _measure, _measure_tree, read_yaml

MERIT = RunContext.site_call_ms          # the merit order's allowance a site: 0.2 ms

# -- link timings ----------------------------------------------------------------------


def test_a_small_host_keeps_the_default_timings_and_a_large_one_gets_more():
    assert LinkSettings.for_host(1, MERIT) == LinkSettings()
    assert LinkSettings.for_host(5_000, MERIT) == LinkSettings()       # 500 ms / 0.1 ms a site
    big = LinkSettings.for_host(50_000, MERIT)
    assert (big.timeout_ms, big.ack_ms) == (10_000, 5_000)
    assert (big.heartbeat_ms, big.grace_s) == (LinkSettings().heartbeat_ms,
                                               LinkSettings().grace_s)
    sizes = [1, 100, 7_500, 7_501, 20_000, 50_000, 100_000]
    timeouts = [LinkSettings.for_host(n, MERIT).timeout_ms for n in sizes]
    assert timeouts == sorted(timeouts) and timeouts[-1] == 20_000


def test_processes_take_the_largest_groups_timings_unless_asked():
    names = [f"s{i}" for i in range(60_001)]
    placement = ProcessesPlacement(3)
    placement.settle(deal(names, 3), MERIT)                # 20,001 + 20,000 + 20,000
    assert placement.settings == LinkSettings.for_host(20_001, MERIT)
    assert placement.settings.timeout_ms == 4_000
    asked = LinkSettings(timeout_ms=900, ack_ms=300)
    fixed = ProcessesPlacement(3, settings=asked)
    fixed.settle(deal(names, 3), MERIT)
    assert fixed.settings is asked


def test_a_subtree_placement_scales_to_its_own_largest_process():
    names = [f"s{i}" for i in range(30_000)]
    tree = build_topology(TopologySpec(regions=3), names)   # 10,000 sites a region
    placement = SubtreeProcesses.replacing(ProcessesPlacement(2), tree)
    sizes = sorted(len(g.sites) for g in placement.groups)
    assert sizes == [10_000, 20_000]
    placement.settle(placement.groups, MERIT)                       # as it does when it opens
    assert placement.settings == LinkSettings.for_host(20_000, MERIT)
    asked = LinkSettings(timeout_ms=900)
    kept = SubtreeProcesses.replacing(ProcessesPlacement(2, settings=asked), tree)
    kept.settle(kept.groups, MERIT)
    assert kept.settings is asked


# -- the summary's names ---------------------------------------------------------------


def test_names_cell_shows_a_few_and_counts_the_rest():
    assert names_cell([]) == "none"
    assert names_cell(["a", "b"]) == "a, b"
    ten = [f"site-{i}" for i in range(10)]
    assert names_cell(ten) == ", ".join(ten)
    many = [f"site-{i}" for i in range(50_000, 100_000)]
    cell = names_cell(many)
    assert cell.startswith("site-50000, site-50001, ") and "site-50010" not in cell
    assert "site-50009 and 49,990 more (50,000 in all" in cell
    assert len(cell) < 200


def test_the_summary_table_does_not_print_every_lost_site(tmp_path):
    result = run_scenario(parse(bench_scenario(3, 2), "<small>"), tmp_path / "run")
    summary = dict(result.summary, lost_sites=[f"site-{i}" for i in range(50_000)])
    rows = dict(MeritOrderMode().summary_rows(summary))
    assert rows["sites lost"] == names_cell(summary["lost_sites"])
    assert "49,990 more" in rows["sites lost"]
    assert dict(MeritOrderMode().summary_rows(dict(summary, lost_sites=[])))[
        "sites lost"] == "none"


def test_the_admm_summary_names_a_few_dropped_and_lost_sites():
    summary = {"sites": 30, "steps": 1, "negotiations": [{"converged": True}],
               "iterations": 1, "planned_kwh": 1.0, "target_kwh": 1.0, "served_kwh": 1.0, "unserved_kwh": 0.0,
               "max_target_gap_kw": 0.0, "plan_deviation_kwh": 0.0, "coupling": "target",
               "cost_eur": 1.0, "dropped_sites": {f"s{i}": 1 for i in range(12)},
               "messages": 3, "dropped": 0, "lost_sites": [f"s{i}" for i in range(30)]}
    rows = dict(AdmmMode().summary_rows(summary))
    assert rows["sites dropped"].startswith("s0 (1), s1 (1), ")
    assert rows["sites dropped"].endswith("and 2 more (12 in all; every name in summary.json)")
    assert "and 20 more" in rows["sites lost"]


# -- a large scenario file -------------------------------------------------------------


def _random_yaml(rng: random.Random, depth: int) -> object:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice([1, 2.5, "x", None, True])
    if rng.random() < 0.5:
        return [_random_yaml(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}": _random_yaml(rng, depth - 1) for i in range(rng.randint(0, 4))}


def _shape(node) -> tuple[int, int]:
    """(nodes, depth) of a composed document, counted the plain recursive way."""
    if isinstance(node, yaml.SequenceNode):
        kids = node.value
    elif isinstance(node, yaml.MappingNode):
        kids = [part for pair in node.value for part in pair]
    else:
        return 1, 1
    shapes = [_shape(k) for k in kids]
    return 1 + sum(s for s, _ in shapes), 1 + max((d for _, d in shapes), default=0)


@pytest.mark.parametrize("seed", range(40))
def test_the_tree_walk_refuses_exactly_what_the_alias_walk_refuses(seed):
    rng = random.Random(seed)
    text = yaml.safe_dump({"root": _random_yaml(rng, 7)})
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    nodes, depth = _shape(node)
    for cap_nodes, cap_depth in [(nodes, depth), (nodes - 1, depth), (nodes, depth - 1)]:
        limits = Limits(max_yaml_nodes=cap_nodes, max_yaml_depth=cap_depth)
        verdicts = []
        for walk in (_measure, _measure_tree):
            try:
                walk(node, Path("s.yaml"), limits)
                verdicts.append(None)
            except YamlError as exc:
                verdicts.append("deeper" if "nested deeper" in str(exc) else "nodes")
        expected = (None if (cap_nodes, cap_depth) == (nodes, depth) else
                    "nodes" if cap_nodes < nodes else "deeper")
        assert verdicts == [expected, expected], (cap_nodes, cap_depth, nodes, depth)


def test_a_file_without_aliases_reads_as_before_and_leaves_the_collector_as_it_was(tmp_path):
    data = {"name": "q", "stars": "a * in a string sends it the alias walk",
            "sites": [{"name": f"s{i}", "devices": [{"p": float(i)}]} for i in range(200)]}
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "stars"}))
    starred = tmp_path / "starred.yaml"
    starred.write_text(yaml.safe_dump(data))
    assert gc.isenabled()
    assert read_yaml(plain) == {k: v for k, v in data.items() if k != "stars"}
    assert read_yaml(starred) == data
    assert gc.isenabled()
    gc.disable()
    try:
        assert read_yaml(plain)["sites"][199] == {"name": "s199", "devices": [{"p": 199.0}]}
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_too_many_nodes_without_aliases_names_the_cap(tmp_path):
    path = tmp_path / "wide.yaml"
    path.write_text(yaml.safe_dump({"a": list(range(50))}))   # 1 + 2 + 50 nodes
    assert read_yaml(path, limits=Limits(max_yaml_nodes=53)) == {"a": list(range(50))}
    with pytest.raises(YamlError, match=r"more than 52 YAML nodes \(the cap; VPP_MAX_YAML_NODES"):
        read_yaml(path, limits=Limits(max_yaml_nodes=52))


# -- the negotiation's deadline --------------------------------------------------------


class _Fleet:
    def __init__(self, floor_ms: int) -> None:
        self.floor_ms = floor_ms

    def deadline_floor_ms(self) -> int:
        return self.floor_ms


def test_a_deadline_below_the_fleets_floor_is_raised_and_said(tmp_path, caplog):
    context = RunContext(tmp_path, 0, None, None)
    assert phase_deadline_ms(2000, _Fleet(1999), context) == 2000
    assert phase_deadline_ms(2000, _Fleet(0), context) == 2000
    assert context.meta == {} and not caplog.records
    assert phase_deadline_ms(2000, _Fleet(10_000), context) == 10_000
    assert context.meta["deadline_ms"]["scenario"] == 2000
    assert context.meta["deadline_ms"]["used"] == 10_000
    assert context.meta["deadline_ms"]["field"] == "negotiation.deadline_ms"
    assert "at 0.2 ms a site" in context.meta["deadline_ms"]["why"]
    assert "negotiation.deadline_ms 2000 is shorter" in caplog.text
    assert "the run uses 10000 ms" in caplog.text


def test_a_remote_fleets_floor_is_its_largest_hosts_sites_at_the_runs_allowance():
    members = {"a": SimpleNamespace(sites=["s"] * 50_000), "b": SimpleNamespace(sites=["s"])}
    fleet = SimpleNamespace(coordinator=SimpleNamespace(members=members), site_call_ms=0.2)
    assert RemoteFleet.deadline_floor_ms(fleet) == 10_000
    fleet.site_call_ms = ADMM_SITE_CALL_MS
    assert RemoteFleet.deadline_floor_ms(fleet) == 100_000
    fleet.coordinator.members = {}
    assert RemoteFleet.deadline_floor_ms(fleet) == 0


def test_an_admm_host_gets_the_admm_allowance():
    assert LinkSettings.for_host(5_000, ADMM_SITE_CALL_MS).timeout_ms == 10_000
    assert LinkSettings.for_host(5_000, MERIT).timeout_ms == LinkSettings().timeout_ms
    placement = ProcessesPlacement(2)
    placement.settle(deal([f"s{i}" for i in range(10_000)], 2), ADMM_SITE_CALL_MS)
    assert placement.settings.timeout_ms == 10_000 and placement.settings.ack_ms == 500


def test_an_admm_run_in_site_processes_raises_its_round_deadline(tmp_path):
    data = yaml.safe_load((BUNDLED / "admm.yaml").read_text())
    data["admm"]["deadline_ms"] = 5                            # 8 sites need 16 ms
    result = run_scenario(parse(data, "<admm>"), tmp_path / "run",
                          scenario_path=BUNDLED / "admm.yaml", placement=ProcessesPlacement(1))
    assert result.run.admm.deadline_ms == 8 * ADMM_SITE_CALL_MS == 16
    # the coordinator gives a joining host ADMM's allowance a site too (its silence)
    assert result.run.fleet.coordinator.site_call_ms == ADMM_SITE_CALL_MS
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["details"]["deadline_ms"]["field"] == "admm.deadline_ms"
    assert manifest["details"]["deadline_ms"]["used"] == 16


def test_a_site_process_run_takes_the_raised_deadline_and_records_it(tmp_path):
    data = bench_scenario(300, 2)
    data["negotiation"] = {"deadline_ms": 50}                # 300 sites need 60 ms
    result = run_scenario(parse(data, "<processes>"), tmp_path / "run",
                          placement=ProcessesPlacement(1))
    assert result.run.aggregator.deadline_ms == 60
    assert result.run.fleet.coordinator.site_call_ms == MERIT
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["details"]["deadline_ms"]["scenario"] == 50
    assert manifest["details"]["deadline_ms"]["used"] == 60
    local = run_scenario(parse(data, "<local>"), tmp_path / "local")
    assert local.run.aggregator.deadline_ms == 50           # simulated time waits for sites
    assert "deadline_ms" not in json.loads(
        (tmp_path / "local" / "manifest.json").read_text())["details"]
