"""An event loop that serves one or more hosts from one thread.

A local swarm runs its aggregator host and its site host in one process; a site process
runs one host. Either way the loop polls every host's sockets, delivers what arrived and
runs due timers, until a condition holds or time runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import zmq
from vpp.agents.runtime.host import Host


class EventLoop:
    """Polls the sockets of its hosts and runs their timers.

    Args:
        hosts: the hosts to serve (more may be added with :meth:`add`).
    """

    def __init__(self, *hosts: Host) -> None:
        self.hosts: list[Host] = []
        self._poller = zmq.Poller()
        self._owner: dict[zmq.Socket, Host] = {}
        for host in hosts:
            self.add(host)

    def add(self, host: Host) -> None:
        """Serve ``host`` too."""
        self.hosts.append(host)
        for sock in host.sockets():
            self._poller.register(sock, zmq.POLLIN)
            self._owner[sock] = host

    def run_once(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for traffic or a timer; handle it; return frames read."""
        self.flush_out()
        waits = [t for t in (h.next_timer_in() for h in self.hosts) if t is not None]
        wait = min([timeout_s, *waits])
        read = 0
        for sock, _ in self._poller.poll(max(wait, 0.0) * 1000.0):
            read += self._owner[sock].drain(sock)
        for host in self.hosts:
            host.run_timers()
        self.flush_out()
        return read

    def flush_out(self) -> None:
        """Send what every host has queued."""
        for host in self.hosts:
            host.flush_out()

    def run_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Serve until ``done()`` is true (True) or ``timeout_s`` passed (False)."""
        end = time.monotonic() + timeout_s
        while not done():
            left = end - time.monotonic()
            if left <= 0:
                return done()
            self.run_once(min(left, 0.05))
        return True

    def run_for(self, seconds: float) -> None:
        """Serve for ``seconds`` whatever happens."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.run_once(left)
