"""One process: the aggregator's host and the sites' host side by side, over ``inproc://``.

Every aggregator-site message still crosses ZeroMQ and is traced. A ``mesa.Model`` holds
the sites (as mesa agents) and seeds their random streams, one per site, from the run's
seed: the same streams a site process derives (``vpp.agents.membership.site_link``), so a
scenario gives the same answer in every placement.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from operator import attrgetter, methodcaller
from typing import Any

import mesa
import zmq
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.coordination.dispatch import DISPATCH_TOPIC, Applied, StepCleared
from vpp.runs.placement.base import STEP_TIMEOUT_S, RunStopped, SiteBuilder
from vpp.runs.placement.collector import fleet_built, fleet_closed
from vpp.runs.scenario import Scenario
from vpp.runs.stages import announce

log = logging.getLogger(__name__)

_RUN_IDS = itertools.count()
_NAME = attrgetter("name")

class SiteMember(mesa.Agent):
    """A site agent as a member of the local model (what mesa holds)."""

    def __init__(self, model: LocalFleet, site: Agent) -> None:
        super().__init__(model)
        self.site = site


class LocalPlacement:
    """Every agent in this process (the default placement)."""

    name = "local"

    def open(self, scenario: Scenario, context: Any, sites: SiteBuilder) -> LocalFleet:
        """A :class:`LocalFleet` whose site host holds every site ``sites`` builds."""
        return LocalFleet(scenario, context, sites)


def open_local_hosts(scenario: Scenario, context: Any, *, shard: str = "local",
                     **meta: Any) -> tuple[SimulatedClock, zmq.Context, TraceRecorder]:
    """The simulated clock at the scenario's start, a ZeroMQ context and the trace shard
    ``shard`` of a one-process run (its meta rows written, at the run's trace level)."""
    from vpp.runs.record.trace_level import apply_level

    clock = SimulatedClock(scenario.start)
    ctx = zmq.Context()
    trace = TraceRecorder(shard_path(context.out_dir, shard), shard)
    apply_level(trace, context, scenario)
    trace.set_meta(scenario=scenario.name, seed=context.seed, steps=scenario.steps,
                   step_minutes=scenario.step_minutes, start=scenario.start.isoformat(),
                   processes=1, **meta)
    return clock, ctx, trace


class LocalFleet(mesa.Model):
    """The aggregator's host ``agg`` and the sites' host ``sites`` in this process.

    Args:
        scenario: the validated scenario.
        context: the run's context (directory, seed, mode metadata for the trace).
        build: builds the site agents, each with its stream of the run's seed.
    """

    def __init__(self, scenario: Scenario, context: Any, build: SiteBuilder) -> None:
        super().__init__(seed=context.seed)
        entries = list(scenario.entries())
        self.names = [e.name for e in entries]
        # the sites first: a bad value fails the run before any socket or file is open
        self.local_sites = build(scenario, entries, self.rng.spawn(len(entries)))
        announce("starting agents")
        self.clock, self.context, self.trace = open_local_hosts(scenario, context,
                                                                **context.meta)
        run = f"vpp-{id(self)}-{next(_RUN_IDS)}"
        # deadlines on simulated time: the loop moves the clock once both hosts are idle
        common = {"context": self.context, "clock": self.clock, "timer_clock": self.clock,
                  "registry": default_registry(), "trace": self.trace}
        self.host = Host("agg", f"inproc://{run}-agg", pub_endpoint=f"inproc://{run}-pub",
                         **common)
        self.site_host = Host("sites", f"inproc://{run}-sites", **common)
        self.host.connect("sites", self.site_host.endpoint)
        self.site_host.connect("agg", self.host.endpoint, self.host.pub_endpoint)
        self.hosts = [self.host, self.site_host]
        for site in self.local_sites:
            self.site_host.add(site)
            SiteMember(self, site)
        self._addresses = [s.address for s in self.local_sites]
        self.loop = EventLoop(self.host, self.site_host)
        self.loop.run_once(0.0)  # let the subscriptions reach the publisher
        self._horizon_s: float | None = None
        self.closed = False
        fleet_built()

    def site_addresses(self) -> list[str]:
        """Every site's address, in scenario order."""
        return list(self._addresses)

    def address_of(self, site: str) -> str:
        """The address of the site named ``site``."""
        return f"{self.site_host.name}/{site}"

    def deadline_floor_ms(self) -> int:
        """0: the deadlines here run on simulated time, which waits for the sites."""
        return 0

    def begin_step(self, k: int, start_s: float, end_s: float) -> None:
        """Move the simulated clock to the step's start; its deadlines may run until
        ``end_s`` (the next step's start)."""
        self.clock.advance_to(max(self.clock.now(), start_s))
        self._horizon_s = end_s

    def wait(self, done: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S,
             ) -> None:
        """Serve until ``done()``, simulated time moving to the next deadline whenever
        the hosts are idle (never past the step's end); :class:`RunStopped` past
        ``timeout_s`` wall seconds (a safety net)."""
        if not self.loop.run_until(done, timeout_s, horizon_s=self._horizon_s):
            raise RunStopped(f"{what} did not finish within {timeout_s:g} s")

    def deliver(self, k: int, cleared: StepCleared, sender: Agent, *, conversation: str,
                round: int) -> dict[str, Applied]:
        """Broadcast the outcome on the dispatch topic, wait until every site ran it, and
        read what each did."""
        sender.publish(DISPATCH_TOPIC, cleared, conversation=conversation, round=round)
        sites, seen = self.local_sites, 0

        def ran() -> bool:  # each site looked at until it has run, not on every pass
            nonlocal seen
            while seen < len(sites) and sites[seen].last_cleared_step == k:
                seen += 1
            return seen == len(sites)

        self.wait(ran, f"step {k}'s delivery")
        return dict(zip(map(_NAME, sites), map(methodcaller("applied", k), sites)))

    def finish(self) -> None:
        """Nothing to stop: the sites end with the hosts."""

    def register_metrics(self, metrics: Any) -> None:
        """Nothing beyond the hosts' counters."""

    def summary(self) -> dict[str, Any]:
        """Messages sent and dropped by the two hosts."""
        return {"messages": sum(h.stats.sent for h in self.hosts),
                "dropped": sum(h.stats.dropped_total for h in self.hosts)}

    def close(self) -> None:
        """Close the hosts, the trace shard and the ZeroMQ context (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            for host in self.hosts:
                host.close()
        finally:
            try:
                self.trace.close()
                self.context.term()
            finally:
                fleet_closed()
