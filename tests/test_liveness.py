"""Heartbeats both ways: a killed site is noticed, named, and rejoins; a site whose
aggregator is gone holds, goes local, and comes back without a crash loop."""

from __future__ import annotations

import os
import signal
import time

import pytest
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.membership.liveness import AggregatorWatch, LinkMode, PeerLiveness
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.placement.spawn import SiteGroup, SiteSpawner
from vpp.runs.runner import build_run, run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import AfterEachStep, alive, leftovers, small_scenario, wait_for

pytestmark = pytest.mark.timeout(120)

FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)


def test_peer_liveness_by_the_clock():
    live = PeerLiveness(timeout_s=1.5)
    live.seen("a", 0.0)
    live.seen("b", 0.0)
    live.seen("a", 1.0)
    assert live.expire(1.4) == []
    assert live.expire(1.6) == ["b"]  # b silent 1.6 s > 1.5 s; a only 0.6 s
    assert live.peers == ["a"] and not live.alive("b")
    assert live.expire(2.6) == ["a"]


def test_a_peer_allowed_longer_is_lost_only_after_its_own_timeout():
    live = PeerLiveness(timeout_s=1.5)
    assert live.allow("big", 4.0) == 4.0 and live.allow("small", 0.5) == 1.5  # never shorter
    assert live.timeout_of("big") == 4.0 and live.timeout_of("small") == 1.5
    for peer in ("big", "small", "plain"):
        live.seen(peer, 0.0)
    assert live.expire(1.6) == ["plain", "small"]
    assert live.expire(3.9) == [] and live.expire(4.1) == ["big"]
    live.forget("big")  # a host that leaves, then comes back with fewer sites
    assert live.timeout_of("big") == 1.5
    live.allow("big", 4.0)
    live.allow("big", 1.0)  # it rejoined with fewer sites: the link's timeout again
    assert live.timeout_of("big") == 1.5


def test_aggregator_watch_holds_then_goes_local():
    watch = AggregatorWatch(timeout_s=1.0, grace_s=5.0)
    assert watch.update(100.0) is LinkMode.JOINING  # never welcomed: no timers run
    watch.welcomed(0.0)
    assert watch.update(0.9) is LinkMode.JOINED
    assert watch.update(1.1) is LinkMode.HOLDING
    assert watch.update(5.9) is LinkMode.HOLDING
    assert watch.update(6.1) is LinkMode.LOCAL
    watch.seen(7.0)
    assert watch.update(7.5) is LinkMode.JOINED


def test_a_site_killed_mid_run_is_named_and_its_process_rejoins(tmp_path):
    path = small_scenario(tmp_path, steps=10, negotiation={"deadline_ms": 500, "max_rounds": 5})
    scenario = load(path)
    out = tmp_path / "run"
    names = scenario.site_names()
    groups = [SiteGroup("sites-1", tuple(names[:5])), SiteGroup("sites-2", tuple(names[5:10])),
              SiteGroup("sites-3", tuple(names[10:]))]
    spawner = SiteSpawner()
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", settings=FAST,
        on_listening=lambda endpoint: spawner.start(scenario, str(path), groups, endpoint,
                                                    out_dir=out, settings=FAST))
    killed_at = {}

    def progress(k):
        agg = placement.fleet
        victim = spawner.processes[1]
        if k == 3:  # steps 0-2 done with everyone: kill sites-2 without a word; step 3
            os.kill(victim.pid, signal.SIGKILL)  # then calls it while it is dead
            killed_at["s"] = time.monotonic()
        if k == 5:  # a new process for the same sites comes back
            spawner.start(scenario, str(path), groups[1:2], agg.endpoint, out_dir=out,
                          settings=FAST)
            agg.loop.run_until(lambda: len(agg.coordinator.joined()) == len(names), 30)

    try:
        result = run_scenario(scenario, out, scenario_path=path, placement=placement,
                              hooks=[AfterEachStep(progress)])
    finally:
        codes = spawner.stop(grace_s=10.0)
    summary, agg = result.summary, result.run.fleet
    victim = spawner.processes[1]
    pids = [p.pid for p in spawner.processes]
    assert not alive(pids) and leftovers() == []
    assert codes == [0, -signal.SIGKILL, 0, 0]

    lost = list(groups[1].sites)
    assert summary["lost_sites"] == lost
    # noticed within the stated bound: timeout + one heartbeat period (0.6 + 0.1 s)
    lost_at = next(e for e in agg.coordinator.events if e.event == "lost").at_s
    assert 0.6 <= lost_at - killed_at["s"] <= 0.7 + 0.3  # + slack on a loaded machine
    events = [(e["event"], e["host"]) for e in summary["liveness_events"]]
    assert ("lost", "sites-2") in events and ("rejoined", "sites-2") in events
    rejoined_at = next(e["step"] for e in summary["liveness_events"] if e["event"] == "rejoined")
    # lost sites are not called while gone, and are called again after the rejoin
    for k, acks in enumerate(agg.applied):
        present = set(lost) <= set(acks)
        assert present == (k < 3 or k >= rejoined_at), (k, sorted(acks))
    # the energy still balances every step without them
    for o in result.run.aggregator.outcomes:
        assert abs(o.served_kw) + o.unserved_kw == pytest.approx(abs(o.target_kw), abs=1e-6)

    reader = TraceReader(out)
    try:
        rows = [r for r in reader.rounds() if r["protocol"] == "liveness" and r["host"] == "agg"]
        lost_rows = [r["detail"] for r in rows if r["detail"]["event"] == "lost"]
        assert lost_rows == [{"event": "lost", "host": "sites-2", "sites": lost, "pid": victim.pid}]
        # step 3 called the dead sites: they are named silent in its row
        silent = reader.steps()[3]["silent"]
        assert sorted(s.split("/")[1] for s in silent) == sorted(lost)
    finally:
        reader.close()


