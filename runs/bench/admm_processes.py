"""``vpp bench admm --processes N --transport tcp``: ADMM rounds to site processes.

The sites of a random instance are dealt to N processes (from the warm fork server of
``vpp.runs.placement.spawn``) that connect to the aggregator over TCP loopback (plaintext: a benchmark
on 127.0.0.1) or ``ipc://``. The same instance is negotiated in one process over
``inproc://`` first, with each site's local solve timed, and solved centrally.

``round_ms_p50`` is the median time between the ends of consecutive rounds (from the
aggregator's trace rows); ``slowest_solve_ms_p50`` the median over rounds of the slowest
site's local solve (timed in the one-process run); their difference,
``messaging_ms_p50``, is what the processes and the transport add. On a machine with
fewer cores than processes the sites cannot all solve at once, so that difference also
holds the wait for a core: ``cpu_floor_ms_p50`` is the shortest a round can be here,
the larger of the slowest solve and all solves divided by the cores, and
``messaging_over_floor_ms_p50`` what the round takes beyond it.

The same pattern in plain pyzmq (:mod:`vpp.runs.bench.zmq_baseline`: a ROUTER sends each
process a message the size of an ``AdmmRound``, each answers as much) runs right after:
``raw_zmq_round_ms_p50`` is the messaging a round cannot do without on this machine, and
``messaging_over_raw_zmq_p50`` how many times that the project's messaging takes;
``round_over_raw_zmq_round`` is the round over that bare echo's round.

That echo's children do no solve, so a round of sites that each solve a QP cannot come
near it on fewer cores than processes. The same negotiation with plain-pyzmq messaging
(:mod:`vpp.runs.bench.zmq_baseline_admm`: the same aggregation, the same site solves on the
same data, no project runtime) runs last: ``round_over_same_work_zmq_round`` isolates what
the project's path adds, and ``target_met`` judges issue #16's 1.5x (``target_bound``)
against it (``target_judged_against``); ``target_met_against_raw_zmq`` is the same bound
against the bare echo (see ``docs/runtime.md``, Item 5).
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import zmq
from vpp.agents.admm.negotiation import AdmmAggregatorAgent, AdmmSiteAgent
from vpp.agents.membership.messages import Heartbeat, Stop, distributed_registry
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.outcome import AdmmResult
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.admm.reference import solve_centralized
from vpp.runs.bench import zmq_baseline, zmq_baseline_admm
from vpp.runs.bench.admm import AdmmSwarm, cost_gap_rel
from vpp.runs.bench.admm_site import admm_child
from vpp.runs.placement.spawn import PRELOAD, SiteSpawner, deal

log = logging.getLogger(__name__)


class TimedAdmmSite(AdmmSiteAgent):
    """An ADMM site that records how long each round's local step took (ms by round)."""

    def __init__(self, name: str, model) -> None:
        super().__init__(name, model)
        self.solve_ms: dict[int, float] = {}

    def _on_round(self, envelope: Envelope, msg) -> None:
        t0 = time.perf_counter()
        super()._on_round(envelope, msg)
        self.solve_ms[msg.round] = 1000.0 * (time.perf_counter() - t0)


class BenchReady(Agent):
    """The aggregator side of the bench's join: answers a site host through the ROUTER."""

    role = "coordinator"

    def __init__(self) -> None:
        super().__init__("ready")
        self.hosts: set[str] = set()
        self.on(Heartbeat, self._on_heartbeat)

    def _on_heartbeat(self, envelope: Envelope, beat: Heartbeat) -> None:
        host = envelope.sender.partition("/")[0]
        if host not in self.hosts:
            self.hosts.add(host)
            self.host.route_back(host)
            self.send(envelope.sender, Heartbeat(beat.seq))


def _round_ms(shard: Path) -> list[float]:
    """Durations between the ends of consecutive ADMM rounds of each negotiation, from a
    trace shard."""
    db = sqlite3.connect(f"file:{shard}?mode=ro", uri=True)
    try:
        rows = list(db.execute("SELECT conversation, wall_ns FROM rounds "
                               "WHERE protocol = 'admm' ORDER BY conversation, round"))
    finally:
        db.close()
    return [(b - a) / 1e6 for (ca, a), (cb, b) in itertools.pairwise(rows) if ca == cb]


