"""The remote placement: sites in other processes join the aggregator over the network.

:class:`RemoteFleet` is the aggregator's side: one host ``agg`` listening at a ``tcp://``
(or ``ipc://``) endpoint, with the coordinator (joining, heartbeats, liveness, stop) and,
added by the mode, the aggregator. It waits for the site processes, then serves the mode's
steps as the one-process run does (the same negotiation, the same tie order), except that
each step's outcome goes to each site host (its link hands it to its sites) and is
acknowledged (the sites' ``Applied``, batched per host). ``vpp
aggregator`` runs it (:class:`RemotePlacement`); ``vpp run --processes`` too, with the
sites in local processes (``vpp.runs.placement.processes``). See
``docs/protocols/distributed.md``.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
from vpp.agents.membership.coordinator import CoordinatorAgent, LinkSettings, SiteAccess
from vpp.agents.membership.liveness import few
from vpp.agents.membership.messages import distributed_registry
from vpp.agents.membership.trace_sink import TraceSink, TraceSinkAgent
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.codec import SCENARIO_FRAME_BYTES
from vpp.agents.runtime.host import Host, SocketSetup
from vpp.agents.runtime.limits import PeerLimiter
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.runs.placement.base import STEP_TIMEOUT_S, RunStopped, SiteBuilder
from vpp.runs.record.trace_level import apply_level
from vpp.runs.scenario import Scenario
from vpp.runs.stages import announce

log = logging.getLogger(__name__)

AGGREGATOR_HOST = "agg"


class DistributedError(RunStopped):
    """A distributed run that cannot go on (too few sites joined, a step that never ends,
    every site lost)."""


APPLIED_KEPT_WHOLE = 2_000_000
"""Site-steps up to which a remote fleet keeps every step's acknowledgements
(``RemoteFleet.applied``); beyond, the last step's only."""


def scenario_digest(scenario: Scenario) -> str:
    """SHA-256 of the validated scenario: the aggregator and its sites must agree on it."""
    return hashlib.sha256(msgspec.json.encode(scenario)).hexdigest()


def listener_setup(settings: LinkSettings, then: SocketSetup | None = None) -> SocketSetup:
    """The options of the aggregator's listening ROUTER, then ``then``'s (CURVE keys).

    - ``ROUTER_HANDOVER`` 0: a host name belongs to the connection that took it first
      until that connection is gone; another connection under the same name is not read
      (ZeroMQ drops it before any of its messages reaches the host), so a plaintext peer
      cannot take a live site's name and cut it off.
    - ZeroMQ heartbeats (``ZMQ_HEARTBEAT_IVL`` every ``heartbeat_ms``, the connection
      closed after ``timeout_ms`` without an answer): a connection whose process or
      machine died without closing it lets its name go, and the restarted process joins.
    """

    def setup(sock: zmq.Socket) -> None:
        sock.setsockopt(zmq.ROUTER_HANDOVER, 0)
        sock.setsockopt(zmq.HEARTBEAT_IVL, settings.heartbeat_ms)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, settings.timeout_ms)
        if then is not None:
            then(sock)

    return setup


