"""The site processes of ``vpp bench admm --processes``: ADMM site agents and a link.

Kept apart from ``vpp.runs.bench.admm_processes`` so that a child imports nothing heavy (that
module imports the centralized reference solver, cvxpy, which would cost each child
more than a second); the fork server preloads this module.
"""

from __future__ import annotations

import logging
import uuid

import zmq
from vpp.agents.admm.negotiation import AdmmSiteAgent
from vpp.agents.membership.messages import Heartbeat, Stop, distributed_registry
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.admm.instances import random_sites
from vpp.runs.placement.site_process import parent_gone
from vpp.runs.placement.spawn import set_parent_death_signal


class BenchLink(Agent):
    """The site side of the bench's join: says hello until answered, stops on Stop."""

    role = "link"

    def __init__(self) -> None:
        super().__init__("link")
        self.joined = False
        self.stopped = False
        self.on(Heartbeat, lambda env, beat: setattr(self, "joined", True))
        self.on(Stop, lambda env, stop: setattr(self, "stopped", True))

    def started(self) -> None:
        self.host.call_later(0.0, self._hello)

    def _hello(self) -> None:
        if not self.joined:
            self.send("agg/ready", Heartbeat(0))
            self.host.call_later(0.2, self._hello)


def admm_child(host_name: str, indices: tuple[int, ...], n_sites: int, horizon: int,
                seed: int, connect: str, parent, log_level: int) -> None:
    """A site process of the ADMM bench (runs in the child; ``parent`` is the pipe end
    whose end-of-file means the parent is gone)."""
    set_parent_death_signal()
    logging.basicConfig(level=log_level)
    models = random_sites(n_sites, horizon, 1.0, seed)
    context = zmq.Context()
    host = Host(host_name, f"inproc://{host_name}-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry())
    host.connect("agg", connect, duplex=True)
    for i in indices:
        host.add(AdmmSiteAgent(models[i].name, models[i]))
    link = host.add(BenchLink())
    loop = EventLoop(host)
    try:
        while not link.stopped:
            # the parent's pipe is looked at when nothing arrived, at least every second
            # (not once per round: a system call on every wake-up of 50 processes)
            if not loop.run_once(1.0) and parent_gone(parent.fileno()):
                break
    finally:
        host.close()
        context.term()