def run(sites: int = 50, processes: int = 50, horizon: int = 24, seed: int = 0,
        transport: str = "tcp") -> dict:
    """Negotiate a random target-following instance with ``processes`` site processes."""
    if transport not in ("tcp", "ipc"):
        raise ValueError(f"transport must be tcp or ipc, got {transport!r}")
    models = random_sites(sites, horizon, 1.0, seed)
    coupling = random_target(models, seed)
    t0 = time.perf_counter()
    reference = solve_centralized(models, coupling)
    central_s = time.perf_counter() - t0
    settings = AdmmSettings()
    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as tmp:
        # one process, inproc, each local solve timed
        trace = TraceRecorder(shard_path(tmp, "inproc"), "inproc")
        timed = [TimedAdmmSite(m.name, m) for m in models]
        swarm = AdmmSwarm(models, AdmmSettings(deadline_ms=max(settings.deadline_ms,
                                                               20 * sites)),
                          trace=trace, site_agents=timed)
        try:
            local = swarm.negotiate(coupling, horizon, 1.0)
        finally:
            swarm.close()
            trace.close()
        local_rounds = _round_ms(shard_path(tmp, "inproc"))
        slowest = [max(a.solve_ms.get(k, 0.0) for a in timed) for k in range(local.iterations)]
        cores = os.cpu_count() or 1
        floor = [max(max(a.solve_ms.get(k, 0.0) for a in timed),
                     sum(a.solve_ms.get(k, 0.0) for a in timed) / cores)
                 for k in range(local.iterations)]

        # the same instance, sites in processes
        groups = deal([m.name for m in models], processes)
        index = {m.name: i for i, m in enumerate(models)}
        context = zmq.Context()
        trace = TraceRecorder(shard_path(tmp, "agg"), "agg")
        agg_host = Host("agg", f"inproc://agg-{uuid.uuid4().hex}", context=context,
                        registry=distributed_registry(), trace=trace)
        bind = "tcp://127.0.0.1:*" if transport == "tcp" else f"ipc://{tmp}/agg"
        endpoint = agg_host.listen(bind)
        ready = agg_host.add(BenchReady())
        addresses = [f"{g.host}/{name}" for g in groups for name in g.sites]
        aggregator = agg_host.add(AdmmAggregatorAgent("aggregator", addresses, settings))
        loop = EventLoop(agg_host)
        spawner = SiteSpawner(preload=[*PRELOAD, "vpp.runs.bench.admm_site"])
        stack = ExitStack()
        baselines: dict[str, list] = {"same": [], "same_equal": [], "echo": []}
        try:
            t0 = time.perf_counter()
            spawner.start_processes(admm_child, [
                (g.host, (g.host, tuple(index[n] for n in g.sites), sites, horizon, seed,
                          endpoint)) for g in groups])
            if not loop.run_until(lambda: len(ready.hosts) == processes
                                  or spawner.failed() is not None, 120):
                raise RuntimeError(f"{len(ready.hosts)} of {processes} processes joined")
            if spawner.failed() is not None:
                raise RuntimeError(spawner.failed())
            ready_s = time.perf_counter() - t0
            # the baselines' processes, started now and idle until their turn
            echo = stack.enter_context(zmq_baseline.RoundTrips(processes, "router",
                                                               _round_bytes(horizon)))
            same = zmq_baseline_admm.SameWork(sites, processes, horizon, seed, settings)
            stack.callback(same.close)
            admm_s = 0.0
            for k in range(REPEATS):  # ours, the same work in pyzmq, the echo: in turn
                t0 = time.perf_counter()
                aggregator.begin(k, coupling, horizon, 1.0)
                if not loop.run_until(lambda: aggregator.done, 600):
                    raise RuntimeError("the ADMM negotiation did not end within 600 s")
                admm_s = admm_s or time.perf_counter() - t0
                same_rounds, same_result = same.negotiate()
                baselines["same"] += same_rounds
                baselines["same_equal"].append(_equal(same_result, aggregator.results[-1]))
                baselines["echo"] += echo.rounds(aggregator.results[-1].iterations)[1]
            result = aggregator.results[0]
            for host in sorted(ready.hosts):
                agg_host.send(ready, f"{host}/link", Stop("bench over"))
            loop.run_for(0.2)
            messages, dropped = agg_host.stats.sent, agg_host.stats.dropped_total
        finally:
            stack.close()
            agg_host.close()
            trace.close()
            codes = spawner.stop(grace_s=5.0)
            context.term()
        rounds = _round_ms(shard_path(tmp, "agg"))
    round_p50 = statistics.median(rounds) if rounds else None
    slowest_p50 = statistics.median(slowest) if slowest else None
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    return {
        "sites": sites,
        "processes": processes,
        "horizon": horizon,
        "transport": transport,
        "iterations": result.iterations,
        "converged": result.converged,
        "admm_s": round(admm_s, 3),
        "central_s": round(central_s, 3),
        "ready_s": round(ready_s, 3),
        "gap": float(f"{(result.cost_eur - reference.cost_eur) / abs(reference.cost_eur):.3g}")
        if reference.cost_eur else None,
        "cost_gap_rel": float(f"{cost_gap_rel(result, reference):.3g}"),
        "target_gap_kw": float(
            f"{np.abs(total - np.asarray(coupling.target_kw)).max():.3g}"),
        "round_ms_p50": round(round_p50, 3) if round_p50 is not None else None,
        "slowest_solve_ms_p50": round(slowest_p50, 3) if slowest_p50 is not None else None,
        "messaging_ms_p50": round(round_p50 - slowest_p50, 3)
        if round_p50 is not None and slowest_p50 is not None else None,
        "cpu_floor_ms_p50": round(statistics.median(floor), 3) if floor else None,
        "messaging_over_floor_ms_p50": round(round_p50 - statistics.median(floor), 3)
        if round_p50 is not None and floor else None,
        "cores": cores,
        "inproc_round_ms_p50": round(statistics.median(local_rounds), 3) if local_rounds else None,
        "inproc_iterations": local.iterations,
        "cost_vs_inproc_eur": float(f"{result.cost_eur - local.cost_eur:.3g}"),
        "messages": messages,
        "dropped": dropped,
        "clean_exit": codes == [0] * processes,
        "negotiations": REPEATS,
        **_raw_baseline(baselines["echo"], _round_bytes(horizon), round_p50, slowest_p50),
        **_same_work_baseline(baselines["same"], baselines["same_equal"], round_p50),
    }


