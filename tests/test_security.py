"""CURVE with an allow-list, --insecure for plaintext, keys never logged or traced,
malformed frames counted and dropped, a per-peer rate limit."""

from __future__ import annotations

import logging
import os
import threading

import msgspec
import pytest
import zmq
from typer.testing import CliRunner
from vpp.agents.kinds import default_registry
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.membership.messages import Heartbeat
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.security import (
    AllowList,
    RateLimiter,
    allowed_keys,
    allowed_names,
    client_setup,
    fingerprint,
    load_public,
    load_secret,
    server_setup,
)
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.cli import app
from vpp.runs.modes.base import RunContext
from vpp.runs.placement.remote import RemoteFleet, RemotePlacement
from vpp.runs.placement.site_process import serve_sites
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import leftovers, small_scenario

pytestmark = pytest.mark.timeout(60)
FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)
runner = CliRunner()


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    for name in ("agg", "site", "stranger"):
        result = runner.invoke(app, ["keys", "new", name, "--dir", str(d)])
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["keys", "allow", str(d / "site.key"), "--any-site",
                                 "--allow-dir", str(d / "allowed")])
    assert result.exit_code == 0, result.output
    return d


def test_keys_new_and_allow(keys):
    assert oct(os.stat(keys / "site.key_secret").st_mode & 0o777) == "0o600"
    assert allowed_keys(keys / "allowed") == {load_public(keys / "site.key")}
    refused = runner.invoke(app, ["keys", "allow", str(keys / "site.key_secret"),
                                  "--any-site", "--allow-dir", str(keys / "allowed")])
    assert refused.exit_code == 2 and "holds a secret key" in refused.output
    again = runner.invoke(app, ["keys", "new", "site", "--dir", str(keys)])
    assert again.exit_code == 2 and "not overwritten" in again.output


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Site threads without ``out_dir`` write ``vpp-output/`` where they run: here."""
    monkeypatch.chdir(tmp_path)


def _site_thread(scenario, names, endpoint, setup, host_name=None):
    """A site served from a thread; closing the returned pipe end stops it."""
    r, w = os.pipe()
    results = []
    thread = threading.Thread(target=lambda: results.append(serve_sites(
        scenario, names, endpoint, setup=setup, settings=FAST, parent_fd=r,
        host_name=host_name or f"site-{names[0]}")), daemon=True)
    thread.start()
    return thread, w, results


def test_curve_admits_the_allowed_key_and_refuses_a_stranger(tmp_path, keys, caplog):
    caplog.set_level(logging.DEBUG)
    path = small_scenario(tmp_path, steps=1)
    scenario = load(path)
    context = zmq.Context()
    allow_list = AllowList(context, allowed_keys(keys / "allowed")).start()
    agg_public, agg_secret = load_secret(keys / "agg.key_secret")
    names = scenario.site_names()
    started = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", listen_setup=server_setup(agg_public, agg_secret),
        settings=FAST, context=context, join_timeout_s=20,
        on_listening=lambda endpoint: started.extend([
            _site_thread(scenario, names[:1], endpoint,
                         client_setup(*load_secret(keys / "stranger.key_secret"), agg_public)),
            _site_thread(scenario, names, endpoint,
                         client_setup(*load_secret(keys / "site.key_secret"), agg_public))]))
    try:
        summary = run_scenario(scenario, tmp_path / "run", scenario_path=path,
                               placement=placement).summary
    finally:
        for thread, w, _ in started:
            os.close(w)
            thread.join(10)
        allow_list.stop()
        context.term()
    stranger, friend = started
    assert friend[2][0].exit_code == 0  # welcomed, ran the step, stopped
    assert not friend[0].is_alive() and not stranger[0].is_alive() and leftovers() == []
    # never welcomed: told at the handshake, it exits 2 saying why (it waited for ever before)
    assert stranger[2][0].exit_code == 2 and stranger[2][0].modes == []
    assert "refused this key (not in its allow-list)" in stranger[2][0].reason
    assert summary["steps"] == 1 and summary["processes"] == 1
    stranger_key = load_public(keys / "stranger.key")
    assert allow_list.refused[fingerprint(stranger_key)] >= 1
    # the refusal is logged by fingerprint; no key is ever logged or traced
    assert f"unknown key (fingerprint {fingerprint(stranger_key)})" in caplog.text
    all_keys = [load_public(keys / f"{n}.key").decode() for n in ("agg", "site", "stranger")]
    all_keys += [load_secret(keys / f"{n}.key_secret")[1].decode()
                 for n in ("agg", "site", "stranger")]
    reader = TraceReader(tmp_path / "run")
    try:
        traced = repr([m.as_dict() for m in reader.messages()]) + repr(reader.meta())
    finally:
        reader.close()
    for key in all_keys:
        assert key not in caplog.text and key not in traced


def test_a_key_admits_only_the_host_it_is_allowed_as(tmp_path, keys):
    """With identities bound, a site whose key is allowed as ``site`` cannot act as
    ``north``: everything it sends is dropped as spoofed, it is never welcomed; the host
    that holds north's key then joins as ``north`` and runs the step."""
    runner.invoke(app, ["keys", "new", "north", "--dir", str(keys)])
    runner.invoke(app, ["keys", "allow", str(keys / "north.key"), "--any-site",
                        "--allow-dir", str(keys / "allowed")])
    names = allowed_names(keys / "allowed")
    assert sorted(names.values()) == ["north", "site"]
    path = small_scenario(tmp_path, steps=1)
    scenario = load(path)
    context = zmq.Context()
    allow_list = AllowList(context, names).start()
    agg_public, agg_secret = load_secret(keys / "agg.key_secret")
    every = scenario.site_names()
    spoofer = north = spoofed = None

    def listening(endpoint):
        nonlocal spoofer, north, spoofed
        agg = placement.fleet
        spoofer = _site_thread(scenario, every, endpoint,
                               client_setup(*load_secret(keys / "site.key_secret"), agg_public),
                               host_name="north")
        spoofed = agg.loop.run_until(
            lambda: agg.host.stats.dropped["spoofed-sender"] >= 3, 10.0)
        os.close(spoofer[1])
        spoofer[0].join(10)
        north = _site_thread(scenario, every, endpoint,
                             client_setup(*load_secret(keys / "north.key_secret"), agg_public),
                             host_name="north")

    placement = RemotePlacement(
        "tcp://127.0.0.1:*", listen_setup=server_setup(agg_public, agg_secret),
        settings=FAST, context=context, join_timeout_s=20, bind_identities=True,
        on_listening=listening)
    try:
        summary = run_scenario(scenario, tmp_path / "run", scenario_path=path,
                               placement=placement).summary
    finally:
        if north is not None:
            os.close(north[1])
            north[0].join(10)
        allow_list.stop()
        context.term()
    agg = placement.fleet
    assert spoofed and agg.coordinator.refusals == 0
    assert spoofer[2][0].exit_code == 3 and spoofer[2][0].modes == []   # never welcomed
    assert north[2][0].exit_code == 0 and summary["steps"] == 1
    assert [(e.event, e.host) for e in agg.coordinator.events] == [("joined", "north"),
                                                                   ("stopped", "north")]
    assert leftovers() == []


