"""Wiring of a frequency-response swarm in one process: a grid host (the grid agent, the
aggregator's report collector, the PUB) and a site host with the site agents, over
``inproc://`` or loopback ``tcp://``; optionally traced. Used by ``vpp run`` for a scenario
with a ``grid:`` section and by ``vpp bench frequency``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import zmq
from vpp.agents.frequency.grid import (
    DriveResult,
    GridAgent,
    ReplaySource,
    ReportCollector,
    SwingSource,
    drive_simulated,
)
from vpp.agents.frequency.site import FrequencySiteAgent
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.clock import Clock, SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, shard_path

GRID_HOST = "grid"
GRID_ADDRESS = "grid/grid"
"""Where sites meter their answers."""
AGGREGATOR_ADDRESS = "grid/aggregator"
"""Where sites send their service reports."""
SITE_HOST = "sites"

_ids = itertools.count()


class FrequencyRig:
    """A grid host and a site host, wired and served by one event loop.

    Args:
        source: the grid's frequency source.
        sites: the site agents; the rig points each at its grid agent and report
            collector (``<grid host>/grid``, ``<grid host>/aggregator``).
        sample_period_s: time between samples.
        transport: ``inproc`` or ``tcp`` (loopback, free ports).
        clock: the agents' clock (default: a new simulated clock).
        run_dir: where the trace shards go (None: no trace).
        event: the event's name.
        hosts: the names of the grid host and the site host (trace shards are named after
            them; the sites' addresses assume the defaults).
        record_sites: the grid agent keeps each site's metered response per sample.
        pub_keys: with ``tcp``, the grid publisher's CURVE key pair (public, secret): the
            samples go out on a CURVE endpoint (:attr:`secure_pub_endpoint`, the one the
            rig's site host hears), which ``vpp site --frequency-key`` can read too.
    """

    def __init__(self, source: SwingSource | ReplaySource, sites: Sequence[FrequencySiteAgent],
                 *, sample_period_s: float, transport: str = "inproc",
                 clock: Clock | None = None, run_dir: Path | None = None,
                 event: str = "event", context: zmq.Context | None = None,
                 hosts: tuple[str, str] = (GRID_HOST, SITE_HOST),
                 record_sites: bool = False,
                 pub_keys: tuple[bytes, bytes] | None = None) -> None:
        if transport not in ("inproc", "tcp"):
            raise ValueError(f"transport must be inproc or tcp, got {transport!r}")
        self.clock = clock or SimulatedClock()
        self._own_context = context is None
        self.context = context or zmq.Context()
        k = next(_ids)
        if transport == "inproc":
            ends = (f"inproc://freq-grid-{k}", f"inproc://freq-pub-{k}", f"inproc://freq-sites-{k}")
        else:
            ends = ("tcp://127.0.0.1:*",) * 3
        grid_name, site_name = hosts
        reg = default_registry()
        self.traces = []
        trace_grid = trace_sites = None
        if run_dir is not None:
            trace_grid = TraceRecorder(shard_path(run_dir, grid_name), grid_name)
            trace_sites = TraceRecorder(shard_path(run_dir, site_name), site_name)
            self.traces = [trace_grid, trace_sites]
        self.grid_host = Host(grid_name, ends[0], pub_endpoint=ends[1], context=self.context,
                              clock=self.clock, registry=reg, trace=trace_grid)
        self.site_host = Host(site_name, ends[2], context=self.context, clock=self.clock,
                              registry=reg, trace=trace_sites)
        self.secure_pub_endpoint: str | None = None
        if pub_keys is not None:
            from vpp.agents.runtime.curve import publish_securely, subscriber_setup

            if transport != "tcp":
                raise ValueError("pub_keys: a CURVE feed needs the tcp transport")
            self.secure_pub_endpoint = publish_securely(self.grid_host, "tcp://127.0.0.1:*",
                                                        *pub_keys)
            subscriber_setup(pub_keys[0])(self.site_host.sub)
            self.site_host.connect(grid_name, self.grid_host.endpoint)
            self.site_host.hear(self.secure_pub_endpoint)
        else:
            self.site_host.connect(grid_name, self.grid_host.endpoint,
                                   self.grid_host.pub_endpoint)
        self.grid_host.connect(site_name, self.site_host.endpoint)
        self.sites = list(sites)
        for site in self.sites:
            site.grid = f"{grid_name}/grid"
            site.aggregator = f"{grid_name}/aggregator"
        self.grid = GridAgent("grid", source, sample_period_s=sample_period_s,
                              sites=[f"{site_name}/{s.name}" for s in self.sites], event=event,
                              record_sites=record_sites)
        self.reports = ReportCollector("aggregator")
        self.grid_host.add(self.grid)
        self.grid_host.add(self.reports)
        for s in self.sites:
            self.site_host.add(s)
        self.loop = EventLoop(self.grid_host, self.site_host)

    def run(self, duration_s: float, response_timeout_s: float = 2.0, *,
            before_sample: Callable[[int], None] | None = None,
            pace: float | None = None) -> DriveResult:
        """Drive the event in simulated time (the clock must be a SimulatedClock);
        ``before_sample`` and ``pace`` as in :func:`vpp.agents.frequency.grid.drive_simulated`."""
        if not isinstance(self.clock, SimulatedClock):
            raise TypeError("FrequencyRig.run drives simulated time; use a SimulatedClock")
        return drive_simulated(self.loop, self.grid, self.clock, duration_s,
                               response_timeout_s=response_timeout_s, reports=self.reports,
                               before_sample=before_sample, pace=pace)

    def close(self) -> None:
        """Close the hosts, the trace shards and (if made here) the context."""
        self.grid_host.close()
        self.site_host.close()
        for t in self.traces:
            t.close()
        if self._own_context:
            self.context.destroy(linger=0)
