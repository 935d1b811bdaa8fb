"""What a placement gives a dispatching mode: a :class:`Fleet`, the aggregator's side of the
run, wherever the sites live.

A placement decides where agents live (``local``: one process; ``processes``: site
processes from a warm fork server; ``remote``: ``vpp aggregator`` with ``vpp site``
processes on other machines). A dispatching mode (merit order, ADMM) asks the placement to
:meth:`Placement.open` a fleet for its scenario, adds its aggregator agent to the fleet's
host, and then, each step, negotiates with :meth:`Fleet.site_addresses` and hands the
outcome to :meth:`Fleet.deliver`, which returns what every site ran. The mode never knows
where its sites are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.runs.scenario import Scenario, SiteEntry

STEP_TIMEOUT_S = 60.0
"""Wall seconds a step's negotiation or delivery may take before the run stops with an
error (a safety net: a step that takes this long is a bug or a dead fleet)."""

SiteBuilder = Callable[[Scenario, Sequence[SiteEntry], Sequence[np.random.Generator]], list]
"""Builds the site agents of the given entries in this process, each with its random
stream (a dispatching mode gives one to a placement that hosts sites locally)."""


class RunStopped(RuntimeError):
    """A run that cannot go on (a step that never ends, a fleet that is gone); the runner
    keeps what was recorded and writes the summary so far."""


class Fleet(Protocol):
    """The aggregator's side of a dispatching run, wherever the sites live.

    Attributes:
        clock: the run's simulated clock.
        trace: this process's trace shard.
        host: the aggregator's host (the mode adds its aggregator agent to it).
        loop: the event loop serving this process's hosts.
        hosts: this process's hosts (the ops metrics read their counters).
        local_sites: the site agents hosted in this process (none for a remote fleet).
        names: every site's name, in scenario order.
    """

    clock: SimulatedClock
    trace: TraceRecorder
    host: Host
    loop: EventLoop
    hosts: list[Host]
    local_sites: list
    names: list[str]

    def site_addresses(self) -> list[str]:
        """The addresses of the sites that take part now, in scenario (tie) order."""
        ...

    def address_of(self, site: str) -> str:
        """The address of the site named ``site`` (where it is served now)."""
        ...

    def begin_step(self, k: int, start_s: float, end_s: float) -> None:
        """Step ``k`` starts at ``start_s`` simulated seconds (the clock moves there) and
        ends at ``end_s``: under a simulated clock its deadlines run until then."""
        ...

    def deadline_floor_ms(self) -> int:
        """The shortest phase deadline in which the largest site process can answer a call
        to all its sites (0 where deadlines run on simulated time)."""
        ...

    def wait(self, done: Callable[[], bool], what: str) -> None:
        """Serve until ``done()``; raise :class:`RunStopped` naming ``what`` past the
        step timeout."""
        ...

    def deliver(self, k: int, cleared: StepCleared, sender: Agent, *, conversation: str,
                round: int) -> dict[str, Applied]:
        """Tell every site step ``k``'s outcome (from ``sender``), wait until each has run
        it; return what each ran, by site name."""
        ...

    def finish(self) -> None:
        """The steps are over: stop the sites (once)."""
        ...

    def register_metrics(self, metrics: Any) -> None:
        """Register the placement's figures (a remote fleet's: sites up, heartbeats)."""
        ...

    def summary(self) -> dict[str, Any]:
        """The placement's part of the summary (messages, drops; who joined or was lost)."""
        ...

    def close(self) -> None:
        """Stop the sites, close the hosts and the trace (idempotent)."""
        ...


class Placement(Protocol):
    """Where a run's agents live.

    Attributes:
        name: ``local``, ``processes`` or ``remote`` (the manifest records it).
    """

    name: str

    def open(self, scenario: Scenario, context: Any, sites: SiteBuilder) -> Fleet:
        """The fleet of ``scenario`` for a run in ``context`` (a
        :class:`~vpp.runs.modes.base.RunContext`); ``sites`` builds the site agents the
        placement hosts in this process."""
        ...
