"""A plain-pyzmq ADMM negotiation: the same per-round work as ``vpp bench admm --processes``,
none of the project's message path.

The bare echo of :mod:`vpp.runs.bench.zmq_baseline` (``router``) measures what waking N
processes and moving a round's bytes costs; its children do no solve, so the ADMM round of
site processes, each of which solves its local QP, cannot come near it on a machine with
fewer cores than processes. This baseline does the same *work* as the project's bench and
replaces only the messaging:

- the parent runs the same :class:`~vpp.coordination.admm.protocol.AdmmAggregation` (the
  sharing update, residuals, penalty balancing) on the same instance;
- each child (started from the same warm fork server, one thread for the numerical
  libraries, as the project's site processes) answers each round of its sites with the
  same :meth:`~vpp.coordination.admm.site.AdmmSiteSolver.on_round` (the same OSQP solve on
  the same data, warm-started the same way);
- the messages are the round bodies encoded with ``msgspec`` and sent on a plain ROUTER /
  DEALER pair over loopback TCP: no envelope, host, inbox, batching, timers, trace or
  event loop of the project.

So the negotiation is the same one (same iterations, same cost: ``run`` reports both), and
the round time over this baseline's isolates what the project's runtime adds.
``round_ms_p50`` is measured as the project's bench measures it: between the ends of
consecutive rounds (the moment the round is closed and the next one sent).
"""

from __future__ import annotations

import itertools
import logging
import statistics
import time

import msgspec
import zmq
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.protocol import AdmmAggregation, AdmmResult, AdmmSettings
from vpp.coordination.admm.site import AdmmSiteSolver
from vpp.runs.placement.site_process import parent_gone
from vpp.runs.placement.spawn import PRELOAD, SiteSpawner, deal, set_parent_death_signal

log = logging.getLogger(__name__)

_ROUND, _DONE, _END = b"r", b"d", b"e"


def samework_child(name: str, indices: tuple[int, ...], n_sites: int, horizon: int,
                   seed: int, router: str, parent, log_level: int) -> None:
    """A child: solve each round of its sites with the site's own solver, answer in pyzmq
    (runs in the child; ``parent`` is the pipe whose end-of-file means the parent is gone)."""
    set_parent_death_signal()
    logging.basicConfig(level=log_level)
    models = random_sites(n_sites, horizon, 1.0, seed)
    solvers = {models[i].name.encode(): AdmmSiteSolver(models[i]) for i in indices}
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, name.encode())
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(router)
    decode_round = msgspec.msgpack.Decoder(AdmmRound).decode
    decode_done = msgspec.msgpack.Decoder(AdmmDone).decode
    encode = msgspec.msgpack.Encoder().encode
    dealer.send(b"hello")
    try:
        while True:
            if not dealer.poll(1000):
                if parent_gone(parent.fileno()):
                    return
                continue
            site, kind, body = dealer.recv_multipart()
            if kind == _END:
                return
            if kind == _ROUND:
                dealer.send_multipart([site, encode(solvers[site].on_round(decode_round(body)))])
            else:
                solvers[site].on_done(decode_done(body))
    finally:
        ctx.destroy(linger=0)


class SameWork:
    """The children started and joined; :meth:`negotiate` runs one negotiation on demand
    (so that a caller can alternate them with its own). Close it to end the children.

    Args:
        sites, horizon, seed: the bench's instance (``random_sites``/``random_target``).
        processes: child processes (sites dealt as the project's bench deals them).
        settings: the negotiation's settings.
    """

    def __init__(self, sites: int, processes: int, horizon: int = 24, seed: int = 0,
                 settings: AdmmSettings | None = None) -> None:
        models = random_sites(sites, horizon, 1.0, seed)
        self.names = [m.name for m in models]
        self.coupling = random_target(models, seed)
        self.horizon, self.settings = horizon, settings or AdmmSettings()
        self.processes = processes
        groups = deal(self.names, processes)
        index = {m.name: i for i, m in enumerate(models)}
        self._owner = {n: g.host.encode() for g in groups for n in g.sites}
        self._ctx = zmq.Context()
        self.router = self._ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:*")
        endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(AdmmSchedule).decode
        self._hello: set[bytes] = set()
        self.clean_exit: bool | None = None
        self._spawner = SiteSpawner(preload=[*PRELOAD, "vpp.runs.bench.zmq_baseline_admm"])
        try:
            self._spawner.start_processes(samework_child, [
                (g.host, (g.host, tuple(index[n] for n in g.sites), sites, horizon, seed,
                          endpoint)) for g in groups])
            while len(self._hello) < processes:
                if not self.router.poll(120_000) or self._spawner.failed() is not None:
                    raise RuntimeError(self._spawner.failed() or f"{len(self._hello)} of "
                                       f"{processes} baseline processes said hello")
                identity, _ = self.router.recv_multipart()
                self._hello.add(identity)
        except BaseException:
            self.close()
            raise

    def negotiate(self, timeout_s: float = 600.0) -> tuple[list[float], AdmmResult]:
        """One negotiation; return the times between the ends of consecutive rounds (ms)
        and its result."""
        router, owner, encode, decode = self.router, self._owner, self._encode, self._decode
        negotiation = AdmmAggregation(self.names, self.coupling, self.horizon, 1.0,
                                      self.settings)
        ends: list[int] = []
        out = negotiation.start()
        closed = False
        end = time.monotonic() + timeout_s
        while True:
            for o in out:
                kind = _ROUND if isinstance(o.body, AdmmRound) else _DONE
                router.send_multipart([owner[o.receiver], o.receiver.encode(), kind,
                                       encode(o.body)])
            if closed:  # a round closed and what it leads to is sent: the project's stamp
                ends.append(time.monotonic_ns())
            if negotiation.done:
                break
            left = end - time.monotonic()
            if left <= 0 or not router.poll(min(left, 30.0) * 1000):
                raise RuntimeError(f"baseline round {negotiation.round}: no answer from "
                                   f"{sorted(negotiation.waiting_for)}")
            _, site, body = router.recv_multipart()
            out = negotiation.on_schedule(site.decode(), decode(body))
            closed = bool(out)
        return [(b - a) / 1e6 for a, b in itertools.pairwise(ends)], negotiation.result()

    def close(self) -> None:
        """Tell the children to end and wait for them (the late ones are stopped)."""
        try:
            for host in sorted(self._hello):
                self.router.send_multipart([host, b"", _END, b""])
            codes = self._spawner.stop(grace_s=5.0)
            self.clean_exit = codes == [0] * self.processes
        finally:
            self._hello = set()
            self._ctx.destroy(linger=0)


def run(sites: int = 50, processes: int = 50, horizon: int = 24, seed: int = 0,
        settings: AdmmSettings | None = None, timeout_s: float = 600.0) -> dict:
    """Negotiate the bench's random instance (``random_sites``/``random_target`` of
    ``seed``) with ``processes`` plain-pyzmq children; return the round figures, the
    iterations and the cost."""
    same = SameWork(sites, processes, horizon, seed, settings)
    try:
        t0 = time.perf_counter()
        rounds, result = same.negotiate(timeout_s)
        admm_s = time.perf_counter() - t0
    finally:
        same.close()
    return {"round_ms_p50": round(statistics.median(rounds), 3) if rounds else None,
            "round_ms_p99": round(_pct(rounds, 0.99), 3) if rounds else None,
            "iterations": result.iterations, "converged": result.converged,
            "cost_eur": result.cost_eur, "admm_s": round(admm_s, 3),
            "sites": sites, "processes": processes, "clean_exit": same.clean_exit}


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(int(-(-q * len(values) // 1)) - 1, 0))]