@pytest.mark.parametrize("command", [
    ["aggregator", "{scenario}", "--bind", "tcp://127.0.0.1:0"],
    ["site", "{scenario}", "--connect", "tcp://127.0.0.1:1"],
])
def test_plaintext_tcp_needs_insecure(tmp_path, command):
    path = small_scenario(tmp_path, steps=1)
    result = runner.invoke(app, [c.format(scenario=path) for c in command])
    assert result.exit_code == 2
    assert "plaintext TCP needs --insecure" in result.output


def _frame(kind, body, sender, receiver):
    enc = msgspec.msgpack.Encoder()
    return enc.encode(Envelope(WIRE_VERSION, kind, sender, receiver, "", 0, 0.0,
                               msgspec.Raw(enc.encode(body))))


def test_malformed_frames_are_counted_and_dropped_and_the_aggregator_serves_on(tmp_path):
    path = small_scenario(tmp_path, steps=1)
    scenario = load(path)
    context = zmq.Context()
    evil = context.socket(zmq.DEALER)
    site = []

    def listening(endpoint):
        evil.setsockopt(zmq.IDENTITY, b"evil")
        evil.setsockopt(zmq.LINGER, 0)
        evil.connect(endpoint)
        good = _frame("Heartbeat", Heartbeat(1), "evil/x", "agg/coordinator")
        evil.send(b"\xc1 not msgpack")                                   # malformed-batch
        evil.send_multipart([b"a", b"b"])                                 # malformed-frames
        evil.send(b"\x91" + b"\x93\x01\x02\x03")                          # malformed-envelope
        evil.send(b"\x91" + _frame("Nope", Heartbeat(1), "evil/x", "agg/coordinator"))
        evil.send(b"\x91" + _frame("Heartbeat", Heartbeat(1), "mallory/x", "agg/coordinator"))
        evil.send(b"\x91" + good)                                        # not registered
        evil.send(b"\x91" + b"\xc4\x00" + b"x" * 10)                     # malformed-batch
        site.append(_site_thread(scenario, scenario.site_names(), endpoint, None))

    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST, join_timeout_s=20,
                                context=context, on_listening=listening)
    try:
        summary = run_scenario(scenario, tmp_path / "run", scenario_path=path,
                               placement=placement).summary
    finally:
        evil.close()
        for thread, w, _ in site:
            os.close(w)
            thread.join(10)
        context.term()
    thread, w, results = site[0]
    dropped = summary["dropped_by_reason"]
    assert dropped["malformed-batch"] == 2 and dropped["malformed-frames"] == 1
    assert dropped["malformed-envelope"] == 1 and dropped["unknown-kind"] == 1
    assert dropped["spoofed-sender"] == 1 and dropped["rejected"] == 1
    assert summary["steps"] == 1 and results[0].exit_code == 0  # and it served on


