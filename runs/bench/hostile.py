"""``vpp bench hostile``: hostile frames thrown at a live aggregator and a site while a
legitimate run goes on, against the same run undisturbed.

Four processes, started twice (the undisturbed baseline, then under attack):

- an aggregator (the runner with a ``RemotePlacement`` on ``tcp://127.0.0.1``, the rate limit of
  ``vpp aggregator``) running a merit-order scenario whose steps are paced, so that the
  attack lands in the middle of the run;
- a site process serving every site of it (``serve_sites``);
- a frequency site: a host with a few ``FrequencySiteAgent`` that hears a grid PUB (the
  legitimate samples, published by this process every 10 ms) and, under attack, a hostile
  publisher too, as a site process in local mode does (``Host.hear``);
- this process: the grid's legitimate samples and, under attack, the attacker: several
  DEALER identities on the aggregator and an XPUB on the site's feed, throwing random
  bytes, mutated real frames (bit flips, truncations, splices, repeats), nesting past the
  recursion limit, oversized frames, kinds the receiver does not take, unknown kinds and
  receivers, spoofed senders and floods of well-formed messages.

What it does not throw, because only authentication stops it (``docs/security.md``): an
identity equal to a live site host's (plaintext ROUTER handover) and frames that decode as
valid frequency samples (a forgery on the unauthenticated feed); mutated frames that
happen to decode as one are counted in ``forged_samples_skipped`` and not sent.

The legitimate run's result: the energy the aggregator served and the share of published
samples each frequency site applied, each against the undisturbed run; memory: the most
any target's resident set grew over its size when the attack began (sampled from
``/proc`` every 50 ms); crashes: target processes that died or ended in an error.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

import zmq
from vpp.runs.bench.hostile_frames import (
    ATTACKERS,
    TOPIC,
    aggregator_frames,
    feed_frames,
)

RATE_PER_S = 5000.0
"""The aggregator's per-peer rate (``vpp aggregator --rate-per-s``'s default)."""
RSS_BOUND_MB = 100.0
"""The acceptance bound on any target's resident-set growth under attack."""
SAMPLE_PERIOD_S = 0.01


# -- the targets (each in a child process) -------------------------------------------------
def _quiet_logs(path: str) -> None:
    """A child's log records go to a file (the bench prints one JSON object)."""
    logging.basicConfig(filename=path, level=logging.WARNING, force=True)


def _aggregator(conn, scenario: dict, out_dir: str, pace_s: float) -> None:
    from vpp.agents.runtime.limits import RateLimiter
    from vpp.runs.placement.remote import DistributedError, RemotePlacement
    from vpp.runs.runner import AfterEachStep, run_scenario
    from vpp.runs.scenario import parse

    _quiet_logs(f"{out_dir}.log")
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", limiter=RateLimiter(RATE_PER_S, 2 * RATE_PER_S),
        join_timeout_s=60, on_listening=lambda endpoint: conn.send(("endpoint", endpoint)))

    def progress(step: int) -> None:
        conn.send(("step", step))
        placement.fleet.loop.run_for(pace_s)

    try:
        result = run_scenario(parse(scenario, "<bench>"), out_dir, placement=placement,
                              hooks=[AfterEachStep(progress)])
        summary = result.summary
        conn.send(("done", {k: summary[k] for k in (
            "steps", "served_kwh", "unserved_kwh", "lost_sites", "dropped_by_reason")}
            | {"silent_steps": sum(1 for o in result.run.aggregator.outcomes if o.silent)}))
    except DistributedError as exc:
        conn.send(("failed", str(exc)))


def _sites(scenario: dict, endpoint: str, out_dir: str) -> None:
    from vpp.runs.placement.site_process import serve_sites
    from vpp.runs.scenario import parse

    _quiet_logs(f"{out_dir}.log")
    spec = parse(scenario, "<bench>")
    result = serve_sites(spec, spec.site_names(), endpoint, out_dir=out_dir,
                         host_name="site-all")
    raise SystemExit(result.exit_code)


def _frequency_site(conn, grid: str, hostile: str | None, sites: int, log_path: str) -> None:
    from vpp.agents.frequency.site import FrequencySiteAgent
    from vpp.agents.kinds import default_registry
    from vpp.agents.runtime.host import Host
    from vpp.agents.runtime.loop import EventLoop
    from vpp.coordination.frequency.presets import SERVICES
    from vpp.coordination.frequency.rule import SiteFrequencyRule

    _quiet_logs(log_path)
    context = zmq.Context()
    host = Host("freq-site", "inproc://freq-site", context=context,
                registry=default_registry())
    applied: list[set[int]] = [set() for _ in range(sites)]
    for i in range(sites):
        rule = SiteFrequencyRule(f0_hz=50.0, service=SERVICES["ce-fcr"], contracted_kw=100.0)
        host.add(FrequencySiteAgent(f"s{i}.frequency", rule, on_applied=applied[i].add))
    for endpoint in (grid, hostile):
        if endpoint is not None:
            host.hear(endpoint)
    loop = EventLoop(host)
    conn.send("ready")
    while not conn.poll(0):
        loop.run_once(0.02)
    host.close()
    conn.send({"applied": [sorted(a) for a in applied], "dropped": dict(host.stats.dropped)})
    context.term()