def test_sites_hold_then_go_local_when_the_aggregator_is_gone_and_rejoin_later(tmp_path):
    path = small_scenario(tmp_path, steps=4)
    scenario = load(path)
    out = tmp_path / "run"
    names = scenario.site_names()
    spawner = SiteSpawner()
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", settings=FAST,
        on_listening=lambda endpoint: spawner.start(
            scenario, str(path), [SiteGroup("sites-1", tuple(names))], endpoint, out_dir=out,
            settings=FAST))
    second = None
    try:
        _, agg = build_run(scenario, out, scenario_path=path, placement=placement)
        endpoint = agg.fleet.endpoint
        agg.step(0)
        agg.close()  # the aggregator disappears without a Stop
        shard = out / "trace" / "sites-1.sqlite"

        def modes():
            reader = TraceReader(out)
            try:
                return [r["detail"]["event"] for r in reader.rounds()
                        if r["protocol"] == "liveness" and r["host"] == "sites-1"]
            finally:
                reader.close()

        # timeout 0.6 s then grace 0.6 s: holding, then local, each traced at once
        assert wait_for(lambda: modes()[-1:] == ["local"], 10), modes()
        assert modes() == ["joined", "holding", "local"]
        assert shard.exists() and spawner.processes[0].is_alive()  # no crash, no exit
        # an aggregator comes back at the same address: the site registers again
        _, second = build_run(scenario, tmp_path / "again", scenario_path=path,
                              placement=RemotePlacement(endpoint, settings=FAST))
        assert second.fleet.absent == []  # the sites it waited for came
        assert second.fleet.stop_sites("done") == []
    finally:
        if second is not None:
            second.close()
        codes = spawner.stop(grace_s=10.0)
    assert codes == [0] and leftovers() == []
    assert modes() == ["joined", "holding", "local", "joined"]