class RemotePlacement:
    """Sites in other processes join over the network (``vpp aggregator``).

    Args:
        bind: where the aggregator listens, e.g. ``tcp://127.0.0.1:5555``.
        listen_setup: socket options for the listening endpoint (CURVE server keys).
        limiter: a per-peer rate limit (see ``vpp.agents.runtime.limits.RateLimiter``).
        settings: heartbeats, timeouts, acknowledgements.
        min_sites: start once this many sites have joined and ``join_timeout_s`` passed
            (default: every site, whatever the time).
        join_timeout_s: how long to wait for the sites.
        stop_timeout_s: how long to wait for the sites' ``Stopped`` at the end.
        context: the ZeroMQ context (a new one by default; one with a ZAP handler for CURVE).
        bind_identities: a CURVE-authenticated site host must use the name its key is
            allowed under (see :class:`vpp.agents.runtime.host.Host`); ``vpp aggregator``
            sets it with CURVE.
        access: which sites each host may serve, read live (the CURVE allow-list,
            :class:`vpp.agents.runtime.security.AllowList`); with ``bind_identities``, its
            ``admits`` also gates every message of a connection whose key was revoked.
        abort: asked while waiting for the sites; a reason (a string) stops the wait
            (e.g. the site processes died).
        on_listening: called with the endpoint bound, before waiting for the sites.

    Whatever the transport, the listening socket binds each host name to the connection
    that holds it (ROUTER handover off: a second connection under a live host's name is
    not read), and ZeroMQ heartbeats on it (``heartbeat_ms``, ``timeout_ms``) release the
    name of a connection that died without closing, so that a restarted site process can
    join again (see :func:`listener_setup`).
    """

    name = "remote"

    def __init__(self, bind: str, *, listen_setup: SocketSetup | None = None,
                 limiter: PeerLimiter | None = None, settings: LinkSettings | None = None,
                 min_sites: int | None = None, join_timeout_s: float = 60.0,
                 stop_timeout_s: float = 10.0, context: zmq.Context | None = None,
                 bind_identities: bool = False, access: SiteAccess | None = None,
                 abort: Callable[[], str | None] | None = None,
                 on_listening: Callable[[str], None] | None = None) -> None:
        self.bind = bind
        self.listen_setup = listen_setup
        self.limiter = limiter
        self.settings = settings or LinkSettings()
        self.min_sites = min_sites
        self.join_timeout_s = join_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.context = context
        self.bind_identities = bind_identities
        self.access = access
        self.abort = abort
        self.on_listening = on_listening
        self.fleet: RemoteFleet | None = None
        self.admit: Callable[[str, list[str], list[str]], str | None] | None = None
        """The mode's admission of a whole registration (host, sites, regions): why not,
        or None (e.g. whole regions, :func:`vpp.runs.modes.hierarchy.merit_remote.whole_regions`)."""

    def open(self, scenario: Scenario, context: Any, sites: SiteBuilder) -> RemoteFleet:
        """Listen, wait for the site processes (the sites are built in theirs), return the
        fleet."""
        fleet = self.fleet = RemoteFleet(scenario, context, self)
        try:
            if self.on_listening is not None:
                self.on_listening(fleet.endpoint)
            n = len(scenario.site_names())
            announce(f"waiting for {n} site{'s' if n != 1 else ''} to join")
            fleet.wait_for_sites(self.abort)
        except BaseException:
            fleet.close()
            raise
        return fleet