def _round_bytes(horizon: int) -> int:
    """The size of one encoded AdmmRound envelope over ``horizon`` steps."""
    from vpp.agents.runtime.codec import Codec
    from vpp.coordination.admm.messages import AdmmRound

    prices = [float(k) + 0.123456789 for k in range(horizon)]
    body = AdmmRound(1, horizon, 1.0, 1.0, prices, prices, prices, 1000)
    _, frame = Codec(distributed_registry()).encode(
        body, sender="agg/aggregator", receiver="sites-1/site-0", conversation="admm/0",
        round=1)
    return len(frame)


def _raw_baseline(echo_ms: list[float], size: int, round_p50: float | None,
                  slowest_p50: float | None) -> dict:
    """The same ROUTER -> N processes -> back pattern in plain pyzmq, with messages of the
    size the ADMM round sent, as many rounds as ours, run between our negotiations
    (``vpp.runs.bench.zmq_baseline``); its round time stands for the messaging a round
    cannot do without on this machine."""
    base = round(statistics.median(echo_ms), 3)
    over = (round_p50 - slowest_p50) if round_p50 is not None and slowest_p50 is not None \
        else None
    return {"raw_zmq_round_ms_p50": base,
            "round_over_raw_zmq_round": round(round_p50 / base, 2)
            if round_p50 is not None and base > 0 else None,
            "raw_zmq_round_ms_p99": round(zmq_baseline.pct(echo_ms, 0.99), 3),
            "target_met_against_raw_zmq": round_p50 is not None and base > 0
            and round_p50 / base <= TARGET_ROUND_OVER_ZMQ,
            "raw_zmq_message_bytes": size,
            "messaging_over_raw_zmq_p50": round(over / base, 2)
            if over is not None and base > 0 else None,
            "load_average_1min": round(os.getloadavg()[0], 2)}


REPEATS = 3
"""Negotiations of the instance, each followed by the same-work baseline's and as many
rounds of the echo: all three meet the same load on a shared machine (the figures pool
the rounds of all of them; ``iterations`` and the answer are the first negotiation's)."""

TARGET_ROUND_OVER_ZMQ = 1.5
"""Issue #16 item 5: an ADMM round to 50 processes within 1.5x of plain pyzmq's round."""


def _equal(same: AdmmResult, ours: AdmmResult) -> bool:
    """The same negotiation: as many iterations, the same cost (to 1e-9 relative)."""
    return same.iterations == ours.iterations and \
        abs(same.cost_eur - ours.cost_eur) <= 1e-9 * max(1.0, abs(ours.cost_eur))


def _same_work_baseline(same_ms: list[float], equal: list[bool],
                        round_p50: float | None) -> dict:
    """The same negotiations with plain-pyzmq messaging (``vpp.runs.bench.zmq_baseline_admm``:
    the same aggregation and the same site solves, no project runtime), each right after
    ours; the target is judged against it (``docs/runtime.md``, Item 5), and shown against
    the bare echo too."""
    base = round(statistics.median(same_ms), 3) if same_ms else None
    ratio = round(round_p50 / base, 2) if round_p50 is not None and base else None
    return {"same_work_zmq_round_ms_p50": base,
            "same_work_zmq_round_ms_p99": round(zmq_baseline.pct(same_ms, 0.99), 3)
            if same_ms else None,
            "same_work_zmq_equal": bool(equal) and all(equal),
            "round_over_same_work_zmq_round": ratio,
            "target_bound": TARGET_ROUND_OVER_ZMQ,
            "target_judged_against": "same_work_zmq",
            "target_met": ratio is not None and ratio <= TARGET_ROUND_OVER_ZMQ,
            "load_average_1min_end": round(os.getloadavg()[0], 2)}