def test_sites_on_local_rules_answer_the_grid_frequency_alone(tmp_path, monkeypatch):
    """A site process given a frequency source (--frequency) ignores it while joined and
    holding; once local, each site answers it alone: a battery injects below nominal and
    absorbs above, its energy moving accordingly; loads are shed by the UFLS stages; PV and
    wind are curtailed above 50.2 Hz."""
    import threading

    from vpp.agents.kinds import default_registry
    from vpp.agents.runtime.agent import Agent
    from vpp.agents.runtime.host import Host
    from vpp.coordination.frequency.messages import FREQUENCY_TOPIC, FrequencySample
    from vpp.runs.placement.site_process import LocalFrequency, serve_sites

    monkeypatch.chdir(tmp_path)  # the site thread's trace goes to vpp-output/ here
    path = small_scenario(tmp_path, steps=4)
    scenario = load(path)
    grid_host = Host("grid", "tcp://127.0.0.1:*", pub_endpoint="tcp://127.0.0.1:*",
                     registry=default_registry())
    grid = grid_host.add(Agent("grid"))
    seq = [0]

    def publish(f_hz: float, n: int = 1) -> None:
        for _ in range(n):
            seq[0] += 1
            grid.publish(FREQUENCY_TOPIC, FrequencySample(seq[0], 0.1 * seq[0], f_hz, 0.0))
            grid_host.flush_out()
            time.sleep(0.01)

    hosts, results = [], []
    r, w = os.pipe()
    thread = threading.Thread(target=lambda: results.append(serve_sites(
        scenario, scenario.site_names(), placement.fleet.endpoint, settings=FAST,
        parent_fd=r, host_name="sites", on_host=hosts.append,
        frequency=LocalFrequency(grid_host.pub_endpoint, "ce-fcr", "de-ufls", "lfsm-o-50"))),
        daemon=True)
    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST,
                                on_listening=lambda endpoint: thread.start())
    agg = None
    try:
        _, agg = build_run(scenario, tmp_path / "run", scenario_path=path,
                           placement=placement)
        agg.step(0)
        host = hosts[0]
        link = host.agents["link"]
        publish(49.8, 5)                  # joined: nobody answers the frequency
        assert not [n for n in host.agents if n.endswith(".frequency")]
        agg.close()                       # the aggregator disappears without a Stop
        assert wait_for(lambda: link.mode.value == "local", 10)
        assert wait_for(lambda: [n for n in host.agents if n.endswith(".frequency")], 5)
        every = {n.removesuffix(".frequency"): a for n, a in host.agents.items()
                 if n.endswith(".frequency")}
        agents = [a for a in every.values() if a.battery is not None]
        batteries = [d.model for s in link.sites for d in s.devices
                     if type(d.model).__name__ == "Battery"]
        assert len(agents) == len({id(b) for b in batteries}) > 0
        # the default scenario's bakery: 80 kW of ovens (curtailable); PV farm and wind park
        assert every["bakery"].battery is None and every["bakery"].rule.sheddable_kw == 80.0
        renewable = [every[n].rule for n in ("pv-farm", "wind-park")]
        assert all(r.sheddable_kw == 0.0 for r in renewable)
        assert sum(r.renewable_kw for r in renewable) > 0.0
        before = [a.battery.energy_kwh for a in agents]
        end = time.monotonic() + 10
        while time.monotonic() < end and not all(a.setpoint_kw > 0 for a in agents):
            publish(49.8)                 # 200 mHz low: full activation, injecting
        publish(49.8, 5)
        for a, e0 in zip(agents, before):
            assert a.setpoint_kw == pytest.approx(a.battery.params.p_discharge_max_kw)
            assert a.battery.energy_kwh < e0
        assert every["bakery"].rule.shed_kw == 0.0   # above de-ufls' first stage (49.0 Hz)
        publish(48.9, 5)                  # below it for 0.5 s (> its 0.1 s delay)
        assert every["bakery"].rule.stages_tripped == [1]
        assert every["bakery"].rule.shed_kw == pytest.approx(0.125 * 80.0)
        low = [a.battery.energy_kwh for a in agents]
        publish(50.45, 6)                 # 450 mHz high: absorbing; LFSM-O curtails
        for a, e1 in zip(agents, low):
            assert a.setpoint_kw < 0 and a.battery.energy_kwh > e1
        for r in renewable:               # 0.4 per Hz of the output at 50.2 Hz: 10 %
            assert r.curtailed_kw == pytest.approx(0.4 * 0.25 * r.renewable_kw)
        assert thread.is_alive()          # no crash, no exit
    finally:
        if agg is not None:
            agg.close()
        os.close(w)
        if thread.is_alive():
            thread.join(10)
        grid_host.close()
    assert results[0].exit_code == 3 and results[0].modes == ["joined", "holding", "local"]


def test_local_frequency_presets_are_checked_by_option_and_nominal():
    from vpp.runs.placement.site_process import LocalFrequency

    assert LocalFrequency("ipc://f", "ercot-ffr", "ercot-ufls", "lfsm-o-60").f0_hz == 60.0
    with pytest.raises(ValueError, match=r"--frequency-service: unknown service 'fcr'"):
        LocalFrequency("ipc://f", "fcr")
    with pytest.raises(ValueError, match=r"--frequency-shedding: preset 'de-ufls' is for "
                                         r"50 Hz grids, the grid is 60 Hz"):
        LocalFrequency("ipc://f", "ercot-ffr", "de-ufls")
    with pytest.raises(ValueError, match=r"--frequency-curtailment: unknown curtailment "
                                         r"preset 'lfsm'"):
        LocalFrequency("ipc://f", "ce-fcr", None, "lfsm")
