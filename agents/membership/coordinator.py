"""The aggregator side of distributed operation: who joined, who is alive, who applied.

:class:`CoordinatorAgent` lives on the aggregator's host next to the
:class:`~agents.aggregator.AggregatorAgent`. It answers registrations, sends and checks
heartbeats, sends each step's outcome to every site host and collects its sites'
acknowledgements (:mod:`.dispatching`), and stops the site processes at the end. The sequence is in
``docs/protocols/distributed.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from vpp.agents.membership.dispatching import LINK_AGENT, DispatchAcks
from vpp.agents.membership.joining import JoinAssembler, JoinRefused
from vpp.agents.membership.liveness import PeerLiveness, few
from vpp.agents.membership.members import LivenessEvent, Member
from vpp.agents.membership.messages import (
    Heartbeat,
    Refused,
    Register,
    ScenarioRequest,
    ScenarioSent,
    Stop,
    Stopped,
    Welcome,
)
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.limits import SITES_PER_PEER_RATE
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError

log = logging.getLogger(__name__)

__all__ = ["LINK_AGENT", "CoordinatorAgent", "LinkSettings", "SiteAccess"]


@dataclass
class LinkSettings:
    """Timing of distributed operation (see the table in ``docs/protocols/distributed.md``).

    Attributes:
        heartbeat_ms: how often each side sends a heartbeat.
        timeout_ms: silence after which a peer is lost (aggregator) or gone (site).
        ack_ms: how long a ``StepCleared`` waits for its ``Applied`` before it is resent.
        grace_s: how long a site holds its last set-point once the aggregator is gone.
    """

    heartbeat_ms: int = 250
    timeout_ms: int = 1500
    ack_ms: int = 500
    grace_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("heartbeat_ms", "timeout_ms", "ack_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.grace_s < 0:
            raise ValueError(f"grace_s must be >= 0, got {self.grace_s}")

    @classmethod
    def for_host(cls, sites: int, site_call_ms: float) -> LinkSettings:
        """The defaults, with the silence before a host is lost and the wait for an
        ``Applied`` lengthened for a host serving ``sites`` sites: ``site_call_ms`` a
        site (the run's allowance, ``RunContext.site_call_ms``; the wait 0.1 ms), never
        below the defaults. A process answers a call to all
        its sites in one pass of its event loop, and sends no heartbeat meanwhile: at
        50,000 sites that pass takes seconds, and a fixed 1,500 ms would call the busy
        host lost."""
        base = cls()
        return cls(timeout_ms=base.host_timeout_ms(sites, site_call_ms),
                   ack_ms=max(base.ack_ms, sites // 10))

    def host_timeout_ms(self, sites: int, site_call_ms: float) -> int:
        """The silence before a host serving ``sites`` sites is lost: ``site_call_ms`` a
        site, never below :attr:`timeout_ms`."""
        return max(self.timeout_ms, int(sites * site_call_ms))


class SiteAccess(Protocol):
    """Which sites each host may serve (over CURVE: the allow-list, read live; see
    :class:`vpp.agents.runtime.security.AllowList`)."""

    def refusal(self, host: str, sites: list[str]) -> str | None:
        """Why ``host`` may not serve ``sites`` (None when it may)."""
        ...

    def poll(self) -> set[str]:
        """The hosts whose grant was revoked or narrowed since the last call."""
        ...


class CoordinatorAgent(DispatchAcks, Agent):
    """Registrations, heartbeats, dispatch acknowledgements and stop, for one aggregator.

    Args:
        name: the agent's name (``coordinator``).
        site_names: every site of the scenario, in its order.
        scenario_digest: what a site process's scenario must hash to.
        seed: the run's seed, told to the sites in ``Welcome``.
        scenario: the validated scenario as MessagePack, sent to a site process that asks
            for it (``ScenarioRequest``: one started from its own site file); None
            refuses such a request.
        run_name: the run directory's name, told to the sites.
        settings: heartbeats, timeouts, acknowledgements.
        access: which sites each host may serve (None: any site, for any host: plaintext
            and ``ipc://``); polled every heartbeat, so that a revoked host's sessions end
            within ``heartbeat_ms`` of the allow-list being read again.
        site_call_ms: the run's allowance a site (``RunContext.site_call_ms``): a host that
            joins with ``n`` sites is lost after ``n * site_call_ms`` of silence when that
            is longer than ``settings.timeout_ms`` (0: the link's timeout for every host).
    """

    role = "coordinator"

    def __init__(self, name: str, site_names: Sequence[str], *, scenario_digest: str,
                 seed: int, run_name: str, settings: LinkSettings,
                 scenario: bytes | None = None, access: SiteAccess | None = None,
                 site_call_ms: float = 0.0) -> None:
        super().__init__(name)
        self.site_call_ms = site_call_ms
        self.scenario = scenario
        self.access = access
        self.site_names = list(site_names)
        self.scenario_digest = scenario_digest
        self.seed = seed
        self.run_name = run_name
        self.settings = settings
        self.trace_level = "full"
        """The run's trace level, told to every site process in its ``Welcome``."""
        self.members: dict[str, Member] = {}
        self.holder: dict[str, str] = {}
        self.liveness = PeerLiveness(settings.timeout_ms / 1000.0)
        self.events: list[LivenessEvent] = []
        self.next_step = 0
        self.stopped: dict[str, int] = {}
        self.refusals = 0
        self._known = set(self.site_names)
        self.joins = JoinAssembler(self._known, settings.timeout_ms / 1000.0)
        """Registrations in parts under way (``joins.expired``: dropped unfinished)."""
        self.admit: Callable[[str, list[str], list[str]], str | None] | None = None
        """Why a host may not serve its sites with its regions (None: it may), asked of a
        whole registration (the mode's shape of the fleet, e.g. whole regions)."""
        self._ever: set[str] = set()
        self._seq = 0
        self._stopping: set[str] = set()
        self._live: list[str] | None = None  # live_sites, until the membership changes
        self._init_dispatch()
        self._scenario_sent: dict[str, float] = {}  # host -> when it was last sent it
        self.on(ScenarioRequest, self._on_scenario_request)
        self.on(Register, self._on_register)
        self.on(Heartbeat, self._on_heartbeat)
        self.on(Stopped, self._on_stopped)

    def started(self) -> None:
        """Start the heartbeat timer."""
        self.host.call_later(0.0, self._tick)

    # -- who is there ------------------------------------------------------------------
    def live_sites(self) -> list[str]:
        """The addresses of the sites of live hosts, in the scenario's order."""
        if self._live is None:  # (made again only when a host joins or leaves)
            holder = self.holder
            self._live = [f"{holder[s]}/{s}" for s in self.site_names if s in holder]
        return list(self._live)

    def joined(self) -> set[str]:
        """The names of the sites whose host is live."""
        return set(self.holder)

    def has_joined(self, host: str) -> bool:
        """Whether ``host`` joined at some time in this run (it may be gone since)."""
        return host in self._ever

    def lost_sites(self) -> list[str]:
        """Sites whose host was lost at some point, in the scenario's order."""
        lost = {s for e in self.events if e.event == "lost" for s in e.sites}
        return [s for s in self.site_names if s in lost]

    # -- handlers ----------------------------------------------------------------------
    def _sender_host(self, envelope: Envelope) -> str:
        return envelope.sender.partition("/")[0]

    def _refuse(self, host: str, reason: str, sites: Sequence[str] = ()) -> None:
        self.refusals += 1
        self.log.warning("refused host %s: %s", host, reason)
        self._trace_event("refused", host, list(sites), reason=reason)
        self.host.route_back(host)
        self.send(f"{host}/{LINK_AGENT}", Refused(reason), conversation=f"join/{host}")
        self.host.flush_out()
        if host not in self.members:
            self.host.forget_route(host)

    def _on_scenario_request(self, envelope: Envelope, request: ScenarioRequest) -> None:
        host = self._sender_host(envelope)
        if envelope.sender != f"{host}/{LINK_AGENT}" or request.host != host:
            raise ProtocolError(f"ScenarioRequest from {envelope.sender} names host "
                                f"{request.host!r}")
        if self.scenario is None:
            self._refuse(host, "this aggregator does not hand out its scenario")
            return
        # the scenario is large (about 0.5 KiB a site): sent to a host at most once per
        # half heartbeat, so that asking is no way to make the aggregator queue it
        now, every = time.monotonic(), self.settings.heartbeat_ms / 2000.0
        if now - self._scenario_sent.get(host, -every) < every:
            raise ProtocolError(f"ScenarioRequest from {host} again within {every:g} s")
        if len(self._scenario_sent) >= 4096:
            self._scenario_sent = {h: t for h, t in self._scenario_sent.items()
                                   if now - t < every}
        self._scenario_sent[host] = now
        self.host.route_back(host)
        self.send(envelope.sender, ScenarioSent(self.scenario, self.scenario_digest),
                  conversation=f"join/{host}")
        self.host.flush_out()
        if host not in self.members:
            self.host.forget_route(host)

    def _on_register(self, envelope: Envelope, reg: Register) -> None:
        host = self._sender_host(envelope)
        if envelope.sender != f"{host}/{LINK_AGENT}" or reg.host != host:
            raise ProtocolError(f"Register from {envelope.sender} names host {reg.host!r}")
        if reg.scenario_digest != self.scenario_digest:
            self.joins.forget(host)
            self._refuse(host, "the site process runs another scenario (digest "
                               f"{reg.scenario_digest[:12]}, expected {self.scenario_digest[:12]})")
            return
        try:  # one part of several: kept until the last (bounded, see JoinAssembler)
            joined = self.joins.add(host, reg, time.monotonic())
        except JoinRefused as exc:
            self._refuse(host, str(exc))
            return
        if joined is None:
            return
        names, regions = joined.sites, joined.regions
        denied = self.access.refusal(host, names) if self.access is not None else None
        if denied is None and self.admit is not None:
            denied = self.admit(host, names, regions)
        if denied is not None:
            self._refuse(host, denied, names)
            return
        taken = [n for n in names if self.holder.get(n, host) != host]
        if taken:
            self._refuse(host, f"sites already served by another live host: {taken}", names)
            return
        member = self.members.get(host)
        if member is None or member.sites != names or member.regions != regions:
            event = "rejoined" if host in self._ever else "joined"
            self.members[host] = Member(host, names, joined.pid, regions=regions)
            for n in names:
                self.holder[n] = host
            self._live = None
            self._ever.add(host)
            self._event(event, host, names)
        self.liveness.seen(host, time.monotonic())
        timeout_ms = self._scale_to(host, len(names))
        self.host.route_back(host)
        self.send(envelope.sender, Welcome(host, names if joined.parts == 1 else [], self.seed,
                                           self.next_step, self.settings.heartbeat_ms,
                                           timeout_ms, self.run_name,
                                           self.trace_level, registered=len(names)),
                  conversation=f"join/{host}")

    def _scale_to(self, host: str, sites: int) -> int:
        """The silence after which ``host`` is lost, in ms
        (:meth:`LinkSettings.host_timeout_ms`). Its rate limit (if the host has one) is
        scaled to its sites too."""
        if self.host.limiter is not None:
            self.host.limiter.weigh(host, max(1.0, sites / SITES_PER_PEER_RATE))
        before = self.liveness.timeout_of(host)
        allowed = self.liveness.allow(
            host, self.settings.host_timeout_ms(sites, self.site_call_ms) / 1000.0)
        if allowed != before and allowed > self.liveness.timeout_s:
            self.log.info("site host %s serves %d sites: it is lost after %d ms of silence, "
                          "not the link's %d ms", host, sites, round(allowed * 1000),
                          self.settings.timeout_ms)
        return round(allowed * 1000)

    def _member(self, envelope: Envelope) -> Member:
        host = self._sender_host(envelope)
        member = self.members.get(host)
        if member is None:
            raise ProtocolError(f"{envelope.kind} from {envelope.sender}, a host that has not "
                                "registered (or was lost)")
        self.liveness.seen(host, time.monotonic())
        return member

    def _on_heartbeat(self, envelope: Envelope, beat: Heartbeat) -> None:
        self._member(envelope)

    def _on_stopped(self, envelope: Envelope, stopped: Stopped) -> None:
        # only from the host's own link (the inbox has checked that the sender's host is
        # the connection's identity, and ZeroMQ that no second connection holds it)
        host = self._sender_host(envelope)
        if envelope.sender != f"{host}/{LINK_AGENT}" or stopped.host != host:
            raise ProtocolError(f"Stopped from {envelope.sender} names host {stopped.host!r}")
        member = self._member(envelope)
        self.stopped[host] = stopped.messages
        if host in self._stopping:
            self._event("stopped", host, member.sites)
        else:  # a site process that leaves unasked: its sites are lost, and it says so
            self.log.warning("site host %s (sites %s) stopped before it was asked to",
                             host, few(member.sites))
            self._event("lost", host, member.sites, reason="stopped unasked")
        self._drop_member(host)

    # -- liveness ----------------------------------------------------------------------
    def _tick(self) -> None:
        self._seq += 1
        if self.access is not None:
            for host in sorted(self.access.poll()):
                self._revoke(host)
        for host in list(self.members):
            self.send(f"{host}/{LINK_AGENT}", Heartbeat(self._seq), conversation="liveness")
        for host in self.joins.expire(time.monotonic()):
            self.log.warning("site host %s: registration in parts not finished within %d ms;"
                             " dropped", host, self.settings.timeout_ms)
        for host in self.liveness.expire(time.monotonic()):
            member = self.members.get(host)
            if member is not None:
                self.log.warning("site host %s (sites %s, pid %d) lost: silent for more than %d ms",
                                 host, few(member.sites), member.pid,
                                 round(self.liveness.timeout_of(host) * 1000))
                self._event("lost", host, member.sites)
                self._drop_member(host)
        self.host.call_later(self.settings.heartbeat_ms / 1000.0, self._tick)

    def _revoke(self, host: str) -> None:
        """The allow-list no longer lets ``host`` serve its sites: drop it (its sites are
        lost), tell it why, and forget its route."""
        member = self.members.get(host)
        if member is None:
            return
        why = self.access.refusal(host, member.sites) if self.access is not None else None
        if why is None:
            return  # narrowed, but not below the sites it serves
        self.log.warning("site host %s (sites %s) dropped: %s", host, few(member.sites), why)
        self._event("lost", host, member.sites, reason=f"revoked: {why}")
        self._drop_member(host)
        self._refuse(host, f"revoked: {why}", member.sites)

    def _drop_member(self, host: str) -> None:
        member = self.members.pop(host, None)
        if member is None:
            return
        for n in member.sites:
            if self.holder.get(n) == host:
                del self.holder[n]
        self._live = None
        self.liveness.forget(host)
        if self.host.limiter is not None:
            self.host.limiter.weigh(host, 1.0)
        self.host.forget_route(host)

    def _event(self, event: str, host: str, sites: list[str], reason: str | None = None,
               ) -> None:
        step = self.next_step
        self.events.append(LivenessEvent(event, host, list(sites), step, time.monotonic(),
                                         reason))
        self.log.info("site host %s %s at step %d: %s", host, event, step, few(sites))
        self._trace_event(event, host, sites, reason=reason)

    def _trace_event(self, event: str, host: str, sites: list[str], *,
                     reason: str | None = None) -> None:
        """A ``liveness`` row in the trace (flushed at once)."""
        trace = self.host.trace
        if trace is None:
            return
        detail = {"event": event, "host": host, "sites": list(sites),
                  "pid": self.members[host].pid if host in self.members else None}
        if reason is not None:
            detail["reason"] = reason
        trace.round(sim_time=self.clock.now(), step=self.next_step, conversation="liveness",
                    protocol="liveness", round=len(self.events), detail=detail)
        trace.flush()

    # -- the end -----------------------------------------------------------------------
    def stop_all(self, reason: str) -> list[str]:
        """Tell every live host to stop; return their names."""
        hosts = sorted(self.members)
        self._stopping.update(hosts)
        for host in hosts:
            self.send(f"{host}/{LINK_AGENT}", Stop(reason), conversation="stop")
        return hosts
