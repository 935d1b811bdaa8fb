"""ADMM through regions with whole regions in site processes (``--processes N`` of an ADMM
scenario with ``topology:``): the one-process tables byte for byte; a region process
SIGKILLed mid-negotiation is named lost, its region dropped at the root's deadline, and
the run completes with the lost sites' energy unserved."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest
import yaml
from vpp.agents.membership.coordinator import LinkSettings
from vpp.coordination.hierarchy.topology import build_topology
from vpp.runs import api, modes
from vpp.runs.modes.base import RunContext
from vpp.runs.modes.hierarchy.admm import HierarchyAdmmRun
from vpp.runs.modes.hierarchy.admm_processes import AdmmSubtreeProcesses
from vpp.runs.runner import Runner
from vpp.runs.scenario import BUNDLED, ScenarioError, parse

from tests.proc_helpers import alive, leftovers

pytestmark = pytest.mark.timeout(180)

REGIONS = BUNDLED / "admm-regions.yaml"
FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_region_processes_give_the_one_process_tables(tmp_path):
    changes = {"steps": 6}
    procs = api.run(REGIONS, out=tmp_path / "procs", processes=2, changes=changes)
    one = api.run(REGIONS, out=tmp_path / "one", changes=changes)
    assert isinstance(procs.run, HierarchyAdmmRun) and procs.run.regions == {}
    assert procs.summary["placement"] == "processes" and procs.summary["lost_sites"] == []
    assert procs.summary["iterations"] == one.summary["iterations"] > 10
    # the root sums the same numbers in the same order wherever the regions run, so the
    # plan is the same to the bit, and so is what the devices ran
    for name in ("steps.csv", "sites.csv"):
        assert (tmp_path / "procs" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()
    assert procs.summary["cost_eur"] == one.summary["cost_eur"]
    assert procs.summary["negotiations"][0]["cost_eur"] == pytest.approx(
        one.summary["negotiations"][0]["cost_eur"], rel=1e-12)


def test_more_processes_than_regions_is_refused_naming_the_option(tmp_path):
    with pytest.raises(ScenarioError, match=r"--processes 3: .* has 2 under the root"):
        api.run(REGIONS, out=tmp_path / "run", processes=3, changes={"steps": 2})


def test_a_region_process_killed_mid_negotiation_is_lost_and_its_sites_unserved(tmp_path):
    data = yaml.safe_load(REGIONS.read_text())
    data["steps"] = 6
    data["admm"]["deadline_ms"] = 600
    scenario = parse(data, "admm-kill.yaml")
    tree = build_topology(scenario.topology, scenario.site_names())
    placement = AdmmSubtreeProcesses(tree, 2, settings=FAST)
    # the second process: the generation region and the bakery (right under the root,
    # last in fleet order, so with the last block)
    lost = [s for s in scenario.site_names() if placement.homes[s] == "regions-2"]
    assert placement.homes["generation"] == "regions-2"
    killed: dict[str, int] = {}

    def built(run) -> None:
        def kill_at_round_5() -> None:
            negotiation = run.aggregator.negotiation
            if negotiation is not None and negotiation.round >= 5:
                victim = placement.spawner.processes[1]
                os.kill(victim.pid, signal.SIGKILL)
                killed.update(pid=victim.pid, round=negotiation.round)
            else:
                run.fleet.host.call_later(0.005, kill_at_round_5)
        run.fleet.host.call_later(0.0, kill_at_round_5)

    context = RunContext(tmp_path / "run", scenario.seed, None, placement)
    result = Runner(modes.select(scenario), scenario, context, on_built=built).run()
    summary = result.summary
    assert killed["round"] >= 5
    assert summary["lost_sites"] == lost == ["pv-farm", "wind-park", "chp", "hydro", "bakery"]
    events = [(e["event"], e["host"], e["sites"]) for e in summary["liveness_events"]]
    assert ("lost", "regions-2", lost) in events
    assert summary["process_exit_codes"] == [0, -signal.SIGKILL]
    assert not alive([killed["pid"]]) and leftovers() == []
    # the root dropped the silent region, every site below it, and the bakery at its
    # deadline
    negotiation = summary["negotiations"][0]
    dropped = {a.rpartition("/")[2]: why for a, why in negotiation["dropped"].items()}
    assert set(dropped) == set(lost)
    assert all(why.startswith("region generation missed the deadline of round")
               for s, why in dropped.items() if s != "bakery")
    assert dropped["bakery"].startswith("missed the deadline of round")
    root = result.run.aggregator.results[-1]
    assert root.sites == 3  # the stores planned on
    # the run completed: every step delivered by the sites still up, none by the lost
    steps = _rows(tmp_path / "run" / "steps.csv")
    sites = _rows(tmp_path / "run" / "sites.csv")
    assert len(steps) == 6
    assert {r["site"] for r in sites} == set(scenario.site_names()) - set(lost)
    for k, row in enumerate(steps):
        mine = [r for r in sites if int(r["step"]) == k]
        served = sum(float(r["power_kw"]) for r in mine)
        assert float(row["served_kw"]) == pytest.approx(served, abs=1e-9)
        # the plan is the surviving sites' (the root's sum of their last schedules; each
        # site runs its exact device schedules, within the primal tolerance of those, as
        # in the flat run), the lost sites' share is unserved
        assert float(row["planned_kw"]) == pytest.approx(
            sum(float(r["planned_kw"]) for r in mine), abs=0.05)
        target = float(row["target_kw"])
        unserved = float(row["unserved_kw"])
        assert unserved == pytest.approx(max(abs(target) - abs(served), 0.0), abs=1e-9) or (
            unserved == 0.0 and abs(served - target) < 1.0)
    assert summary["unserved_kwh"] == pytest.approx(
        sum(float(r["unserved_kw"]) for r in steps) * scenario.dt_h)
    assert summary["unserved_kwh"] > 1.0
