"""The aggregator of a distributed run: sites in other processes join it over the network.

:class:`AggregatorRun` hosts the aggregator and the coordinator on one host ``agg`` that
listens at a ``tcp://`` (or ``ipc://``) endpoint, waits for the site processes, then runs
every step of the scenario as the one-process swarm does (the same merit-order
negotiation, the same tie order), except that each step's outcome goes to the sites by
address and is acknowledged. See ``docs/protocols/distributed.md``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgspec
import zmq
from vpp.agents.membership.coordinator import CoordinatorAgent, LinkSettings, SiteAccess
from vpp.agents.membership.messages import distributed_registry
from vpp.agents.merit_order.aggregator import AggregatorAgent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.codec import SCENARIO_FRAME_BYTES
from vpp.agents.runtime.host import Host, PeerLimiter, SocketSetup
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.runs.modes.merit_order.swarm import merit_order_totals
from vpp.runs.scenario import Scenario, ScenarioError, reserve_series, target_series

log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 60.0
AGGREGATOR_HOST = "agg"


class DistributedError(RuntimeError):
    """A distributed run that cannot go on (too few sites joined, a step that never ends)."""


def scenario_digest(scenario: Scenario) -> str:
    """SHA-256 of the validated scenario: the aggregator and its sites must agree on it."""
    return hashlib.sha256(msgspec.json.encode(scenario)).hexdigest()


def check_distributable(scenario: Scenario) -> None:
    """Raise ScenarioError unless the scenario can run with its sites in other processes.

    Site processes run the merit-order contract net and ADMM (``vpp.runs.modes.admm.distributed``);
    market sections and grid events run in one process for now (the error names the field
    that asks for them).
    """
    if scenario.market is not None:
        raise ScenarioError("$.market: a market section runs in one process for now; "
                            "run it without --processes")
    if scenario.grid is not None:
        raise ScenarioError("$.grid: a grid event runs in one process; "
                            "run it without --processes")


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


class AggregatorRun:
    """A scenario run whose sites are other processes.

    Args:
        scenario: the validated scenario.
        out_dir: the run's directory (the aggregator's shard, summary, time series).
        bind: where the aggregator listens, e.g. ``tcp://127.0.0.1:5555``.
        scenario_path: the scenario file, to resolve the paths it names.
        seed: overrides the scenario's seed (told to the sites).
        listen_setup: socket options for the listening endpoint (CURVE server keys).
        limiter: a per-peer rate limit (see ``vpp.agents.runtime.security.RateLimiter``).
        settings: heartbeats, timeouts, acknowledgements.
        min_sites: start once this many sites have joined and ``join_timeout_s`` passed
            (default: every site, whatever the time).
        join_timeout_s: how long to wait for the sites.
        stop_timeout_s: how long to wait for the sites' ``Stopped`` at the end.
        context: the ZeroMQ context (a new one by default; one with a ZAP handler for CURVE).
        bind_identities: a CURVE-authenticated site host must use the name its key is
            allowed under (see :class:`vpp.agents.runtime.host.Host`); ``vpp aggregator`` sets it
            with CURVE.
        access: which sites each host may serve, read live (the CURVE allow-list,
            :class:`vpp.agents.runtime.security.AllowList`); with ``bind_identities``, its
            ``admits`` also gates every message of a connection whose key was revoked.

    Whatever the transport, the listening socket binds each host name to the connection
    that holds it (ROUTER handover off: a second connection under a live host's name is
    not read), and ZeroMQ heartbeats on it (``heartbeat_ms``, ``timeout_ms``) release the
    name of a connection that died without closing, so that a restarted site process can
    join again (see :func:`listener_setup`).
    """

    def __init__(self, scenario: Scenario, out_dir: Path | str, *, bind: str,
                 scenario_path: Path | None = None, seed: int | None = None,
                 listen_setup: SocketSetup | None = None, limiter: PeerLimiter | None = None,
                 settings: LinkSettings | None = None, min_sites: int | None = None,
                 join_timeout_s: float = 60.0, stop_timeout_s: float = 10.0,
                 context: zmq.Context | None = None, bind_identities: bool = False,
                 access: SiteAccess | None = None) -> None:
        check_distributable(scenario)
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.out_dir = Path(out_dir)
        self.settings = settings or LinkSettings()
        names = scenario.site_names()
        if min_sites is not None and not 1 <= min_sites <= len(names):
            raise ValueError(f"min_sites must be between 1 and {len(names)}, got {min_sites}")
        self.min_sites = min_sites
        self.join_timeout_s = join_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.window_s = scenario.step_minutes * 60.0
        self.step_index = 0
        self.clock = SimulatedClock(scenario.start)
        self._own_context = context is None
        self.context = context or zmq.Context()
        self.trace = TraceRecorder(shard_path(self.out_dir, AGGREGATOR_HOST), AGGREGATOR_HOST)
        self.host = Host(AGGREGATOR_HOST, f"inproc://agg-{uuid.uuid4().hex}", context=self.context,
                         clock=self.clock, registry=distributed_registry(), trace=self.trace,
                         limiter=limiter, bind_identities=bind_identities,
                         max_send_bytes=SCENARIO_FRAME_BYTES)
        if bind_identities and access is not None and hasattr(access, "admits"):
            self.host.key_gate = access.admits
        self.endpoint = self.host.listen(bind, listener_setup(self.settings, listen_setup))
        self.coordinator = CoordinatorAgent(
            "coordinator", names, scenario_digest=scenario_digest(scenario), seed=self.seed,
            run_name=self.out_dir.name, settings=self.settings,
            scenario=msgspec.msgpack.encode(scenario), access=access)
        self.aggregator = self._make_aggregator(scenario, scenario_path)
        self.host.add(self.aggregator)
        self.host.add(self.coordinator)
        self.loop = EventLoop(self.host)
        self.applied: list[dict[str, Applied]] = []
        self.absent: list[str] = []
        self.unstopped: list[str] = []
        self.trace.set_meta(scenario=scenario.name, seed=self.seed, steps=scenario.steps,
                            step_minutes=scenario.step_minutes, start=scenario.start.isoformat(),
                            distributed=True)

    def _make_aggregator(self, scenario: Scenario, scenario_path: Path | None):
        """The merit-order aggregator (its targets and reserves read here)."""
        self.targets = target_series(scenario, scenario_path)
        self.reserves = reserve_series(scenario)
        return AggregatorAgent("aggregator", [], deadline_ms=scenario.negotiation.deadline_ms,
                               max_rounds=scenario.negotiation.max_rounds)

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
    @property
    def finished(self) -> bool:
        """True once every step of the scenario has run."""
        return self.step_index >= self.scenario.steps

    def step(self) -> None:
        """Negotiate step k with the sites of live hosts, send its outcome, collect acks."""
        k = self.step_index
        start_s = k * self.window_s
        self.clock.advance_to(start_s)
        self.coordinator.next_step = k + 1
        self.aggregator.sites = self.coordinator.live_sites()
        self.aggregator.begin_step(k, start_s, self.window_s, self.targets[k], self.reserves[k])
        if not self.loop.run_until(lambda: self.aggregator.step_done, STEP_TIMEOUT_S):
            raise DistributedError(f"step {k} was not negotiated within {STEP_TIMEOUT_S} s")
        out = self.aggregator.outcomes[-1]
        self.deliver(k, StepCleared(out.step, out.target_kw, out.served_kw, out.unserved_kw,
                                    out.marginal_price_eur_mwh))
        self.trace.flush()
        self.step_index += 1

    def deliver(self, k: int, cleared: StepCleared) -> dict:
        """Send step ``k``'s outcome to every live site, wait for each one's ``Applied``
        (resent until acknowledged) and keep them; return them by site name.

        Raises:
            DistributedError: a live site did not acknowledge within ``STEP_TIMEOUT_S``.
        """
        self.coordinator.dispatch(cleared)
        acked = self.loop.run_until(lambda: not self.coordinator.unacknowledged(k),
                                    STEP_TIMEOUT_S)
        self.coordinator.end_dispatch()
        if not acked:
            raise DistributedError(f"step {k}: no Applied from "
                                   f"{self.coordinator.unacknowledged(k)} in {STEP_TIMEOUT_S} s")
        acks = self.coordinator.applied(k)
        self.applied.append(acks)
        return acks

    def run(self, progress: Callable[[int], None] | None = None,
            abort: Callable[[], str | None] | None = None) -> dict:
        """Wait for the sites, run every step, stop the sites, write the results
        (``abort`` as in :meth:`wait_for_sites`)."""
        t0 = time.perf_counter()
        self.wait_for_sites(abort)
        while not self.finished:
            self._check_someone_is_left(t0)
            self.step()
            if progress is not None:
                progress(self.step_index)
        self.stop_sites("the run is over")
        summary = self.summary(wall_s=time.perf_counter() - t0)
        self.write_results(summary)
        return summary

    def _check_someone_is_left(self, t0: float) -> None:
        """Raise :class:`DistributedError` (after writing the results so far) when every
        site host is lost and none comes back within the link's timeout: a run that
        serves nothing must not end as if it had served."""
        grace_s = self.settings.timeout_ms / 1000.0
        if self.coordinator.live_sites() or self.loop.run_until(
                lambda: bool(self.coordinator.live_sites()), grace_s):
            return
        self.write_results(self.summary(wall_s=time.perf_counter() - t0))
        raise DistributedError(
            f"every site was lost before step {self.step_index} of {self.scenario.steps} "
            f"and none came back within {grace_s:g} s (lost: "
            f"{', '.join(self.coordinator.lost_sites()) or '-'}); results so far are in "
            f"{self.out_dir}")

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
    def summary(self, wall_s: float | None = None) -> dict:
        """The one-process run's totals, plus who was absent, lost, rejoined, unstopped."""
        dt_h = self.scenario.dt_h
        outs = self.aggregator.outcomes
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "steps": len(outs),
            "sites": len(self.coordinator.site_names),
            **merit_order_totals(outs, dt_h),
            **self.membership_summary(wall_s),
        }

    def membership_summary(self, wall_s: float | None) -> dict:
        """What every distributed run's summary adds: messages and drops, the processes,
        who was absent, lost, rejoined or did not stop, and the refusals."""
        stats = self.host.stats
        return {
            "messages": stats.sent + sum(self.coordinator.stopped.values()),
            "dropped": stats.dropped_total,
            "dropped_by_reason": dict(stats.dropped),
            "wall_s": wall_s,
            "out_dir": str(self.out_dir),
            "endpoint": self.endpoint,
            "processes": len({e.host for e in self.coordinator.events}),
            "absent_sites": self.absent,
            "lost_sites": self.coordinator.lost_sites(),
            "liveness_events": [{"event": e.event, "host": e.host, "sites": e.sites,
                                 "step": e.step, **({"reason": e.reason} if e.reason else {})}
                                for e in self.coordinator.events],
            "unstopped_hosts": self.unstopped,
            "refused_registrations": self.coordinator.refusals,
        }

    def write_results(self, summary: dict) -> None:
        """Write ``summary.json``, ``steps.csv`` and ``sites.csv`` (acknowledged powers)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        with open(self.out_dir / "steps.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "target_kw", "served_kw", "unserved_kw", "reserve_target_kw",
                        "reserve_served_kw", "marginal_price_eur_mwh", "cost_eur", "rounds",
                        "declined", "silent"])
            for o in self.aggregator.outcomes:
                w.writerow([o.step, o.target_kw, o.served_kw, o.unserved_kw,
                            o.reserve_target_kw, o.reserve_served_kw, o.marginal_price_eur_mwh,
                            o.cost_eur, o.rounds, len(o.declined), " ".join(o.silent)])
        names = self.coordinator.site_names
        with open(self.out_dir / "sites.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Step", "AgentID", "site", "power_kw", "reserve_kw", "stored_kwh"])
            for k, acks in enumerate(self.applied):
                for i, name in enumerate(names):
                    a = acks.get(name)
                    if a is not None:
                        w.writerow([k + 1, i + 1, name, a.power_kw, a.reserve_kw, a.stored_kwh])

    def close(self) -> None:
        """Close the host, the trace shard and (when it owns it) the ZeroMQ context."""
        self.host.close()
        self.trace.close()
        if self._own_context:
            self.context.term()


def aggregator_run(scenario: Scenario, out_dir: Path | str, **kwargs) -> AggregatorRun:
    """The aggregator of ``scenario``'s distributed run: the ADMM one
    (:class:`vpp.runs.modes.admm.distributed.AdmmAggregatorRun`) for ``coordination: admm``, else
    :class:`AggregatorRun` (``kwargs`` as theirs)."""
    if scenario.coordination == "admm":
        from vpp.runs.modes.admm.distributed import AdmmAggregatorRun

        return AdmmAggregatorRun(scenario, out_dir, **kwargs)
    return AggregatorRun(scenario, out_dir, **kwargs)
