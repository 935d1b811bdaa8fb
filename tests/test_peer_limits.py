"""Bounded resources per peer (#19, finding 3): a bounded peer table, malformed frames
charged to their sender's rate, drops logged as counts per interval, finite queues that
push back, a flood from one peer that costs a legitimate run no step, and a run whose
sites are all lost ending in an error."""

from __future__ import annotations

import logging
import os
import threading
import time

import msgspec
import pytest
import zmq
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.membership.messages import Heartbeat, distributed_registry
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import RECEIVE_HWM, Host
from vpp.agents.runtime.limits import DropLog, RateLimiter
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.modes.base import RunContext
from vpp.runs.placement.remote import DistributedError, RemoteFleet, RemotePlacement
from vpp.runs.placement.site_process import serve_sites
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import AfterEachStep, small_scenario

pytestmark = pytest.mark.timeout(120)
FAST = LinkSettings(heartbeat_ms=100, timeout_ms=600, ack_ms=200, grace_s=0.6)
enc = msgspec.msgpack.Encoder()


def _frame(kind, body, sender, receiver):
    return enc.encode(Envelope(WIRE_VERSION, kind, sender, receiver, "", 0, 0.0,
                               msgspec.Raw(enc.encode(body))))


def test_the_rate_limiters_peer_table_is_bounded_and_least_recent_goes_first():
    limiter = RateLimiter(rate_per_s=1.0, burst=2.0, max_peers=3)
    for peer in ("a", "b", "c"):
        assert limiter.allow(peer, 0.0)
    assert limiter.allow("a", 0.0)           # a: its second token; now the most recent
    assert not limiter.allow("a", 0.0)       # a: empty
    assert limiter.allow("d", 0.0)           # a fourth peer: b (least recent) is forgotten
    assert limiter.peers == 3
    assert limiter.allow("b", 0.0) and limiter.allow("b", 0.0)  # b starts anew: full burst
    assert not limiter.allow("a", 0.5)       # a was kept: half a token back only
    assert limiter.limited == {"a": 2} and limiter.limited_total == 2
    for i in range(1000):
        limiter.allow(f"p{i}", 0.0)
    assert limiter.peers == 3


def test_a_weighed_peer_gets_its_weight_times_the_rate_and_the_burst():
    limiter = RateLimiter(rate_per_s=10.0, burst=2.0, max_peers=2)
    limiter.weigh("big", 3.0)
    assert sum(limiter.allow("big", 0.0) for _ in range(10)) == 6   # a burst of 3 x 2
    assert sum(limiter.allow("small", 0.0) for _ in range(10)) == 2
    assert sum(limiter.allow("big", 0.1) for _ in range(10)) == 3   # 0.1 s at 3 x 10/s
    assert sum(limiter.allow("small", 0.1) for _ in range(10)) == 1
    limiter.weigh("big", 1.0)  # the host left: the plain rate again
    assert limiter.weight("big") == 1.0
    assert sum(limiter.allow("big", 0.5) for _ in range(10)) == 2   # the plain burst
    limiter.weigh("a", 2.0)
    limiter.weigh("b", 2.0)
    limiter.weigh("c", 2.0)  # past max_peers: not kept
    assert [limiter.weight(p) for p in "abc"] == [2.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="weight"):
        limiter.weigh("a", 0.5)


def test_drops_are_logged_as_one_line_per_reason_and_interval_with_counts(caplog):
    now = [0.0]
    drops = DropLog("host agg", logging.getLogger("test.drops"), clock=lambda: now[0],
                    trace_per_interval=10, max_sources=2, host="agg")
    caplog.set_level(logging.WARNING, logger="test.drops")
    traced = sum(drops.note("rate-limited", "rate-limited: 'evil'", "evil")
                 for _ in range(100_000))
    for who in ("x", "y", "z"):
        drops.note("malformed-batch", f"malformed-batch: from {who}", who)
    now[0] = 0.5
    drops.maybe_flush()
    assert caplog.records == []              # not yet: the interval is 1 s
    now[0] = 1.0
    drops.maybe_flush()
    lines = {r.reason: r for r in caplog.records}
    assert len(caplog.records) == 2 and traced == 10
    assert lines["rate-limited"].count == 100_000
    assert "dropped 100000 frame(s) in 1.0 s: rate-limited (top sources: 'evil' x100000)" \
        in lines["rate-limited"].getMessage()
    # two sources named, the third counted as others
    assert "'x' x1, 'y' x1, 'others' x1" in lines["malformed-batch"].getMessage()
    assert lines["malformed-batch"].host == "agg"
    assert drops.flush() == {} and len(caplog.records) == 2  # nothing new: nothing logged


