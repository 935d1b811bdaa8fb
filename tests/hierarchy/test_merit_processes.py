"""Whole regions in site processes (``--processes N`` of a scenario with ``topology:``):
the same tables as one process; a region process SIGKILLed mid-run is named lost, its
region silent and its sites' energy unserved, while the rest of the fleet keeps its
dispatch."""

from __future__ import annotations

import csv
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
import vpp.runs
from vpp.agents.membership.coordinator import LinkSettings
from vpp.coordination.hierarchy.topology import build_topology
from vpp.runs import api
from vpp.runs.modes.hierarchy.merit_processes import SubtreeProcesses, deal_subtrees
from vpp.runs.runner import AfterEachStep
from vpp.runs.scenario import parse

from tests.proc_helpers import alive, leftovers

pytestmark = pytest.mark.timeout(180)

FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)
SCENARIOS = Path(vpp.runs.__file__).parent / "scenarios"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_regions_dealt_whole_to_processes():
    data = {"name": "t", "start": "2019-01-16T00:00:00Z", "steps": 1,
            "target": {"values_kw": [1.0]},
            "sites": [{"name": f"s{i}", "devices": [{"type": "flexible", "name": "g",
                                                     "p_max_kw": 10, "cost_eur_mwh": 5}]}
                      for i in range(7)],
            "topology": {"regions": [{"name": "a", "sites": ["s0", "s1"]},
                                     {"name": "a2", "parent": "a", "sites": ["s2"]},
                                     {"name": "b", "sites": ["s4"]},
                                     {"name": "c", "sites": ["s5", "s6"]}],
                         "site_regions": {"s3": "portfolio"}}}
    scenario = parse(data, "<t>")
    tree = build_topology(scenario.topology, scenario.site_names())
    groups, homes = deal_subtrees(tree, 2)
    assert [(g.host, g.sites) for g in groups] == [
        ("regions-1", ("s0", "s1", "s2", "s3", "s4")), ("regions-2", ("s5", "s6"))]
    assert homes["a2"] == homes["a"] == homes["b"] == "regions-1" and homes["c"] == "regions-2"
    with pytest.raises(ValueError, match="--processes 4"):
        deal_subtrees(tree, 4)


def test_region_processes_give_the_one_process_tables(tmp_path):
    changes = {"steps": 6}
    api.run(SCENARIOS / "regions.yaml", out=tmp_path / "procs", processes=3, changes=changes)
    api.run(SCENARIOS / "regions.yaml", out=tmp_path / "one", changes=changes)
    for name in ("steps.csv", "sites.csv"):
        assert (tmp_path / "procs" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def _full_capacity_fleet(steps: int) -> dict:
    """Nine generators, every one needed: the target is the fleet's whole capacity."""
    p_max = [100.0 + 10 * i for i in range(9)]
    return {"name": "regions-kill", "seed": 1,
            "start": datetime(2019, 1, 16, tzinfo=UTC).isoformat(),
            "step_minutes": 15, "steps": steps,
            "target": {"values_kw": [sum(p_max)] * steps},
            "negotiation": {"deadline_ms": 400, "max_rounds": 3},
            "sites": [{"name": f"g{i}", "devices": [
                {"type": "flexible", "name": "gen", "p_max_kw": p,
                 "cost_eur_mwh": 20.0 + 5 * i}]} for i, p in enumerate(p_max)],
            "topology": {"regions": 3}}


def test_a_region_process_killed_mid_run_is_lost_and_its_sites_unserved(tmp_path):
    steps, kill_after = 8, 3
    scenario = parse(_full_capacity_fleet(steps), "<t>")
    tree = build_topology(scenario.topology, scenario.site_names())
    placement = SubtreeProcesses(tree, 3, settings=FAST)
    killed = {}

    def progress(done: int) -> None:
        if done == kill_after:  # steps 0-2 with everyone; then region-2's process dies
            victim = placement.spawner.processes[1]
            os.kill(victim.pid, signal.SIGKILL)
            killed["pid"] = victim.pid

    result = api.run(scenario, out=tmp_path / "run", placement=placement,
                     hooks=[AfterEachStep(progress)])
    summary = result.summary
    lost = ["g3", "g4", "g5"]
    assert tree.sites_under("region-2") == tuple(lost)
    assert summary["lost_sites"] == lost
    events = [(e["event"], e["host"], e["sites"]) for e in summary["liveness_events"]]
    assert ("lost", "regions-2", lost) in events
    assert summary["process_exit_codes"] == [0, -signal.SIGKILL, 0]
    assert not alive([killed["pid"]]) and leftovers() == []

    p_max = {f"g{i}": 100.0 + 10 * i for i in range(9)}
    rows = _rows(tmp_path / "run" / "steps.csv")
    sites = _rows(tmp_path / "run" / "sites.csv")
    for k, row in enumerate(rows):
        if k < kill_after:
            assert float(row["unserved_kw"]) == 0.0 and row["silent"] == ""
        else:  # the lost region's capacity is unserved
            assert float(row["unserved_kw"]) == pytest.approx(sum(p_max[s] for s in lost))
    # the step that called the dead region found it silent, and its sites; once they are
    # known lost they are not called (as the flat run does not call lost sites)
    called_dead = rows[kill_after]["silent"]
    if called_dead:  # (unless the loss was noticed before that step began)
        assert sorted(a.split("/")[1] for a in called_dead.split()) == lost
    assert summary["silent_regions"] == (["region-2"] if called_dead else [])
    assert all(row["silent"] == "" for row in rows[kill_after + 1:])
    # the rest of the fleet keeps its dispatch: every other site at its full output
    for row in sites:
        if row["site"] not in lost:
            assert float(row["power_kw"]) == p_max[row["site"]], row
    others = {r["site"] for r in sites if int(r["step"]) >= kill_after}
    assert others == set(p_max) - set(lost)
    # the energy balances every step
    for o in result.run.aggregator.outcomes:
        assert o.served_kw + o.unserved_kw == pytest.approx(o.target_kw)


def test_more_processes_than_regions_is_refused_naming_the_option(tmp_path):
    from vpp.runs.scenario import ScenarioError

    with pytest.raises(ScenarioError, match=r"--processes 4: .* has 3 under the root"):
        api.run(SCENARIOS / "regions.yaml", out=tmp_path / "run", processes=4,
                changes={"steps": 2})