class RemoteFleet:
    """The aggregator's side of a run whose sites are other processes.

    Args:
        scenario: the validated scenario.
        context: the run's context (directory, seed, mode metadata for the trace).
        placement: the listening and joining settings.
    """

    def __init__(self, scenario: Scenario, context: Any, placement: RemotePlacement) -> None:
        self.scenario = scenario
        self.seed = context.seed
        self.site_call_ms = context.site_call_ms
        self.out_dir = Path(context.out_dir)
        self.settings = placement.settings
        self.names = scenario.site_names()
        min_sites = placement.min_sites
        if min_sites is not None and not 1 <= min_sites <= len(self.names):
            raise ValueError(f"min_sites must be between 1 and {len(self.names)}, got "
                             f"{min_sites}")
        self.min_sites = min_sites
        self.join_timeout_s = placement.join_timeout_s
        self.stop_timeout_s = placement.stop_timeout_s
        self.clock = SimulatedClock(scenario.start)
        self._own_context = placement.context is None
        self.context = placement.context or zmq.Context()
        self.trace = TraceRecorder(shard_path(self.out_dir, AGGREGATOR_HOST), AGGREGATOR_HOST)
        # each site host's shipped trace rows, into its shard of this run directory
        self.trace_sink = TraceSink(self.out_dir, AGGREGATOR_HOST)
        self.host = Host(AGGREGATOR_HOST, f"inproc://agg-{uuid.uuid4().hex}",
                         context=self.context, clock=self.clock,
                         registry=distributed_registry(), trace=self.trace,
                         limiter=placement.limiter, bind_identities=placement.bind_identities,
                         max_send_bytes=SCENARIO_FRAME_BYTES)
        self.hosts = [self.host]
        self.local_sites: list = []
        self._metered: list = []  # the metrics this fleet's figures are registered with
        self.closed = False
        try:
            access = placement.access
            if placement.bind_identities and access is not None and hasattr(access, "admits"):
                self.host.key_gate = access.admits
            self.endpoint = self.host.listen(
                placement.bind, listener_setup(self.settings, placement.listen_setup))
        except BaseException:
            self.close()
            raise
        self.coordinator = CoordinatorAgent(
            "coordinator", self.names, scenario_digest=scenario_digest(scenario),
            seed=self.seed, run_name=self.out_dir.name, settings=self.settings,
            scenario=msgspec.msgpack.encode(scenario), access=placement.access,
            site_call_ms=self.site_call_ms)
        # the run's trace level, here and (told in the Welcome) in every site process
        self.coordinator.trace_level = apply_level(self.trace, context, scenario).text
        self.coordinator.admit = placement.admit
        self.host.add(self.coordinator)
        self.host.add(TraceSinkAgent(self.trace_sink, self.coordinator.has_joined))
        self.loop = EventLoop(self.host)
        # every step's acknowledgements, but only the last step's in a run past
        # APPLIED_KEPT_WHOLE site-steps (100,000 sites' Applied are ~15 MB a step)
        whole = len(self.names) * scenario.steps <= APPLIED_KEPT_WHOLE
        self.applied: deque[dict[str, Applied]] = deque(maxlen=None if whole else 1)
        self.absent: list[str] = []
        self.unstopped: list[str] | None = None
        self.children: Any = None
        """The site processes when they are this process's children (``--processes``):
        an object with ``reap()``, ``close()`` and ``exit_codes``."""
        self.trace.set_meta(scenario=scenario.name, seed=self.seed, steps=scenario.steps,
                            step_minutes=scenario.step_minutes,
                            start=scenario.start.isoformat(), distributed=True,
                            run=self.out_dir.name,
                            scenario_digest=self.coordinator.scenario_digest, **context.meta)

    # -- joining -----------------------------------------------------------------------
    def wait_for_sites(self, abort: Callable[[], str | None] | None = None) -> list[str]:
        """Serve until every site joined, or ``min_sites`` did by the join timeout; return
        the sites that did not come (raise :class:`DistributedError` when too few came, or
        when ``abort()`` gives a reason to stop waiting, e.g. the site processes died)."""
        names = self.coordinator.site_names
        everyone = len(names)
        start = time.monotonic()

        reason: str | None = None

        def ready() -> bool:
            nonlocal reason
            if abort is not None and (reason := abort()) is not None:
                return True
            joined = len(self.coordinator.joined())
            if joined == everyone:
                return True
            timed_out = time.monotonic() - start >= self.join_timeout_s
            return timed_out and self.min_sites is not None and joined >= self.min_sites

        self.loop.run_until(ready, self.join_timeout_s)
        if reason is not None:
            raise DistributedError(f"stopped waiting for the sites: {reason}")
        joined = self.coordinator.joined()
        self.absent = [n for n in names if n not in joined]
        needed = everyone if self.min_sites is None else self.min_sites
        if len(joined) < needed:
            raise DistributedError(
                f"{len(joined)} of {everyone} sites joined within {self.join_timeout_s:g} s "
                f"(needed {needed}); missing: {', '.join(self.absent)}")
        if self.absent:
            log.warning("starting without %d absent sites: %s", len(self.absent), self.absent)
        self.trace.set_meta(processes=len(self.coordinator.members))
        return self.absent

    # -- stepping ----------------------------------------------------------------------
    def site_addresses(self) -> list[str]:
        """The addresses of the sites whose host is joined now, in scenario order."""
        return self.coordinator.live_sites()

    def deadline_floor_ms(self) -> int:
        """The run's allowance a site (``site_call_ms``: the merit order's 0.2 ms, as the
        100,000-site bench gives) times the sites of the largest host that joined: a
        process answers a call to all its sites in one pass of its event loop, so its
        last answer leaves in proportion to its sites."""
        members = self.coordinator.members.values()
        return int(max((len(m.sites) for m in members), default=0) * self.site_call_ms)

    def begin_step(self, k: int, start_s: float, end_s: float) -> None:
        """Move the clock to the step's start (``end_s``: its end; deadlines here are wall
        time) and tell the coordinator which step comes (a site that rejoins catches up
        to it); :class:`DistributedError` when every site
        host is lost and none comes back within the link's timeout (a run that serves
        nothing must not end as if it had served)."""
        self.clock.advance_to(max(self.clock.now(), start_s))
        self.coordinator.next_step = k + 1
        grace_s = self.settings.timeout_ms / 1000.0
        if self.coordinator.holder or self.loop.run_until(
                lambda: bool(self.coordinator.holder), grace_s):
            return
        raise DistributedError(
            f"every site was lost before step {k} of {self.scenario.steps} and none came "
            f"back within {grace_s:g} s (lost: {few(self.coordinator.lost_sites())}); "
            f"results so far are in {self.out_dir}")

    def wait(self, done: Callable[[], bool], what: str, timeout_s: float = STEP_TIMEOUT_S,
             ) -> None:
        """Serve until ``done()``; :class:`DistributedError` past ``timeout_s``."""
        if not self.loop.run_until(done, timeout_s):
            raise DistributedError(f"{what} did not finish within {timeout_s:g} s")

    def deliver(self, k: int, cleared: StepCleared, sender: Agent, *, conversation: str,
                round: int) -> dict[str, Applied]:
        """Send step ``k``'s outcome to every live site host (once each: its link runs it
        on its sites; the coordinator resends it until acknowledged), wait for each
        site's ``Applied`` (in its host's batches) and keep them; return them by site
        name.

        Raises:
            DistributedError: a live site did not acknowledge within the step timeout.
        """
        self.coordinator.dispatch(cleared)
        acked = self.loop.run_until(lambda: self.coordinator.acknowledged(k), STEP_TIMEOUT_S)
        self.coordinator.end_dispatch()
        if not acked:
            raise DistributedError(f"step {k}: no Applied from "
                                   f"{self.coordinator.unacknowledged(k)} in "
                                   f"{STEP_TIMEOUT_S:g} s")
        acks = self.coordinator.applied(k)
        self.applied.append(acks)
        self.trace.flush()
        return acks

    def address_of(self, site: str) -> str:
        """The address of ``site`` at the host serving it now (``?/site`` when none)."""
        return f"{self.coordinator.holder.get(site, '?')}/{site}"

    def finish(self) -> None:
        """The steps are over: stop the sites (once)."""
        if self.unstopped is None:
            self.stop_sites("the run is over")
            if self.children is not None:
                self.children.reap()

    def register_metrics(self, metrics: Any) -> None:
        """Per site whether its process is up and which host serves it, per site host the
        seconds since it was heard, how many sites are lost."""
        from vpp.runs.ops.swarm_metrics import membership_metrics

        if metrics in self._metered:  # the ops registered them while the sites joined
            return
        self._metered.append(metrics)
        membership_metrics(self, metrics)

    def stop_sites(self, reason: str) -> list[str]:
        """Send ``Stop`` to every live host, wait for their ``Stopped``; return those that
        did not answer in time."""
        hosts = self.coordinator.stop_all(reason)
        self.loop.run_until(lambda: all(h in self.coordinator.stopped for h in hosts),
                            self.stop_timeout_s)
        self.unstopped = [h for h in hosts if h not in self.coordinator.stopped]
        if self.unstopped:
            log.warning("site hosts that did not confirm the stop: %s", self.unstopped)
        return self.unstopped

    # -- results -----------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What every distributed run's summary adds: messages and drops, the processes,
        who was absent, lost, rejoined or did not stop, and the refusals."""
        stats = self.host.stats
        return {
            "messages": stats.sent + sum(self.coordinator.stopped.values()),
            "dropped": stats.dropped_total,
            "dropped_by_reason": dict(stats.dropped),
            "endpoint": self.endpoint,
            "processes": len({e.host for e in self.coordinator.events}),
            "absent_sites": self.absent,
            "lost_sites": self.coordinator.lost_sites(),
            "liveness_events": [{"event": e.event, "host": e.host, "sites": e.sites,
                                 "step": e.step, **({"reason": e.reason} if e.reason else {})}
                                for e in self.coordinator.events],
            "unstopped_hosts": self.unstopped or [],
            "refused_registrations": self.coordinator.refusals,
            "unfinished_registrations": self.coordinator.joins.expired,
            "trace_rows_shipped": dict(self.trace_sink.rows),
            "trace_batches_dropped": dict(self.trace_sink.dropped),
            **({"process_exit_codes": self.children.exit_codes}
               if self.children is not None else {}),
        }

    def close(self) -> None:
        """Close the host, the trace shard and (when it owns it) the ZeroMQ context
        (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.host.close()
        finally:
            self.trace.close()
            self.trace_sink.close()
            if self._own_context:
                self.context.term()
            if self.children is not None:
                self.children.close()
