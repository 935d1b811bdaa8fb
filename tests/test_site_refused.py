"""A refused site says so (issue #19, finding 7): `vpp site` with a key the aggregator
does not admit exits 2 with the reason within 10 s (it waited for ever before); a site on
local rules can be told to exit after a while; the frequency feed can run over CURVE."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import zmq
from typer.testing import CliRunner
from vpp.agents.kinds import default_registry
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.curve import publish_securely, subscriber_setup
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.security import load_public, load_secret
from vpp.coordination.frequency.messages import FREQUENCY_TOPIC, FrequencySample
from vpp.runs.cli import app
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.placement.site_process import EXIT_LOCAL_TOO_LONG, serve_sites
from vpp.runs.runner import build_run
from vpp.runs.scenario import load

from tests.proc_helpers import ROOT, leftovers, small_scenario, start_site, stop_all

pytestmark = pytest.mark.timeout(90)
FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)
runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_site_whose_key_is_not_admitted_exits_2_with_the_reason_within_10_s(tmp_path):
    keys = tmp_path / "keys"
    for name in ("agg", "site", "stranger"):
        assert runner.invoke(app, ["keys", "new", name, "--dir", str(keys)]).exit_code == 0
    assert runner.invoke(app, ["keys", "allow", str(keys / "site.key"), "--any-site",
                               "--allow-dir", str(keys / "allowed")]).exit_code == 0
    path = small_scenario(tmp_path, steps=1)
    port = _free_port()
    agg = subprocess.Popen(
        [sys.executable, "-m", "vpp.runs.cli", "aggregator", str(path), "--bind",
         f"tcp://127.0.0.1:{port}", "--key", str(keys / "agg.key_secret"), "--allow-dir",
         str(keys / "allowed"), "--out", str(tmp_path / "run"), "--join-timeout-s", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sites = []
    try:
        assert b"aggregator listening" in agg.stdout.readline()  # the site finds it there
        for extra in (["--key", str(keys / "stranger.key_secret"),   # not admitted
                       "--server-key", str(keys / "agg.key")],
                      ["--key", str(keys / "site.key_secret"),       # the wrong server key
                       "--server-key", str(keys / "stranger.key")]):
            t0 = time.monotonic()
            site = start_site(path, f"tcp://127.0.0.1:{port}", [], tmp_path / "site-run",
                              *extra)
            sites.append(site)
            site.wait(timeout=20)
            sites[-1] = (site, time.monotonic() - t0)
    finally:
        agg.terminate()
        stop_all([agg] + [s[0] if isinstance(s, tuple) else s for s in sites])
    (refused, refused_s), (wrong, wrong_s) = sites
    err = " ".join(refused.stderr.read().decode().split())
    assert refused.returncode == 2 and refused_s < 10.0, err
    assert "refused: the aggregator refused this key (not in its allow-list)" in err
    assert "Traceback" not in err
    err = " ".join(wrong.stderr.read().decode().split())
    assert wrong.returncode == 2 and wrong_s < 10.0, err
    assert "refused: the CURVE handshake failed" in err


def test_a_site_on_local_rules_exits_after_local_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = small_scenario(tmp_path, steps=2)
    scenario = load(path)
    results = []
    threads = []

    def listening(endpoint):
        thread = threading.Thread(target=lambda: results.append(serve_sites(
            scenario, scenario.site_names(), endpoint, settings=FAST, host_name="north",
            out_dir=tmp_path / "run", local_for_s=0.5)), daemon=True)
        thread.start()
        threads.append(thread)

    _, agg = build_run(scenario, tmp_path / "run", scenario_path=path,
                       placement=RemotePlacement("tcp://127.0.0.1:*", settings=FAST,
                                                 on_listening=listening))
    try:
        agg.step(0)
    finally:
        agg.close()  # gone without a Stop: holding 0.6 s after 0.6 s, then local 0.5 s
    thread = threads[0]
    t0 = time.monotonic()
    thread.join(15)
    assert not thread.is_alive()
    result = results[0]
    assert result.exit_code == EXIT_LOCAL_TOO_LONG == 4
    assert result.modes == ["joined", "holding", "local"]
    assert result.reason == "on local rules for 0.5 s (--local-for): no aggregator"
    assert time.monotonic() - t0 < 10
    assert leftovers() == []


def test_the_frequency_feed_over_curve_reaches_only_subscribers_with_its_key(tmp_path):
    keys = tmp_path / "keys"
    for name in ("grid", "other"):
        assert runner.invoke(app, ["keys", "new", name, "--dir", str(keys)]).exit_code == 0
    context = zmq.Context()
    grid_host = Host("grid", "inproc://grid", pub_endpoint="inproc://grid-pub",
                     context=context, registry=default_registry())
    grid = grid_host.add(Agent("grid"))
    endpoint = publish_securely(grid_host, "tcp://127.0.0.1:*",
                                *load_secret(keys / "grid.key_secret"))
    heard: dict[str, list] = {}
    hosts = []
    for name, setup in (("keyed", subscriber_setup(load_public(keys / "grid.key"))),
                        ("plain", None),
                        ("wrong", subscriber_setup(load_public(keys / "other.key")))):
        host = Host(name, f"inproc://{name}", context=context, registry=default_registry())
        if setup is not None:
            setup(host.sub)
        host.hear(endpoint)
        listener = host.add(Agent("meter"))
        heard[name] = []
        listener.on(FrequencySample, lambda env, s, n=name: heard[n].append(s.f_hz))
        host.subscribe(listener, FREQUENCY_TOPIC)
        hosts.append(host)
    loop = EventLoop(grid_host, *hosts)
    try:
        deadline = time.monotonic() + 10
        seq = 0
        while time.monotonic() < deadline and len(heard["keyed"]) < 5:
            seq += 1
            grid.publish(FREQUENCY_TOPIC, FrequencySample(seq, 0.1 * seq, 49.9, 0.0))
            loop.run_once(0.05)
        for _ in range(10):
            loop.run_once(0.02)
    finally:
        for host in (grid_host, *hosts):
            host.close()
        context.term()
    assert len(heard["keyed"]) >= 5 and set(heard["keyed"]) == {49.9}
    assert heard["plain"] == [] and heard["wrong"] == []


def test_site_options_are_checked(tmp_path):
    path = small_scenario(tmp_path, steps=1)
    result = runner.invoke(app, ["site", str(path), "--connect", "ipc://x", "--local-for",
                                 "0"])
    assert result.exit_code == 2 and "--local-for: a positive number" in result.output
    result = runner.invoke(app, ["site", str(path), "--connect", "ipc://x",
                                 "--frequency-key", str(tmp_path / "none.key")])
    assert result.exit_code == 2 and "--frequency-key: give the feed too" in result.output
    result = runner.invoke(app, ["site", str(path), "--connect", "ipc://x", "--frequency",
                                 "ipc://f", "--frequency-key", str(tmp_path / "none.key")])
    assert result.exit_code == 2 and "--frequency-key:" in result.output
    assert os.path.exists(tmp_path) and leftovers() == []


def test_a_frequency_rig_publishes_over_curve_with_the_same_closed_loop(tmp_path):
    """The grid publisher given its keys (FrequencyRig pub_keys, tcp): its sites hear the
    samples over CURVE and the closed loop is the plaintext one, sample for sample."""
    from vpp.agents.frequency.grid import SwingSource
    from vpp.agents.frequency.site import FrequencySiteAgent
    from vpp.coordination.frequency import presets
    from vpp.coordination.frequency.rule import SiteFrequencyRule
    from vpp.physics.battery import Battery, BatteryParams
    from vpp.physics.frequency import GridParams, LossOfInfeed
    from vpp.runs.modes.grid_event.rig import FrequencyRig

    made = runner.invoke(app, ["keys", "new", "grid", "--dir", str(tmp_path / "k")])
    assert made.exit_code == 0
    keys = load_secret(tmp_path / "k" / "grid.key_secret")
    params = GridParams(f0_hz=50.0, inertia_h_s=4.0, s_base_mw=1000.0,
                        events=(LossOfInfeed(1.05, 60.0),))

    def sites():
        out = []
        for i in range(3):
            rule = SiteFrequencyRule(f0_hz=50.0, service=presets.service("gb-dc", 50.0),
                                     contracted_kw=2000.0)
            battery = Battery(BatteryParams(capacity_kwh=2000.0, p_charge_max_kw=2000.0,
                                            p_discharge_max_kw=2000.0))
            out.append(FrequencySiteAgent(f"bess-{i}", rule, grid="grid/grid",
                                          aggregator="grid/aggregator", battery=battery))
        return out

    timelines = {}
    for label, pub_keys in (("plain", None), ("curve", keys)):
        rig = FrequencyRig(SwingSource(params), sites(), sample_period_s=0.1,
                           transport="tcp", pub_keys=pub_keys)
        try:
            if pub_keys is not None:
                assert rig.secure_pub_endpoint.startswith("tcp://127.0.0.1:")
            timelines[label] = rig.run(5.0).timeline
        finally:
            rig.close()
    curve, plain = timelines["curve"], timelines["plain"]
    assert len(curve) == len(plain) == 51
    assert [r.f_hz for r in curve] == pytest.approx([r.f_hz for r in plain], abs=1e-12)
    # the batteries answered the under-frequency over the CURVE feed, as over plaintext
    assert [r.vpp_kw for r in curve] == pytest.approx([r.vpp_kw for r in plain], abs=1e-9)
    assert max(r.vpp_kw for r in curve) > 0.0
