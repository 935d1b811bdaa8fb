"""A plain-pyzmq baseline of the fan-out patterns our process benches measure.

The same shape as the project's path, with none of its code: one parent and N child
processes on loopback TCP, each child with its own ZeroMQ context.

- ``pubsub`` (``vpp bench frequency --processes``): the parent PUBlishes a sample; each
  child's SUB receives it, notes the time and answers on a DEALER to the parent's ROUTER.
- ``router`` (``vpp bench admm --processes``): the parent sends an addressed message of
  ``payload_bytes`` through its ROUTER to each child's DEALER (the child connected to it),
  and each child answers with as many bytes.

For each round: ``fanout`` is from just before the send to the last child's receipt
(``time.monotonic_ns``, one clock for every process of the machine), ``answered`` to the
moment the parent holds every answer. Children are started with ``spawn`` and import only
this module (pyzmq and the standard library).
"""

from __future__ import annotations

import multiprocessing as mp
import struct
import time
from typing import Self

import zmq

_STAMP = struct.Struct("<qq")  # (round, receipt time in ns)


def _child(index: int, pattern: str, router: str, pub: str | None, conn) -> None:
    """One child: answer every round until told ``end``."""
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, f"c{index}".encode())
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(router)
    poller = zmq.Poller()
    if pattern == "pubsub":
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(pub)
        source = sub
    else:
        source = dealer
    poller.register(source, zmq.POLLIN)
    poller.register(conn.fileno(), zmq.POLLIN)  # readable: the parent is gone
    dealer.send(b"hello")
    conn.send_bytes(b"ready")
    pad = b""
    try:
        while True:
            # idle while the caller runs its own block of rounds; ends with the parent
            events = dict(poller.poll(900_000))
            if source not in events:
                return
            msg = source.recv()
            now = time.monotonic_ns()
            if msg == b"end":
                return
            seq = int.from_bytes(msg[:8], "little")
            if not pad:
                pad = bytes(max(len(msg) - _STAMP.size, 0))
            dealer.send(_STAMP.pack(seq, now) + pad)
    finally:
        ctx.destroy(linger=0)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    values = sorted(values)
    return values[min(len(values) - 1, max(int(-(-q * len(values) // 1)) - 1, 0))]


class RoundTrips:
    """N children started and ready; :meth:`rounds` runs rounds of the pattern on demand,
    so that a caller can interleave blocks of them with its own (both then meet the same
    load). Close it (or use it as a context manager) to end the children.

    Args:
        processes: child processes.
        pattern: ``pubsub`` or ``router`` (see the module docstring).
        payload_bytes: the size of each message.
    """

    def __init__(self, processes: int, pattern: str = "pubsub", payload_bytes: int = 64) -> None:
        if pattern not in ("pubsub", "router"):
            raise ValueError(f"pattern must be pubsub or router, got {pattern!r}")
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.processes, self.pattern = processes, pattern
        self._seq = 0
        self._pad = bytes(max(payload_bytes - 8, 0))
        self._ctx = ctx = zmq.Context()
        self._procs: list = []
        self._pipes: list = []
        self.pub: zmq.Socket | None = None
        try:
            self._start(ctx)
        except BaseException:
            self.close()
            raise

    def _start(self, ctx: zmq.Context) -> None:
        router = self.router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.bind("tcp://127.0.0.1:*")
        router_ep = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        pub_ep = None
        if self.pattern == "pubsub":
            self.pub = ctx.socket(zmq.PUB)
            self.pub.setsockopt(zmq.LINGER, 0)
            self.pub.bind("tcp://127.0.0.1:*")
            pub_ep = self.pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        spawn = mp.get_context("spawn")
        pipes = []
        for i in range(self.processes):
            parent, child = spawn.Pipe()
            proc = spawn.Process(target=_child, args=(i, self.pattern, router_ep, pub_ep,
                                                      child), daemon=True)
            proc.start()
            self._procs.append(proc)
            pipes.append(parent)
        self._pipes = pipes  # held open: a child ends when its pipe does
        end = time.monotonic() + 300.0
        for proc, parent in zip(self._procs, pipes):
            while not parent.poll(0.1):
                if proc.exitcode is not None or time.monotonic() > end:
                    raise RuntimeError(f"baseline child {proc.name} did not start "
                                       f"(exit code {proc.exitcode})")
            if parent.recv_bytes() != b"ready":
                raise RuntimeError(f"baseline child {proc.name} did not start")
        self.identities: list[bytes] = []
        while len(self.identities) < self.processes:
            if not router.poll(30_000):
                raise RuntimeError("baseline children did not say hello")
            identity, _ = router.recv_multipart()
            self.identities.append(identity)
        if self.pub is not None:
            # a subscription takes a moment to reach the publisher: publish until all answer
            _warm_up(self.pub, router, self.processes, self._pad)

    def rounds(self, n: int) -> tuple[list[float], list[float]]:
        """Run ``n`` rounds; return their ``fanout`` and ``answered`` times (ms)."""
        router, pub, processes = self.router, self.pub, self.processes
        fanout, answered = [], []
        for _ in range(n):
            self._seq += 1
            seq = self._seq
            frame = seq.to_bytes(8, "little") + self._pad
            t0 = time.monotonic_ns()
            if pub is not None:
                pub.send(frame)
            else:
                for identity in self.identities:
                    router.send_multipart([identity, frame])
            last_receipt, got = 0, 0
            while got < processes:
                if not router.poll(5_000):
                    raise RuntimeError(f"baseline round {seq}: {got} of {processes} answered")
                _, answer = router.recv_multipart()
                rseq, receipt = _STAMP.unpack_from(answer)
                if rseq == seq:
                    got += 1
                    last_receipt = max(last_receipt, receipt)
            done = time.monotonic_ns()
            fanout.append((last_receipt - t0) / 1e6)
            answered.append((done - t0) / 1e6)
        return fanout, answered

    def close(self) -> None:
        """Tell the children to end, wait for them (terminate the late), free the sockets."""
        try:
            if self._procs and getattr(self, "identities", None):
                if self.pub is not None:
                    self.pub.send(b"end")
                else:
                    for identity in self.identities:
                        self.router.send_multipart([identity, b"end"])
                time.sleep(0.05)
        finally:
            for proc in self._procs:
                proc.join(5.0)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(5.0)
            for pipe in self._pipes:
                pipe.close()
            self._procs, self._pipes = [], []
            self._ctx.destroy(linger=0)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def figures(fanout: list[float], answered: list[float]) -> dict:
    """p50 and p99 of the ``fanout`` and ``answered`` times (ms)."""
    return {"fanout_ms_p50": round(pct(fanout, 0.5), 3),
            "fanout_ms_p99": round(pct(fanout, 0.99), 3),
            "answered_ms_p50": round(pct(answered, 0.5), 3),
            "answered_ms_p99": round(pct(answered, 0.99), 3)}


def run(processes: int, rounds: int = 200, pattern: str = "pubsub",
        payload_bytes: int = 64) -> dict:
    """Rounds of send-to-all-and-gather with ``processes`` child processes over TCP.

    Returns ``fanout_ms_p50/p99`` and ``answered_ms_p50/p99`` (see the module docstring).
    """
    if pattern not in ("pubsub", "router"):
        raise ValueError(f"pattern must be pubsub or router, got {pattern!r}")
    if processes < 1 or rounds < 1:
        raise ValueError("processes and rounds must be at least 1")
    with RoundTrips(processes, pattern, payload_bytes) as trips:
        fanout, answered = trips.rounds(rounds)
    return {**figures(fanout, answered), "rounds": rounds, "processes": processes,
            "pattern": pattern}


def _warm_up(pub: zmq.Socket, router: zmq.Socket, processes: int, pad: bytes) -> None:
    """Publish round 0 until every child has answered it (slow-joiner subscriptions)."""
    seen: set[bytes] = set()
    end = time.monotonic() + 60.0
    while len(seen) < processes:
        if time.monotonic() > end:
            raise RuntimeError(f"baseline: {len(seen)} of {processes} children subscribed")
        pub.send((0).to_bytes(8, "little") + pad)
        deadline = time.monotonic() + 0.05
        while (left := deadline - time.monotonic()) > 0 and router.poll(left * 1000):
            identity, _ = router.recv_multipart()
            seen.add(identity)
    # drain late copies of round 0
    while router.poll(50):
        router.recv_multipart()
