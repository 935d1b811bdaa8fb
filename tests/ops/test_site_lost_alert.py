"""A killed site process raises a "site lost" alert at a local webhook within the
heartbeat timeout; the alert clears when a new process for the site rejoins."""

from __future__ import annotations

import os
import signal
import time

import pytest
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.ops.agent import OpsAgent
from vpp.agents.ops.alerts import AlertRule, AlertsSpec
from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs.ops.alerting import AlertMonitor
from vpp.runs.ops.status import scrape, status
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.placement.spawn import SiteGroup, SiteSpawner
from vpp.runs.runner import build_run
from vpp.runs.scenario import load

from tests.ops.webhook import Receiver
from tests.proc_helpers import alive, leftovers, small_scenario

pytestmark = pytest.mark.timeout(120)

FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)
EVERY_S = 0.05


def test_a_killed_site_raises_site_lost_at_the_webhook_and_clears_on_rejoin(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    scenario = load(path)
    out = tmp_path / "run"
    names = scenario.site_names()
    groups = [SiteGroup("sites-1", tuple(names[:7])), SiteGroup("sites-2", tuple(names[7:]))]
    receiver = Receiver()
    spawner = SiteSpawner()
    added = []

    def listening(endpoint):
        added.append(placement.fleet.host.add(OpsAgent()))
        spawner.start(scenario, str(path), groups, endpoint, out_dir=out, settings=FAST)

    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST, on_listening=listening)
    spec = AlertsSpec(rules=[AlertRule(name="site-lost", metric="vpp_site_up", op="<",
                                       threshold=1.0, severity="critical",
                                       message="site process lost (no heartbeat)")],
                      webhook=receiver.url, evaluate_every_s=EVERY_S)
    lost = set(groups[1].sites)
    run = monitor = metrics = None
    try:
        _, run = build_run(scenario, out, scenario_path=path, placement=placement)
        agg, (ops,) = run.fleet, added
        victim = spawner.processes[1]
        metrics = OpsMetrics()
        metrics.watch_host(agg.host)
        run.register_metrics(metrics)
        monitor = AlertMonitor(spec, metrics, ops=ops, host="agg")
        monitor.start(agg.host)
        agg.loop.run_for(0.3)
        assert receiver.bodies() == []                        # everyone is up: no alert
        os.kill(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        firing = lambda: {b["subject"] for b in receiver.bodies("firing")}
        assert agg.loop.run_until(lambda: firing() >= {f"site={s}" for s in lost}, 10.0)
        arrived = max(t for t, b in receiver.received if b["status"] == "firing")
        # within the heartbeat timeout + one heartbeat + one evaluation (+ slack, loaded CI);
        # not before the timeout counted from the last answer, up to a period before the kill
        bound = (FAST.timeout_ms + FAST.heartbeat_ms) / 1000 + EVERY_S
        earliest = (FAST.timeout_ms - FAST.heartbeat_ms) / 1000
        assert earliest <= arrived - killed <= bound + 0.5
        assert firing() == {f"site={s}" for s in lost}         # only the killed ones
        # vpp status reads the same over the metrics endpoint
        port = metrics.serve(0)
        seen = status(scrape(f"tcp://127.0.0.1:{port}"))
        down = {x["site"] for x in seen["sites"] if not x["up"]}
        assert down == lost and seen["sites_up"] == len(names) - len(lost)
        up = [x for x in seen["sites"] if x["up"]]
        assert {x["host"] for x in up} == {"sites-1"}
        assert all(0.0 <= x["heartbeat_age_s"] <= FAST.timeout_ms / 1000 for x in up)
        assert seen["alerts_firing"] == {"site-lost": float(len(lost))}
        assert seen["hosts"]["agg"]["sent"] == agg.host.stats.sent
        body = receiver.bodies("firing")[0]
        assert body["rule"] == "site-lost" and body["value"] == 0.0
        assert body["severity"] == "critical" and body["host"] == "agg"
        # a new process for the same sites comes back: the alerts clear
        spawner.start(scenario, str(path), groups[1:], agg.endpoint, out_dir=out,
                      settings=FAST)
        resolved = lambda: {b["subject"] for b in receiver.bodies("resolved")}
        assert agg.loop.run_until(lambda: resolved() >= {f"site={s}" for s in lost}, 30.0)
        assert resolved() == firing()
        assert monitor.engine.firing == []
        assert [type(a).__name__ for a in ops.announced].count("AlertRaised") == len(lost)
        agg.stop_sites("test over")
    finally:
        if monitor is not None:
            monitor.close()
        if metrics is not None:
            metrics.close()
        if run is not None:
            run.close()
        spawner.stop(grace_s=10.0)
        receiver.close()
    assert not alive([p.pid for p in spawner.processes]) and leftovers() == []