def test_a_flood_of_bad_frames_is_a_few_log_lines_and_a_bounded_trace(context, registry,
                                                                      tmp_path, caplog):
    trace = TraceRecorder(shard_path(tmp_path, "b"), "b")
    host = Host("b", "inproc://pl-flood", context=context, registry=registry, trace=trace)
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"evil")
    raw.connect("inproc://pl-flood")
    caplog.set_level(logging.WARNING, logger="vpp.agents.runtime.host")
    t0 = time.perf_counter()
    for i in range(20_000):
        raw.send(b"\xc1 not msgpack")
        if i % 1000 == 999:
            while host.router.poll(0):
                host.drain(host.router)
    while host.router.poll(100):
        host.drain(host.router)
    took = time.perf_counter() - t0
    raw.close(linger=0)
    host.close()
    trace.close()
    assert host.stats.dropped == {"malformed-batch": 20_000}
    lines = [r for r in caplog.records if r.name == "vpp.agents.runtime.host"]
    # one line per second at most (the last at close), never one per drop
    assert 1 <= len(lines) <= took + 2 and sum(r.count for r in lines) == 20_000
    reader = TraceReader(tmp_path)
    drops = reader.messages(direction="drop")
    reader.close()
    per_line = host.drops.trace_per_interval
    assert len(drops) <= len(lines) * (per_line + 1)
    # what was not traced one by one is traced as its count
    sampled = [d.error for d in drops if d.error.startswith("sampled")]
    assert sum(int(e.split()[1]) for e in sampled) + len(drops) - len(sampled) == 20_000


def test_malformed_frames_count_against_their_senders_rate(context):
    host = Host("agg", "inproc://pl-rate", context=context, registry=distributed_registry(),
                limiter=RateLimiter(rate_per_s=0.001, burst=5))
    got = []
    agent = host.add(Agent("coordinator"))
    agent.on(Heartbeat, lambda env, hb: got.append(env.sender))
    socks = {}
    for name in ("evil", "good"):
        socks[name] = context.socket(zmq.DEALER)
        socks[name].setsockopt(zmq.IDENTITY, name.encode())
        socks[name].connect("inproc://pl-rate")
    for _ in range(10):
        socks["evil"].send(b"\xc1 garbage")
    for name in ("evil", "good"):
        socks[name].send(b"\x91" + _frame("Heartbeat", Heartbeat(1), f"{name}/x",
                                           "agg/coordinator"))
    loop = EventLoop(host)
    loop.run_until(lambda: host.stats.dropped_total >= 11 and got, 5.0)
    for sock in socks.values():
        sock.close(linger=0)
    host.close()
    # evil's burst went on garbage; its well-formed heartbeat after it is refused too
    assert host.stats.dropped == {"malformed-batch": 5, "rate-limited": 6}
    assert got == ["good/x"]


def test_a_peer_that_sends_without_pause_is_pushed_back(context, registry):
    """The host's receive queue is finite: a peer that never pauses is stopped by
    ZeroMQ's high-water marks and TCP, not by the host's memory (with RCVHWM=0, 200,000
    messages all went into the queue)."""
    host = Host("agg", "tcp://127.0.0.1:*", context=context, registry=registry)
    assert host.router.getsockopt(zmq.RCVHWM) == RECEIVE_HWM
    flood = context.socket(zmq.DEALER)
    flood.setsockopt(zmq.IDENTITY, b"flood")
    flood.setsockopt(zmq.LINGER, 0)
    flood.connect(host.endpoint)
    frame = b"\x91" + _frame("Heartbeat", Heartbeat(1), "flood/x", "agg/nobody")
    sent, blocked_at = 0, None
    end = time.monotonic() + 20
    while sent < 200_000 and time.monotonic() < end:
        try:
            flood.send(frame, zmq.NOBLOCK)
            sent += 1
        except zmq.Again:
            if blocked_at is None:
                blocked_at = sent
            time.sleep(0.01)
            if time.monotonic() > end - 15:
                break
    assert blocked_at is not None and blocked_at < 200_000
    read = 0
    while host.router.poll(200):
        read += host.drain(host.router)
    flood.close()
    host.close()
    assert read == sent  # what was queued is read, nothing more was taken


