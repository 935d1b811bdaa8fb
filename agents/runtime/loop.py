"""An event loop that serves one or more hosts from one thread.

A local swarm runs its aggregator host and its site host in one process; a site process
runs one host. Either way the loop polls every host's sockets, delivers what arrived and
runs due timers, until a condition holds or time runs out.

When its hosts' deadlines run on a :class:`~vpp.agents.runtime.clock.SimulatedClock`
(``Host(timer_clock=...)``, a one-process simulated run), the loop also drives that clock:
:meth:`EventLoop.run_until` given a ``horizon_s`` moves simulated time to the next deadline
once every host it serves is quiescent, never past the horizon; so what a run does does
not depend on how fast the machine is. See ``docs/runtime.md`` (Time).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import zmq
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host


class SimulationStalled(RuntimeError):
    """Every host of a simulated loop is quiescent, the wait is not over, and no timer is
    due by the horizon: nothing can end the wait (a bug, or deadlines that add up past the
    step's window)."""


class EventLoop:
    """Polls the sockets of its hosts and runs their timers.

    Args:
        hosts: the hosts to serve (more may be added with :meth:`add`).

    Attributes:
        clock: the simulated clock the hosts' deadlines run on, which this loop drives
            (None: every host's deadlines are on wall time).
    """

    def __init__(self, *hosts: Host) -> None:
        self.hosts: list[Host] = []
        self.clock: SimulatedClock | None = None
        self._poller = zmq.Poller()
        self._owner: dict[zmq.Socket, Host] = {}
        for host in hosts:
            self.add(host)

    def add(self, host: Host) -> None:
        """Serve ``host`` too (its deadlines on wall time, or on this loop's simulated
        clock: one loop drives one simulated clock)."""
        clock = host.timers.simulated_clock
        if clock is not None:
            if self.clock is not None and clock is not self.clock:
                raise ValueError(f"host {host.name}'s timers run on another simulated clock "
                                 "than this loop's: one loop drives one simulated clock")
            self.clock = clock
        self.hosts.append(host)
        for sock in host.sockets():
            self._poller.register(sock, zmq.POLLIN)
            self._owner[sock] = host

    def _pass(self, timeout_s: float) -> tuple[int, int]:
        """Send what is queued, wait up to ``timeout_s`` for traffic or a timer, deliver,
        run the due timers, send; return (frames read, timers run)."""
        hosts = self.hosts  # (once per wake-up of every process: no lists built)
        for host in hosts:
            host.flush_out()
        wait = timeout_s
        for host in hosts:
            due = host.next_timer_in()
            if due is not None and due < wait:
                wait = due
        read = ran = 0
        owner = self._owner
        for sock, _ in self._poller.poll(max(wait, 0.0) * 1000.0):
            read += owner[sock].drain(sock)
        for host in hosts:
            ran += host.run_timers()
        for host in hosts:
            host.flush_out()
        return read, ran

    def run_once(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for traffic or a timer; handle it; return frames read.
        (Simulated time is not moved: only :meth:`run_until` with a horizon moves it.)"""
        return self._pass(timeout_s)[0]

    def flush_out(self) -> None:
        """Send what every host has queued."""
        for host in self.hosts:
            host.flush_out()

    def run_until(self, done: Callable[[], bool], timeout_s: float, *,
                  horizon_s: float | None = None) -> bool:
        """Serve until ``done()`` is true (True) or ``timeout_s`` wall seconds passed (False).

        With ``horizon_s`` and a simulated clock (:attr:`clock`), simulated time moves
        here: whenever every host is quiescent (each outbox sent, nothing waiting on any
        socket, no timer due now) and ``done()`` is still false, the clock is advanced to
        the earliest simulated deadline of any host, if it is due at or before
        ``horizon_s`` (simulated seconds), and that deadline runs. ``timeout_s`` is then
        only a safety net. Raises :class:`SimulationStalled` when the hosts are quiescent
        and no deadline is due by the horizon (and no wall timer is pending): the wait
        could never end. Without ``horizon_s`` simulated time stays where it is.
        """
        end = time.monotonic() + timeout_s
        clock = self.clock if horizon_s is not None else None
        while not done():
            left = end - time.monotonic()
            if left <= 0:
                return done()
            if clock is None:
                self.run_once(min(left, 0.05))
                continue
            if any(self._pass(0.0)) or done():
                continue
            # quiescent: what was sent was read (inproc: visible to the peer's poll at once)
            due = self._next_simulated_due()
            if due is not None and due <= horizon_s:
                clock.advance_to(max(due, clock.now()))
                continue
            walls = [t for t in (h.next_timer_in() for h in self.hosts) if t is not None]
            if walls:  # housekeeping on wall time (a drop log): serve until it is due
                self._pass(min(left, *walls, 0.05))
                continue
            raise SimulationStalled(self._stalled(clock.now(), due, horizon_s))
        return True

    def run_for(self, seconds: float) -> None:
        """Serve for ``seconds`` of wall time whatever happens (simulated time stays)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.run_once(left)

    def _next_simulated_due(self) -> float | None:
        dues = [d for d in (h.timers.next_simulated_due() for h in self.hosts) if d is not None]
        return min(dues) if dues else None

    def _stalled(self, now: float, due: float | None, horizon_s: float) -> str:
        hosts = ", ".join(h.name for h in self.hosts)
        if due is None or math.isinf(due):
            return (f"at simulated {now:g} s every host ({hosts}) is idle, the wait is not "
                    "over and no deadline is armed: nothing can end it")
        return (f"at simulated {now:g} s every host ({hosts}) is idle, the wait is not over "
                f"and the next deadline is due at {due:g} s, past {horizon_s:g} s (the end of "
                "the window it may run in): the deadlines add up past the window")