# -- one run --------------------------------------------------------------------------------
def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _sample_frame(seq: int) -> bytes:
    from vpp.agents.kinds import default_registry
    from vpp.agents.runtime.batches import join_batch as _batch
    from vpp.agents.runtime.codec import Codec
    from vpp.coordination.frequency.messages import FrequencySample

    global _sample_codec
    if _sample_codec is None:
        _sample_codec = Codec(default_registry())
    f_hz = 50.0 + 0.15 * ((seq % 20) - 10) / 10.0
    return TOPIC + _batch([_sample_codec.encode(FrequencySample(seq, 0.01 * seq, f_hz, 0.0),
                                                 sender="grid/grid", receiver="*frequency")[1]])


_sample_codec = None


def _one_run(scenario: dict, pace_s: float, attack: tuple | None, freq_sites: int,
             work: Path) -> dict:
    """Serve the scenario (paced) with a frequency site alongside; throw ``attack``
    (aggregator frames, feed frames) once the first step is done. The run's figures."""
    ctx = multiprocessing.get_context("spawn")
    context = zmq.Context()
    grid = context.socket(zmq.PUB)
    grid.bind("tcp://127.0.0.1:*")
    hostile = None
    if attack is not None:
        hostile = context.socket(zmq.XPUB)
        hostile.setsockopt(zmq.XPUB_NODROP, 1)
        hostile.bind("tcp://127.0.0.1:*")
    agg_conn, agg_end = ctx.Pipe()
    freq_conn, freq_end = ctx.Pipe()
    agg = ctx.Process(target=_aggregator, args=(agg_end, scenario, str(work / "agg"), pace_s))
    freq = ctx.Process(target=_frequency_site, args=(
        freq_end, grid.getsockopt(zmq.LAST_ENDPOINT).decode(),
        hostile.getsockopt(zmq.LAST_ENDPOINT).decode() if hostile else None, freq_sites,
        str(work / "freq.log")))
    agg.start()
    freq.start()
    endpoint = agg_conn.recv()[1]
    sites = ctx.Process(target=_sites, args=(scenario, endpoint, str(work / "sites")))
    sites.start()
    procs = {"aggregator": agg, "site process": sites, "frequency site": freq}
    assert freq_conn.recv() == "ready"
    socks = []
    if attack is not None:
        for who in range(ATTACKERS):
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.IDENTITY, f"evil-{who}".encode())
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
            socks.append(sock)
    agg_frames, feed_frames = attack if attack is not None else ([], [])
    thrown: Counter[str] = Counter()
    outcome, seq, first_seq, started_at = None, 0, None, None
    rss_start: dict[str, float] = {}
    rss_max: dict[str, float] = {}
    next_sample = next_rss = time.monotonic()
    i = j = 0
    t0 = time.perf_counter()
    while outcome is None:
        now = time.monotonic()
        if now >= next_sample:
            grid.send(_sample_frame(seq))
            if started_at is not None and first_seq is None:
                first_seq = seq
            seq += 1
            next_sample += SAMPLE_PERIOD_S
        if now >= next_rss:
            next_rss = now + 0.05
            for name, proc in procs.items():
                rss = _rss_mb(proc.pid)
                if rss is not None and started_at is not None:
                    rss_start.setdefault(name, rss)
                    rss_max[name] = max(rss_max.get(name, 0.0), rss)
        while agg_conn.poll(0):
            message = agg_conn.recv()
            if message[0] == "step" and started_at is None:
                started_at = time.monotonic()
            elif message[0] in ("done", "failed"):
                outcome = message
        if not agg.is_alive() and outcome is None:
            outcome = ("died", f"exit code {agg.exitcode}")
        if started_at is None or (i >= len(agg_frames) and j >= len(feed_frames)):
            time.sleep(0.001)
            continue
        sent = 0
        for _ in range(50):  # a burst, then the grid's next sample is due again
            before = i + j
            if i < len(agg_frames):
                who, kind, batch = agg_frames[i]
                try:
                    socks[who].send(batch, zmq.NOBLOCK)
                    thrown[kind] += 1
                    i += 1
                except zmq.Again:  # that connection's queue is full: pushed back
                    pass
            if j < len(feed_frames):
                kind, frame = feed_frames[j]
                try:
                    hostile.send(frame, zmq.NOBLOCK)
                    thrown[f"feed {kind}"] += 1
                    j += 1
                except zmq.Again:
                    pass
            if i + j == before:
                break
            sent += 1
        if not sent:
            time.sleep(0.0005)
    wall = time.perf_counter() - t0
    sites.join(30)
    freq_conn.send("stop")
    heard = freq_conn.recv() if freq_conn.poll(20) else None
    freq.join(10)
    agg.join(10)
    for sock in socks:
        sock.close()
    for sock in (grid, hostile):
        if sock is not None:
            sock.close(linger=0)
    context.term()
    published = set(range(first_seq or 0, seq))
    applied = ([len(published & set(a)) / max(len(published), 1) for a in heard["applied"]]
               if heard is not None else [0.0])
    crashes = [f"{name}: exit code {p.exitcode}" for name, p in procs.items()
               if p.exitcode not in (0, None)]
    if outcome[0] != "done":
        crashes.append(f"aggregator: {outcome[0]}: {outcome[1]}")
    return {"outcome": outcome[1] if outcome[0] == "done" else None, "crashes": crashes,
            "frames": sum(thrown.values()), "frames_by_kind": dict(thrown),
            "applied_fraction": min(applied), "samples": len(published), "wall_s": wall,
            "feed_dropped": heard["dropped"] if heard is not None else {},
            "rss_growth_mb": {n: round(rss_max[n] - rss_start[n], 1) for n in rss_max}}


