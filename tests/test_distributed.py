"""Sites in their own processes over TCP loopback: the one-process answer, one trace."""

from __future__ import annotations

import numpy as np
import pytest
import vpp
import yaml
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import leftovers, small_scenario, start_site, stop_all

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory):
    return small_scenario(tmp_path_factory.mktemp("scenario"), steps=4)


@pytest.fixture(scope="module")
def one_process_result(scenario_path, tmp_path_factory):
    return run_scenario(load(scenario_path), tmp_path_factory.mktemp("local"),
                        scenario_path=scenario_path)


@pytest.fixture(scope="module")
def one_process(one_process_result):
    return one_process_result.run


def _groups(names, n):
    return [list(g) for g in np.array_split(names, n)]


def test_four_site_processes_over_tcp_give_the_one_process_dispatch(
        scenario_path, one_process, one_process_result, tmp_path):
    scenario = load(scenario_path)
    out = tmp_path / "run"
    procs = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", join_timeout_s=60,
        on_listening=lambda endpoint: procs.extend(
            start_site(scenario_path, endpoint, group, out, "--insecure")
            for group in _groups(scenario.site_names(), 4)))
    try:
        agg = run_scenario(scenario, out, scenario_path=scenario_path,
                           placement=placement)
    finally:
        stop_all(procs)
    summary, agg = agg.summary, agg.run
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [p.stderr.read() for p in procs]
    assert leftovers() == []
    assert summary["processes"] == 4 and summary["lost_sites"] == []
    assert summary["unstopped_hosts"] == [] and summary["dropped"] == 0

    # the same negotiation outcome, step by step and site by site
    local = one_process.aggregator.outcomes
    remote = agg.aggregator.outcomes
    assert len(remote) == len(local) == 4
    for a, b in zip(local, remote):
        assert b.served_kw == pytest.approx(a.served_kw, abs=1e-9)
        assert b.unserved_kw == pytest.approx(a.unserved_kw, abs=1e-9)
        assert b.marginal_price_eur_mwh == a.marginal_price_eur_mwh
        assert b.cost_eur == pytest.approx(a.cost_eur, abs=1e-9)
        assert b.rounds == a.rounds
        assert {k.split("/")[1] for k in b.declined} == {k.split("/")[1] for k in a.declined}
        by_name = {k.split("/")[1]: v for k, v in b.site_power_kw.items()}
        assert by_name == pytest.approx({k.split("/")[1]: v for k, v in a.site_power_kw.items()})
    # what each site process ran (its acknowledgement) equals what the local site ran
    frame = vpp.open_run(one_process_result.out_dir).sites
    for k, acks in enumerate(agg.fleet.applied):
        assert set(acks) == set(scenario.site_names())
        ran = frame[frame["step"] == k].set_index("site")["power_kw"]
        for name, ack in acks.items():
            assert ack.power_kw == pytest.approx(ran[name], abs=1e-9)

    # one trace from five shards: every Bid a site process sent, the aggregator received
    reader = TraceReader(out)
    try:
        assert reader.shards == sorted(["agg", "site-chp-north", "site-diesel-backup",
                                        "site-heat-pumps", "site-pv-farm"])
        sent = reader.messages(kind="Bid", direction="send")
        received = reader.messages(kind="Bid", direction="recv")
        assert len(sent) == len(received) == 4 * len(scenario.site_names())
        assert {r.host for r in sent} == set(reader.shards) - {"agg"}
        assert {r.host for r in received} == {"agg"}
        # each step's outcome once to each of the 4 site hosts' links, acknowledged by
        # each host in one batch holding its sites' Applied (no per-site message)
        cleared = reader.messages(kind="StepCleared", direction="recv")
        assert {r.receiver for r in cleared} == {f"{h}/link" for h in reader.shards
                                                  if h != "agg"}
        assert len(cleared) >= 4 * 4
        batches = reader.messages(kind="AppliedBatch", direction="recv")
        assert {r.host for r in batches} == {"agg"}
        for k in range(4):
            acked = [s for r in batches if r.body["step"] == k for s in r.body["sites"]]
            assert sorted(set(acked)) == sorted(scenario.site_names())
        assert reader.messages(kind="Applied", direction="recv") == []
        assert len(reader.steps()) == 4
    finally:
        reader.close()


def _write_site_file(path, scenario_path, names, change=None):
    """A site owner's file: the scenario's entries for ``names``, copied as written."""
    sites = [s for s in yaml.safe_load(scenario_path.read_text())["sites"] if s["name"] in names]
    if change is not None:
        change(sites)
    path.write_text(yaml.safe_dump({"sites": sites}))
    return path


def test_a_site_file_of_its_own_joins_and_gives_the_one_process_dispatch(
        scenario_path, one_process, tmp_path):
    """One process serves half the sites from the scenario, another the other half from a
    site file of its own (the scenario comes from the aggregator); a third, whose site
    file says its battery is larger than the aggregator's scenario does, is refused with
    the field and both values and never joins."""
    scenario = load(scenario_path)
    names = scenario.site_names()
    first, second = names[: len(names) // 2], names[len(names) // 2:]
    mine = _write_site_file(tmp_path / "mine.yaml", scenario_path, second)
    raw = yaml.safe_load(scenario_path.read_text())["sites"]
    site = next(s for s in raw if any(d["type"] == "battery" for d in s["devices"]))
    j = next(j for j, d in enumerate(site["devices"]) if d["type"] == "battery")
    capacity = float(site["devices"][j]["capacity_kwh"])

    def bigger(sites):
        sites[0]["devices"][j]["capacity_kwh"] = 2 * capacity

    wrong = _write_site_file(tmp_path / "wrong.yaml", scenario_path, [site["name"]], bigger)
    out = tmp_path / "run"
    procs = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", join_timeout_s=60,
        on_listening=lambda endpoint: procs.extend([
            start_site(scenario_path, endpoint, first, out, "--insecure"),
            start_site(mine, endpoint, [], out, "--insecure", "--host-name", "owner"),
            start_site(wrong, endpoint, [], out, "--insecure", "--host-name", "wrong")]))
    try:
        agg = run_scenario(scenario, out, scenario_path=scenario_path,
                           placement=placement)
    finally:
        stop_all(procs)
    summary, agg = agg.summary, agg.run
    errors = [p.stderr.read().decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 2], errors
    assert leftovers() == []
    assert f"at `$.sites[0].devices[{j}].capacity_kwh`" in errors[2]
    assert repr(2 * capacity) in errors[2] and repr(capacity) in errors[2]
    assert summary["processes"] == 2 and summary["lost_sites"] == []
    assert summary["refused_registrations"] == 0      # the wrong one never registered
    for a, b in zip(one_process.aggregator.outcomes, agg.aggregator.outcomes, strict=True):
        assert b.served_kw == pytest.approx(a.served_kw, abs=1e-9)
        assert b.cost_eur == pytest.approx(a.cost_eur, abs=1e-9)
        by_name = {k.split("/")[1]: v for k, v in b.site_power_kw.items()}
        assert by_name == pytest.approx({k.split("/")[1]: v for k, v in a.site_power_kw.items()})
    joined = {e.host: e.sites for e in agg.fleet.coordinator.events if e.event == "joined"}
    assert joined == {f"site-{first[0]}": first, "owner": second}
