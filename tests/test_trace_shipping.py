"""One run directory holds the whole trace, wherever the sites ran: site processes ship
their trace rows to the aggregator; ``vpp trace merge`` brings in a late shard."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading

import msgspec
import numpy as np
import pytest
import zmq
from vpp.agents.membership.coordinator import LinkSettings
from vpp.agents.membership.messages import TraceBatch
from vpp.agents.membership.trace_ship import MAX_BATCH_BYTES, TraceShipper
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_merge import merge_shard
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.placement.site_process import serve_sites
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import ROOT, leftovers, small_scenario, stop_all

pytestmark = pytest.mark.timeout(180)

FAST = LinkSettings(heartbeat_ms=100, timeout_ms=1500, ack_ms=300, grace_s=5.0)
enc = msgspec.msgpack.Encoder()


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory):
    return small_scenario(tmp_path_factory.mktemp("scenario"), steps=4)


@pytest.fixture(scope="module")
def one_process(scenario_path, tmp_path_factory):
    return run_scenario(load(scenario_path), tmp_path_factory.mktemp("local"),
                        scenario_path=scenario_path)


def _counts(run_dir):
    reader = TraceReader(run_dir)
    try:
        return reader.message_counts(), reader.shards
    finally:
        reader.close()


def _negotiation(counts):
    """Counts of the kinds a one-process run has, but the dispatch (one publish per step
    there, received by every site; one message per site host in a distributed run,
    received by its link)."""
    return {k: v for k, v in counts.items() if k[0] != "StepCleared"}


def _vpp(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "vpp.runs.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_two_site_processes_in_other_folders_give_one_complete_trace(
        scenario_path, one_process, tmp_path):
    scenario = load(scenario_path)
    groups = [list(g) for g in np.array_split(scenario.site_names(), 2)]
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    procs = []

    def start(endpoint):
        for home, group in zip(homes, groups):
            home.mkdir()
            args = [sys.executable, "-m", "vpp.runs.cli", "site", str(scenario_path),
                    "--connect", endpoint, "--insecure"]
            for s in group:
                args += ["--site", s]
            procs.append(subprocess.Popen(args, cwd=home, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))

    out = tmp_path / "aggregator" / "run"
    placement = RemotePlacement("tcp://127.0.0.1:*", join_timeout_s=60, on_listening=start)
    try:
        result = run_scenario(scenario, out, scenario_path=scenario_path,
                              placement=placement)
    finally:
        stop_all(procs)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert leftovers() == []
    hosts = [f"site-{g[0]}" for g in groups]
    summary = result.summary
    assert summary["trace_batches_dropped"] == {} and summary["dropped"] == 0

    # the aggregator's run directory: its own shard and one per site host
    counts, shards = _counts(out)
    assert shards == sorted(["agg", *hosts])
    local, _ = _counts(one_process.out_dir)
    assert {k: counts.get(k) for k in _negotiation(local)} == _negotiation(local)
    assert counts[("Bid", "send")] == counts[("Bid", "recv")] == 4 * len(scenario.site_names())
    assert counts[("Accept", "send")] > 0
    assert counts[("Stopped", "send")] == 2  # the last row of each site, shipped too
    # each step's outcome once to each host, acknowledged in one batch each
    assert counts[("StepCleared", "recv")] == 2 * 4
    assert counts[("AppliedBatch", "send")] == counts[("AppliedBatch", "recv")] == 2 * 4
    assert ("Applied", "recv") not in counts
    assert not [k for k in counts if k[0] == "TraceBatch"]
    from vpp.runs.explorer.record import RunRecord

    assert RunRecord(out).message_counts() == counts  # the explorer sees the same trace
    shown = _vpp("trace", "show", str(out), cwd=tmp_path)
    assert shown.returncode == 0 and all(h in shown.stdout for h in hosts), shown.stderr
    for kind in ("Bid", "Accept"):  # sent and received, as `vpp trace show` prints them
        sent, received = re.search(rf"\b{kind}\W+(\d+)\W+(\d+)", shown.stdout).groups()
        assert int(sent) == counts[(kind, "send")] > 0
        assert int(received) == counts[(kind, "recv")]

    # each site's own shard (in its own folder) holds exactly what was shipped
    site_dirs = [home / "vpp-output" / "run" for home in homes]
    for host, site_dir in zip(hosts, site_dirs):
        own = shard_path(site_dir, host)
        assert own.exists() and not (tmp_path / "aggregator" / "vpp-output").exists()
        own_counts, _ = _counts(site_dir)
        reader = TraceReader(out)
        shipped = reader.messages(agent=None)
        reader.close()
        assert sum(own_counts.values()) == sum(1 for r in shipped if r.host == host)
        assert summary["trace_rows_shipped"][host] >= sum(own_counts.values())

    # merging a site's shard that was shipped already changes nothing, twice over
    done = _vpp("trace", "merge", str(out), str(site_dirs[0]), str(shard_path(site_dirs[1],
                                                                            hosts[1])))
    assert done.returncode == 0, done.stderr
    assert "0 messages, 0 rounds, 0 agents added" in done.stdout
    assert _counts(out) == (counts, shards)
    assert merge_shard(out, shard_path(site_dirs[0], hosts[0])).messages == 0
    assert _counts(out) == (counts, shards)

    # into a copy of the run that lacks a site's shard, the merge restores it
    lacking = tmp_path / "lacking"
    shutil.copytree(out, lacking)
    shard_path(lacking, hosts[1]).unlink()
    assert _counts(lacking)[0] != counts
    done = _vpp("trace", "merge", str(lacking), str(site_dirs[1]))
    assert done.returncode == 0, done.stderr
    assert _counts(lacking)[0] == counts
    assert _vpp("trace", "merge", str(lacking), str(site_dirs[1])).returncode == 0
    assert _counts(lacking)[0] == counts

    # a shard of another run is refused, naming the file, and nothing is written
    other = tmp_path / "other" / "site-x.sqlite"
    rec = TraceRecorder(other, "site-x")
    rec.set_meta(run="another-run", scenario_digest="0" * 64)
    rec.close()
    done = _vpp("trace", "merge", str(out), str(other))
    assert done.returncode == 2
    assert str(other) in " ".join(done.stderr.split()) and "another run" in done.stderr
    assert not shard_path(out, "site-x").exists()
    assert _counts(out) == (counts, shards)
    # given with a good one, it is refused before either is merged
    shard_path(lacking, hosts[1]).unlink()
    done = _vpp("trace", "merge", str(lacking), str(site_dirs[1]), str(other))
    assert done.returncode == 2 and not shard_path(lacking, hosts[1]).exists()


class _Forger(Agent):
    """On a site host, once joined: forged and malformed trace batches, written straight
    onto the host's connection to the aggregator under its link's address."""

    role = "forger"

    def __init__(self) -> None:
        super().__init__("forger")
        self.sent = False

    def started(self) -> None:
        self.host.call_later(0.0, self._tick)

    def _frame(self, body: bytes, sender: str | None = None) -> bytes:
        sender = sender or f"{self.host.name}/link"
        return b"\x91" + enc.encode(Envelope(WIRE_VERSION, "TraceBatch", sender,
                                             "agg/traces", "trace", 0, 0.0,
                                             msgspec.Raw(body)))

    def _tick(self) -> None:
        link = self.host.agents["link"]
        if link.welcome is None:  # at once after the welcome: a 4-step run is short
            self.host.call_later(0.0, self._tick)
            return
        row = [1, 0.0, "send", "Bid", "a/b", "c/d", "x", 0, 10, None, None]
        forged = [
            self._frame(enc.encode(os.urandom(300))),  # random bytes as the body
            self._frame(enc.encode({"seq": "one", "messages": 5, "rounds": b"\x90",
                                    "agents": [], "meta": []})),  # wrong types
            self._frame(enc.encode(TraceBatch(1, enc.encode(42), b"\x90", [], []))),
            self._frame(enc.encode(TraceBatch(2, enc.encode([["x", *row[1:]]]), b"\x90",
                                              [], []))),
            self._frame(enc.encode(TraceBatch(  # oversized (yet under the frame cap)
                3, enc.encode([row] * (MAX_BATCH_BYTES // len(enc.encode(row)) + 100)),
                b"\x90", [], []))),
            self._frame(enc.encode(TraceBatch(4, enc.encode([row]), b"\x90", [],
                                              [("scenario", '"forged"')]))),
            self._frame(enc.encode(TraceBatch(5, enc.encode([row]), b"\x90",
                                              [("agg/aggregator", "x", "y")], []))),
            self._frame(enc.encode(TraceBatch(6, enc.encode([row]), b"\x90", [], [])),
                        sender=f"{self.host.name}/forger"),  # not its link
            b"\x91" + os.urandom(64),  # not even an envelope
        ]
        sock = self.host._peers["agg"]
        for frame in forged:
            sock.send(frame, zmq.NOBLOCK)
        self.sent = True


def test_forged_and_malformed_trace_batches_are_dropped_and_counted(
        scenario_path, one_process, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="vpp.agents.membership.trace_sink")
    scenario = load(scenario_path)
    forgers, results = [], []

    def on_host(host):
        forgers.append(host.add(_Forger()))

    def start(endpoint):
        thread = threading.Thread(target=lambda: results.append(serve_sites(
            scenario, scenario.site_names(), endpoint, settings=FAST, host_name="site-all",
            out_dir=tmp_path / "site", on_host=on_host)), daemon=True)
        thread.start()
        threads.append(thread)

    threads = []
    out = tmp_path / "run"
    placement = RemotePlacement("tcp://127.0.0.1:*", settings=FAST, join_timeout_s=30,
                                on_listening=start)
    result = run_scenario(scenario, out, scenario_path=scenario_path, placement=placement)
    threads[0].join(timeout=30)
    assert results and results[0].exit_code == 0 and forgers[0].sent

    # the run completed with the one-process dispatch
    local = one_process.run.aggregator.outcomes
    remote = result.run.aggregator.outcomes
    assert len(remote) == len(local) == 4
    for a, b in zip(local, remote):
        assert b.served_kw == pytest.approx(a.served_kw, abs=1e-9)
        assert b.cost_eur == pytest.approx(a.cost_eur, abs=1e-9)
        by_name = {k.split("/")[1]: v for k, v in b.site_power_kw.items()}
        assert by_name == pytest.approx({k.split("/")[1]: v for k, v in a.site_power_kw.items()})

    # every forged batch dropped and counted: five by the sink (named fields), the rest
    # by the codec and the agent
    summary = result.summary
    assert summary["trace_batches_dropped"] == {"site-all": 5}
    by_reason = summary["dropped_by_reason"]
    assert by_reason["rejected"] == 6
    assert by_reason["malformed-body"] == 2
    assert sum(by_reason.values()) == summary["dropped"] == 9
    text = caplog.text
    for field in ("trace batch from site-all: messages:", "messages[0].wall_ns",
                  "meta[0].key", "agents[0].address"):
        assert field in text, field

    # and none of it reached the trace: the site's shard holds its real rows only
    counts, shards = _counts(out)
    assert shards == ["agg", "site-all"]
    local_counts, _ = _counts(one_process.out_dir)
    assert {k: counts.get(k) for k in _negotiation(local_counts)} == _negotiation(local_counts)
    reader = TraceReader(out)
    try:
        assert reader.meta()["scenario"] == scenario.name
        assert not [r for r in reader.messages(kind="Bid") if r.sender == "a/b"]
    finally:
        reader.close()


def test_the_shipper_cuts_batches_and_counts_what_the_full_queue_keeps_local():
    sent = []
    shipper = TraceShipper(sent.append, lambda: True, lambda delay, cb: None)
    body = msgspec.Raw(enc.encode("x" * 10))  # 2,000 such rows: under the byte cap
    rows = [(i, 0.0, "send", "Bid", "a/b", "c/d", "x", 0, 10, body, None)
            for i in range(5_000)]
    big = (5_000, 0.0, "send", "Bid", "a/b", "c/d", "x", 0, 10,
           msgspec.Raw(enc.encode("y" * 70_000)), None)
    shipper.take([*rows, big], [], [("h/a", "r", "C")], [("host", '"h"')])
    assert [len(msgspec.msgpack.decode(b.messages)) for b in shipper.queue] == [
        2000, 2000, 1000]
    assert shipper.queue[0].agents == [("h/a", "r", "C")] and shipper.queue[1].agents == []
    assert shipper.unshipped_rows == 1  # the row over MAX_ROW_BYTES
    for _ in range(20):
        shipper.take(rows, [], [], [])
    assert len(shipper.queue) == 32  # 3 + 9 takes of 3 batches, then 2 of the 10th
    assert shipper.unshipped_rows == 1 + 1000 + 10 * 5_000  # found the queue full
    queued = sum(len(msgspec.msgpack.decode(b.messages)) for b in shipper.queue)
    assert queued + shipper.unshipped_rows == len(rows) + 1 + 20 * len(rows)
    assert shipper.drain() == 32 and len(sent) == 32 and not shipper.queue
    assert shipper.shipped_rows == queued


def test_the_shipper_cuts_by_bytes_too():
    shipper = TraceShipper(lambda b: None, lambda: True, lambda delay, cb: None)
    body = msgspec.Raw(enc.encode("x" * 1_000))
    rows = [(i, 0.0, "send", "Bid", "a/b", "c/d", "x", 0, 10, body, None) for i in range(500)]
    shipper.take(rows, [], [], [])
    sizes = [len(b.messages) for b in shipper.queue]
    assert len(sizes) == 3 and max(sizes) <= MAX_BATCH_BYTES
    assert sum(len(msgspec.msgpack.decode(b.messages)) for b in shipper.queue) == 500


def _shard(path, host, rows, run="r1", digest="d" * 64):
    rec = TraceRecorder(path, host)
    rec.set_meta(run=run, scenario_digest=digest)
    body = msgspec.Raw(enc.encode({"q": 1}))
    rec.extend([(i, 0.5, "send", "Bid", f"{host}/s", "agg/aggregator", "c", 0, 9, body, None)
                for i in rows], [])
    rec.close()


def test_merge_adds_only_the_rows_missing_and_refuses_what_names_no_host(tmp_path):
    run = tmp_path / "run"
    _shard(shard_path(run, "agg"), "agg", [])
    _shard(shard_path(run, "site-a"), "site-a", [1, 2, 3])   # what was shipped
    late = tmp_path / "late" / "site-a.sqlite"
    _shard(late, "site-a", [1, 2, 3, 4, 5])                  # the site's own, complete
    assert merge_shard(run, late).messages == 2
    assert merge_shard(run, late).messages == 0
    reader = TraceReader(run)
    assert sorted(r.wall_ns for r in reader.messages()) == [1, 2, 3, 4, 5]
    assert reader.messages()[0].body == {"q": 1}
    reader.close()
    bad = tmp_path / "bad" / "x.sqlite"
    _shard(bad, "../escape", [1])
    with pytest.raises(ValueError, match="names no valid host"):
        merge_shard(run, bad)
    not_a_shard = tmp_path / "junk.sqlite"
    not_a_shard.write_bytes(os.urandom(2048))
    with pytest.raises(ValueError, match="not a trace shard"):
        merge_shard(run, not_a_shard)


def test_the_sink_survives_any_bytes_and_writes_only_whole_good_batches(tmp_path):
    import random

    from vpp.agents.membership.trace_sink import BatchRejected, TraceSink

    sink = TraceSink(tmp_path / "run", "agg")
    body = msgspec.Raw(enc.encode({"step": 1, "kw": 2.5}))
    row = (5, 1.0, "recv", "Bid", "site-a/x", "agg/aggregator", "merit-order/1", 0, 40, body,
           None)
    liveness = (6, 1.0, 0, "liveness", "liveness", 1, *[None] * 10, '{"event": "joined"}')
    good = TraceBatch(1, enc.encode([row] * 3), enc.encode([liveness]),
                      [("site-a/link", "link", "SiteLinkAgent")], [("run", '"r"')])
    assert sink.take("site-a", good) == 4
    rng = random.Random(20)
    real = [good.messages, good.rounds]
    written = 0
    for i in range(3000):
        blob = bytearray(real[i % 2])
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        if i % 5 == 0:
            blob = bytearray(rng.randbytes(rng.randint(0, 64)))
        messages, rounds = (bytes(blob), good.rounds) if i % 2 == 0 else (good.messages,
                                                                         bytes(blob))
        try:
            written += sink.take("site-a", TraceBatch(i, messages, rounds, [], []))
        except BatchRejected as exc:
            assert exc.field.split("[")[0].split(".")[0] in ("messages", "rounds")
    assert sink.dropped["site-a"] > 1000
    for host in ("../up", "agg", "a/b", ""):
        with pytest.raises(BatchRejected, match="cannot name a shard"):
            sink.take(host, good)
    sink.close()
    reader = TraceReader(tmp_path / "run")
    try:
        assert reader.shards == ["site-a"] and reader.unreadable_chunks == 0
        messages = reader.messages()
        assert len(messages) + len(reader.rounds()) == 4 + written
        reader.meta()  # every meta value is JSON
        for r in reader.rounds():
            assert isinstance(r["detail"], dict)
    finally:
        reader.close()
    assert reader.unreadable_chunks == 0


def test_a_host_of_thousands_of_sites_ships_every_agent_and_no_batch_the_sink_refuses(tmp_path):
    # a site process's first flush holds an agent a site and a `sites` meta item naming
    # them all: the agents are spread over batches the aggregator takes; the meta item,
    # over the sink's text cap, stays in the local shard and is counted
    import json

    from vpp.agents.membership.trace_ship import MAX_BATCH_ITEMS, MAX_TEXT
    from vpp.agents.membership.trace_sink import TraceSink
    from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES

    names = [f"site-{i}" for i in range(5_000)]
    agents = [(f"h/{n}", "site", "SiteAgent") for n in names]
    meta = [("host", '"h"'), ("sites", json.dumps(names)), ("pid", "7")]
    assert len(meta[1][1]) > MAX_TEXT
    body = msgspec.Raw(enc.encode("x" * 100))
    rows = [(i, 0.0, "send", "Bid", "h/site-1", "agg/aggregator", "x", 0, 10, body, None)
            for i in range(3_000)]
    shipper = TraceShipper(lambda b: None, lambda: True, lambda delay, cb: None)
    shipper.take(rows, [], agents, meta)
    batches = list(shipper.queue)
    assert [a for b in batches for a in b.agents] == agents
    assert max(len(b.agents) for b in batches) <= MAX_BATCH_ITEMS
    assert [m for b in batches for m in b.meta] == [meta[0], meta[2]]
    assert shipper.unshipped_rows == 1
    assert sum(len(msgspec.msgpack.decode(b.messages)) for b in batches) == 3_000
    sink = TraceSink(tmp_path, "agg")
    for batch in batches:
        assert len(msgspec.msgpack.encode(batch)) <= DEFAULT_MAX_FRAME_BYTES - 16 * 1024
        sink.take("h", batch)  # raises BatchRejected for a batch the aggregator refuses
    assert sink.dropped == {} and sink.rows["h"] == 3_000


def test_a_site_process_of_a_hundred_and_fifty_sites_ships_its_whole_trace(tmp_path):
    # its `sites` meta item is over the sink's text cap: its first batch was refused whole
    import yaml
    from vpp.runs.bench.swarm import bench_scenario

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(bench_scenario(150, 2), sort_keys=False))
    scenario = load(path)
    procs = []

    def start(endpoint):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "vpp.runs.cli", "site", str(path), "--connect", endpoint,
             "--insecure", "--out", str(tmp_path / "site")], cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))

    placement = RemotePlacement("tcp://127.0.0.1:*", join_timeout_s=60, on_listening=start)
    try:
        result = run_scenario(scenario, tmp_path / "agg", scenario_path=path,
                              placement=placement)
    finally:
        stop_all(procs)
    assert [p.returncode for p in procs] == [0], [p.stderr.read() for p in procs]
    summary = result.summary
    assert summary["trace_batches_dropped"] == {} and summary["dropped"] == 0
    reader = TraceReader(tmp_path / "agg")
    try:
        host = reader.shards[1]
        shipped = {a["address"] for a in reader.agents() if a["address"].startswith(host)}
        assert len(shipped) == 151  # every site's agent and the link
        bids = sum(1 for r in reader.messages(kind="Bid") if r.host == host)
    finally:
        reader.close()
    own, _ = _counts(tmp_path / "site")
    assert bids == own[("Bid", "send")] >= 150 * 2  # each site bids at least once a step