def run(frames: int = 100_000, sites: int = 20, steps: int = 60, pace_s: float = 0.1,
        freq_sites: int = 5, seed: int = 0) -> dict:
    """The undisturbed run, then the same run under ``frames`` hostile frames (about 70%
    at the aggregator, 30% at the frequency site): the figures of both."""
    from vpp.runs.bench.swarm import bench_scenario

    scenario = bench_scenario(sites, steps, seed)
    rng = random.Random(seed)
    to_agg = int(frames * 0.7)
    attack = (aggregator_frames(rng, to_agg), feed_frames(rng, frames - to_agg + 1)[0])
    forged = feed_frames(random.Random(seed + 1), 2000)[1]
    with tempfile.TemporaryDirectory(prefix="vpp-bench-hostile-") as tmp:
        work = Path(tmp)
        (work / "base").mkdir()
        (work / "attacked").mkdir()
        base = _one_run(scenario, pace_s, None, freq_sites, work / "base")
        hit = _one_run(scenario, pace_s, attack, freq_sites, work / "attacked")
        logs = {p.name: sum(1 for _ in p.open()) for p in (work / "attacked").glob("*.log")}
    served = (hit["outcome"] or {}).get("served_kwh", 0.0)
    base_served = (base["outcome"] or {}).get("served_kwh", 0.0)
    drops = Counter((hit["outcome"] or {}).get("dropped_by_reason", {}))
    drops.update(hit["feed_dropped"])
    fractions = [served / base_served if base_served else 0.0,
                 hit["applied_fraction"] / base["applied_fraction"]
                 if base["applied_fraction"] else 0.0]
    growth = max(hit["rss_growth_mb"].values(), default=0.0)
    return {
        "frames": hit["frames"], "crashes": len(hit["crashes"]),
        "crash_detail": hit["crashes"] + [f"baseline {c}" for c in base["crashes"]],
        "max_rss_growth_mb": growth, "rss_bound_mb": RSS_BOUND_MB,
        "rss_within_bound": growth <= RSS_BOUND_MB,
        "legit_served_fraction": round(min(fractions), 4),
        "drops_by_reason": dict(drops),
        "frames_by_kind": hit["frames_by_kind"],
        "served_kwh": served, "baseline_served_kwh": base_served,
        "served_fraction": round(fractions[0], 4),
        "frequency_applied_fraction": round(hit["applied_fraction"], 4),
        "baseline_frequency_applied_fraction": round(base["applied_fraction"], 4),
        "frequency_samples": hit["samples"], "baseline_frequency_samples": base["samples"],
        "silent_steps": (hit["outcome"] or {}).get("silent_steps"),
        "lost_sites": (hit["outcome"] or {}).get("lost_sites"),
        "rss_growth_mb_by_target": hit["rss_growth_mb"],
        "baseline_rss_growth_mb_by_target": base["rss_growth_mb"],
        "log_lines_under_attack": logs,
        "forged_samples_skipped_per_2000": forged,
        "sites": sites, "steps": steps, "wall_s": round(hit["wall_s"], 2),
        "baseline_wall_s": round(base["wall_s"], 2), "attackers": ATTACKERS,
        "rate_per_s": RATE_PER_S,
    }
