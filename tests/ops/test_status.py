"""``vpp status`` of a distributed run: a site whose process has not joined yet is
"waiting", one whose process was killed is "LOST", and counters print as integers."""

from __future__ import annotations

import json
import os
import signal

import pytest
from typer.testing import CliRunner
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs.cli import app
from vpp.runs.ops.status import scrape, status
from vpp.runs.placement.spawn import SiteGroup, SiteSpawner
from vpp.runs.runner import build_run
from vpp.runs.scenario import load

from tests.proc_helpers import alive, leftovers, listening_placement, small_scenario

pytestmark = pytest.mark.timeout(120)

FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)


def _cli(address: str, *extra: str):
    result = CliRunner().invoke(app, ["status", address, *extra], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _row(output: str, site: str) -> list[str]:
    """The cells of the sites table's row for ``site``."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if site in cells:
            return cells
    raise AssertionError(f"no row for {site} in\n{output}")


def test_status_says_waiting_before_a_site_joins_lost_after_and_counts_in_integers(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    scenario = load(path)
    names = scenario.site_names()
    first, rest = names[:5], names[5:]
    _, run = build_run(scenario, tmp_path / "run", scenario_path=path,
                       placement=listening_placement("tcp://127.0.0.1:*", settings=FAST))
    agg = run.fleet  # listening; no site has joined
    metrics = OpsMetrics()
    metrics.watch_host(agg.host)
    run.register_metrics(metrics)  # the negotiation's figures and the sites' membership
    address = f"tcp://127.0.0.1:{metrics.serve(0)}"
    spawner = SiteSpawner()
    try:
        # nobody has joined: every site is waiting, none is lost
        seen = status(scrape(address))
        assert [s["state"] for s in seen["sites"]] == ["waiting"] * len(names)
        assert metrics.value("vpp_sites_lost") == 0.0          # waiting is not lost
        assert seen["sites_by_state"] == {"waiting": len(names)} and seen["sites_up"] == 0
        assert seen["steps"] == 0 and type(seen["steps"]) is int
        assert seen["negotiation_rounds"] == 0 and type(seen["negotiation_rounds"]) is int
        assert all(type(v) is int for h in seen["hosts"].values() for v in h.values())
        shown = _cli(address)
        assert "LOST" not in shown and f"{len(names)} waiting of {len(names)}" in shown
        assert _row(shown, names[0])[2] == "waiting"
        assert _row(shown, "steps")[2] == "0"                  # not "0.0"
        # one process joins with five sites: they are up, the others still waiting
        spawner.start(scenario, str(path), [SiteGroup("sites-1", tuple(first))],
                      agg.endpoint, out_dir=tmp_path / "run", settings=FAST)
        assert agg.loop.run_until(lambda: agg.coordinator.joined() == set(first), 60.0)
        seen = status(scrape(address))
        state = {s["site"]: s["state"] for s in seen["sites"]}
        assert state == {**{s: "up" for s in first}, **{s: "waiting" for s in rest}}
        assert seen["sites_up"] == len(first)
        sent = seen["hosts"]["agg"]["sent"]
        assert type(sent) is int and sent == agg.host.stats.sent > 0
        as_json = json.loads(_cli(address, "--json"))
        assert as_json["hosts"]["agg"]["sent"] == sent and isinstance(as_json["steps"], int)
        # its process is killed: its sites are lost, the others still waiting
        os.kill(spawner.processes[0].pid, signal.SIGKILL)
        assert agg.loop.run_until(lambda: not agg.coordinator.joined(), 10.0)
        seen = status(scrape(address))
        state = {s["site"]: s["state"] for s in seen["sites"]}
        assert state == {**{s: "lost" for s in first}, **{s: "waiting" for s in rest}}
        assert metrics.value("vpp_sites_lost") == float(len(first))
        shown = _cli(address)
        assert _row(shown, first[0])[2] == "LOST" and _row(shown, rest[0])[2] == "waiting"
        assert f"{len(rest)} waiting, {len(first)} lost of {len(names)}" in shown
    finally:
        metrics.close()
        run.close()
        spawner.stop(grace_s=10.0)
    assert not alive([p.pid for p in spawner.processes]) and leftovers() == []