def test_rate_limiter_token_bucket():
    limiter = RateLimiter(rate_per_s=10, burst=3)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", 0.0)  # per peer
    assert not limiter.allow("a", 0.05)  # half a token back
    assert limiter.allow("a", 0.15)  # one whole token back
    assert limiter.limited["a"] == 2
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimiter(rate_per_s=0)


def test_a_flooding_peer_is_rate_limited_by_the_host():
    context = zmq.Context()
    host = Host("agg", "tcp://127.0.0.1:*", context=context, registry=default_registry(),
                limiter=RateLimiter(rate_per_s=0.001, burst=20))
    loop = EventLoop(host)
    flood = context.socket(zmq.DEALER)
    flood.setsockopt(zmq.IDENTITY, b"flood")
    flood.connect(host.endpoint)
    frame = _frame("Heartbeat", Heartbeat(1), "flood/x", "agg/nobody")
    flood.send(b"\xdc\x00\x64" + frame * 100)  # one batch of 100 envelopes
    loop.run_until(lambda: host.stats.dropped_total >= 100, 5)
    try:
        assert host.stats.dropped["rate-limited"] == 80
        assert host.stats.dropped["unknown-receiver"] == 20  # the burst got through
    finally:
        flood.close(linger=0)
        host.close()
        context.term()


def test_a_site_process_with_another_scenario_is_refused(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    scenario = load(path)
    (tmp_path / "other").mkdir()
    other = load(small_scenario(tmp_path / "other", steps=3))  # another horizon: refused
    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST)
    agg = RemoteFleet(scenario, RunContext(tmp_path / "run", scenario.seed, path, placement),
                      placement)  # listening; no run: the site is refused before joining
    thread, w, results = _site_thread(other, other.site_names()[:2], agg.endpoint, None)
    try:
        agg.loop.run_until(lambda: agg.coordinator.refusals >= 1, 20)
        thread.join(10)
    finally:
        agg.close()
        os.close(w)
    assert agg.coordinator.refusals == 1 and agg.coordinator.members == {}
    assert results[0].exit_code == 2
    assert results[0].reason.startswith("refused: the site process runs another scenario")


def test_the_commands_with_curve_join_a_site_under_its_key_name(tmp_path, keys):
    """``vpp aggregator --key --allow-dir`` and ``vpp site --key --server-key`` as
    processes: the site's host takes its key's name (site.key_secret: ``site``), which is
    the name the aggregator admits that key under; the run completes."""
    import json
    import socket
    import subprocess
    import sys

    from tests.proc_helpers import ROOT, start_site, stop_all

    path = small_scenario(tmp_path, steps=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    agg = subprocess.Popen(
        [sys.executable, "-m", "vpp.runs.cli", "aggregator", str(path),
         "--bind", f"tcp://127.0.0.1:{port}", "--key", str(keys / "agg.key_secret"),
         "--allow-dir", str(keys / "allowed"), "--out", str(out), "--join-timeout-s", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    site = start_site(path, f"tcp://127.0.0.1:{port}", [], out,
                      "--key", str(keys / "site.key_secret"),
                      "--server-key", str(keys / "agg.key"))
    try:
        agg.wait(timeout=40)
    finally:
        stop_all([agg, site])
    assert agg.returncode == 0, agg.stderr.read().decode()
    assert site.returncode == 0, site.stderr.read().decode()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 1 and summary["processes"] == 1
    assert summary["lost_sites"] == [] and summary["dropped"] == 0
    assert (out / "trace" / "site.sqlite").exists()