def _site_thread(scenario, endpoint, parent_fd, out_dir):
    results = []
    thread = threading.Thread(target=lambda: results.append(serve_sites(
        scenario, scenario.site_names(), endpoint, settings=FAST, parent_fd=parent_fd,
        host_name="site-all", out_dir=out_dir)), daemon=True)
    thread.start()
    return thread, results


def test_a_flood_from_one_peer_costs_a_legitimate_site_no_step(tmp_path):
    path = small_scenario(tmp_path, steps=12)
    scenario = load(path)
    r, w = os.pipe()
    site = []
    stop = threading.Event()
    sent = [0]

    def listening(endpoint):
        site.append(_site_thread(scenario, endpoint, r, tmp_path / "site"))
        flooder.start()

    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST, join_timeout_s=20,
                                limiter=RateLimiter(5000.0, 10000.0), on_listening=listening)

    def flood():
        agg = placement.fleet
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, b"flood")
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(agg.endpoint)
        beats = b"\x91" + _frame("Heartbeat", Heartbeat(1), "flood/link", "agg/coordinator")
        frames = [beats, b"\x91" * 1001 + b"\xc0", b"\xc1" * 64,
                  b"\x91" + _frame("Heartbeat", Heartbeat(1), "site-all/link", "agg/coordinator")]
        while not stop.is_set():
            try:
                sock.send(frames[sent[0] % len(frames)], zmq.NOBLOCK)
                sent[0] += 1
            except zmq.Again:
                time.sleep(0.001)
        sock.close()
        ctx.term()

    flooder = threading.Thread(target=flood, daemon=True)
    try:
        result = run_scenario(scenario, tmp_path / "run", scenario_path=path,
                              placement=placement,  # a paced run
                              hooks=[AfterEachStep(lambda k: placement.fleet.loop.run_for(0.05))])
    finally:
        stop.set()
        if flooder.is_alive():
            flooder.join(10)
        os.close(w)
        for thread, _ in site:
            thread.join(10)
    summary, agg = result.summary, result.run
    thread, results = site[0]
    assert sent[0] > 5000
    assert summary["steps"] == 12 and summary["lost_sites"] == []
    assert all(not o.silent for o in agg.aggregator.outcomes)
    assert summary["dropped_by_reason"]["rate-limited"] > 0
    assert summary["unserved_kwh"] == pytest.approx(0.0, abs=1e-6)
    assert results[0].exit_code == 0


def test_a_run_whose_sites_are_all_lost_ends_in_an_error(tmp_path):
    path = small_scenario(tmp_path, steps=40)
    scenario = load(path)
    r, w = os.pipe()
    site = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", settings=FAST, join_timeout_s=20,
        on_listening=lambda endpoint: site.append(
            _site_thread(scenario, endpoint, r, tmp_path / "site")))

    def progress(k):
        if k == 2:
            os.close(w)  # the site process goes (orphaned) without a word
            site[0][0].join(10)
        placement.fleet.loop.run_for(0.01)

    with pytest.raises(DistributedError, match="every site was lost before step"):
        run_scenario(scenario, tmp_path / "run", scenario_path=path, placement=placement,
                     hooks=[AfterEachStep(progress)])
    assert (tmp_path / "run" / "summary.json").exists()  # what was served is kept


def test_asking_for_the_scenario_again_and_again_gets_it_once_per_period(tmp_path):
    """The scenario is the largest message an aggregator sends (about 0.5 KiB a site):
    a peer that asks without reading must not make it queue copy after copy."""
    path = small_scenario(tmp_path, steps=1)
    scenario = load(path)
    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST)
    agg = RemoteFleet(scenario, RunContext(tmp_path / "run", scenario.seed, path, placement),
                      placement)  # listening; no run
    asker = agg.context.socket(zmq.DEALER)
    asker.setsockopt(zmq.IDENTITY, b"greedy")
    asker.setsockopt(zmq.LINGER, 0)
    asker.connect(agg.endpoint)
    ask = _frame("ScenarioRequest", {"host": "greedy"}, "greedy/link", "agg/coordinator")
    try:
        asker.send(b"\xdc\x00\x32" + ask * 50)  # 50 requests in one batch
        agg.loop.run_until(lambda: agg.host.stats.dropped_total >= 49, 5.0)
        answers = 0
        while asker.poll(300):
            answers += len(msgspec.msgpack.decode(asker.recv()))
    finally:
        asker.close()
        agg.close()
    assert answers == 1 and agg.host.stats.dropped == {"rejected": 49}
