"""ADMM with its sites in processes: the one-process plan and delivery, one merged trace,
and a site process killed mid-negotiation dropped at the deadline and named, its sites
planned again from the next window once a new process serves them."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import vpp
import yaml
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.modes.admm.mode import AdmmRun
from vpp.runs.placement.processes import ProcessesPlacement
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.placement.spawn import deal
from vpp.runs.runner import build_run, run_scenario
from vpp.runs.scenario import BUNDLED, load

from tests.proc_helpers import leftovers, start_site, stop_all

pytestmark = pytest.mark.timeout(180)

STEPS = 8
WINDOW = 4


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory):
    """The bundled ADMM scenario cut to 8 steps, replanned every 4 (two negotiations)."""
    data = yaml.safe_load((BUNDLED / "admm.yaml").read_text())
    data["steps"] = STEPS
    data["admm"]["window_steps"] = WINDOW
    path = tmp_path_factory.mktemp("scenario") / "admm-small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def one_process(scenario_path, tmp_path_factory):
    result = run_scenario(load(scenario_path), tmp_path_factory.mktemp("local"),
                          scenario_path=scenario_path)
    assert isinstance(result.run, AdmmRun)
    return result.run, result.summary, result.out_dir


def test_four_site_processes_give_the_one_process_plan_and_delivery(
        scenario_path, one_process, tmp_path):
    model, local, local_dir = one_process
    out = tmp_path / "run"
    remote = run_scenario(load(scenario_path), out, scenario_path=scenario_path,
                          placement=ProcessesPlacement(4)).summary
    assert leftovers() == []
    assert remote["process_exit_codes"] == [0, 0, 0, 0]
    assert remote["processes"] == 4 and remote["lost_sites"] == []
    assert remote["dropped"] == 0 and remote["dropped_sites"] == {}

    # the same negotiations: converged, same iterations, same cost
    assert len(remote["negotiations"]) == len(local["negotiations"]) == STEPS // WINDOW
    for a, b in zip(local["negotiations"], remote["negotiations"]):
        assert b["converged"] and a["converged"]
        assert b["iterations"] == a["iterations"]
        assert b["cost_eur"] == pytest.approx(a["cost_eur"], rel=1e-9, abs=1e-9)
    assert remote["iterations"] == local["iterations"]
    # the same delivery, step by step: what the site processes acknowledged running
    for key in ("target_kwh", "planned_kwh", "served_kwh", "unserved_kwh", "cost_eur",
                "plan_deviation_kwh", "max_battery_energy_gap_kwh"):
        assert remote[key] == pytest.approx(local[key], rel=1e-9, abs=1e-9), key
    frame = vpp.open_run(local_dir).sites
    reader = TraceReader(out)
    try:
        assert reader.shards == ["agg", "sites-1", "sites-2", "sites-3", "sites-4"]
        steps = reader.steps()
        assert [s["step"] for s in steps] == list(range(STEPS))
        for rec, row in zip(model.records, steps):
            assert row["served_kw"] == pytest.approx(rec["served_kw"], abs=1e-9)
            assert row["target_kw"] == pytest.approx(rec["target_kw"], abs=1e-12)
        # every ADMM iteration is a round row of the aggregator's shard
        admm_rows = [r for r in reader.rounds() if r["protocol"] == "admm"]
        assert len(admm_rows) == local["iterations"]
        # every AdmmSchedule a site process sent reached the aggregator
        sent = reader.messages(kind="AdmmSchedule", direction="send")
        received = reader.messages(kind="AdmmSchedule", direction="recv")
        assert len(sent) == len(received) == 8 * local["iterations"]
        assert {r.host for r in sent} == {"sites-1", "sites-2", "sites-3", "sites-4"}
    finally:
        reader.close()
    # each site's acknowledged power equals what the same site ran in one process
    import csv

    with open(out / "sites.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == STEPS * 8
    for row in rows:
        ran = frame[frame["step"] == int(row["step"])].set_index("site")["power_kw"]
        assert float(row["power_kw"]) == pytest.approx(ran[row["site"]], abs=1e-9)


def test_a_site_process_killed_mid_negotiation_is_dropped_named_and_rejoins_next_window(
        scenario_path, tmp_path):
    scenario = load(scenario_path)
    out = tmp_path / "run"
    groups = deal(scenario.site_names(), 4)
    procs = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", join_timeout_s=60,
        on_listening=lambda endpoint: procs.extend(
            start_site(scenario_path, endpoint, list(g.sites), out, "--insecure",
                       "--host-name", g.host) for g in groups))
    killed_sites = sorted(groups[1].sites)
    killed_at: list[int] = []
    agg = None

    def kill_at_round_5() -> None:
        negotiation = agg.aggregator.negotiation
        if negotiation is not None and negotiation.round >= 5:
            victim.send_signal(signal.SIGKILL)
            killed_at.append(negotiation.round)
        else:
            agg.fleet.host.call_later(0.005, kill_at_round_5)

    try:
        _, agg = build_run(scenario, out, scenario_path=scenario_path, placement=placement)
        assert isinstance(agg, AdmmRun)
        victim = procs[1]
        agg.fleet.host.call_later(0.0, kill_at_round_5)
        for k in range(agg.steps):
            if k == WINDOW:
                # before the second window: the loss is declared, then a new process
                # serves the killed sites under the same host name
                assert agg.fleet.loop.run_until(lambda: agg.fleet.coordinator.lost_sites(), 10)
                procs.append(start_site(scenario_path, agg.fleet.endpoint, killed_sites, out,
                                        "--insecure", "--host-name", groups[1].host))
                assert agg.fleet.loop.run_until(
                    lambda: len(agg.fleet.coordinator.joined()) == len(scenario.site_names()),
                    30)
            agg.step(k)
        summary = agg.summary()  # the sites are told to stop
    finally:
        if agg is not None:
            agg.close()
        stop_all(procs)
    assert leftovers() == []
    assert victim.returncode == -signal.SIGKILL
    assert [p.returncode for p in procs if p is not victim] == [0, 0, 0, 0]
    assert killed_at and killed_at[0] >= 5

    first = agg.negotiations[0][2]
    # dropped at a round's deadline, named with why
    assert sorted(first.dropped) == [f"{groups[1].host}/{s}" for s in killed_sites]
    assert all("deadline" in why for why in first.dropped.values()), first.dropped
    assert sorted(summary["dropped_sites"]) == sorted(first.dropped)
    assert summary["lost_sites"] == [s for s in scenario.site_names() if s in killed_sites]
    # the coupling re-targeted over the others: their plan meets the target
    assert first.converged
    planned = np.sum(list(first.schedules_kw.values()), axis=0)
    assert planned == pytest.approx(agg.targets[:WINDOW], abs=0.05)
    assert not any(s.split("/")[1] in killed_sites for s in first.schedules_kw)
    # the second window plans every site again, the rejoined ones included, to the target
    second = agg.negotiations[1][2]
    assert second.converged and second.dropped == {}
    assert sorted(s.split("/")[1] for s in second.schedules_kw) == sorted(scenario.site_names())
    planned = np.sum(list(second.schedules_kw.values()), axis=0)
    assert planned == pytest.approx(agg.targets[WINDOW:2 * WINDOW], abs=0.05)
    events = [(e["event"], e["host"]) for e in summary["liveness_events"]]
    assert ("lost", groups[1].host) in events and ("rejoined", groups[1].host) in events
    # the first window's steps acknowledged by the six live sites, the second's by all
    everyone = set(scenario.site_names())
    assert [set(acks) for acks in agg.fleet.applied] == (
        [everyone - set(killed_sites)] * WINDOW + [everyone] * WINDOW)
    reader = TraceReader(out)
    try:
        lost = [r for r in reader.rounds() if r["protocol"] == "liveness"
                and (r["detail"] or {}).get("event") == "lost"]
        assert [r["detail"]["host"] for r in lost] == [groups[1].host]
        assert sorted(lost[0]["detail"]["sites"]) == killed_sites
        assert len(reader.steps()) == STEPS
    finally:
        reader.close()


def test_vpp_aggregator_refuses_hot_reload_of_an_admm_run(tmp_path):
    from typer.testing import CliRunner
    from vpp.runs.cli import app

    result = CliRunner().invoke(app, ["aggregator", str(BUNDLED / "admm.yaml"), "--bind",
                                      "tcp://127.0.0.1:0", "--insecure", "--watch",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "--watch" in result.output and "ADMM" in result.output
    assert not (tmp_path / "run").exists()
