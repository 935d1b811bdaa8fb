"""The site side of distributed operation: joining, heartbeats, acks, holding, stopping.

A site process hosts a :class:`SiteLinkAgent` (``<host>/link``) and one
:class:`RemoteSiteAgent` per site. The link registers, answers heartbeats and watches the
aggregator (joined, holding the last set-point, local), and takes each step's outcome
(``StepCleared``, one per host): it runs it on every site of the process and answers with
their ``Applied`` in batches (``AppliedBatch``); a remote site is a
:class:`~agents.site.SiteAgent` with the acknowledging role.
The sequence is in ``docs/protocols/distributed.md``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence

import msgspec
import numpy as np
from vpp.agents.dispatch.acknowledging import Acknowledging
from vpp.agents.membership.dispatch_batch import applied_batches, entry_bytes
from vpp.agents.membership.dispatching import LINK_AGENT
from vpp.agents.membership.liveness import AggregatorWatch, LinkMode
from vpp.agents.membership.messages import (
    Heartbeat,
    Refused,
    Register,
    SiteInfo,
    Stop,
    Welcome,
)
from vpp.agents.merit_order.site import SiteAgent
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import StepCleared
from vpp.coordination.merit_order.messages import CallForBids

log = logging.getLogger(__name__)


RECONNECT_AFTER_TIMEOUTS = 4
"""A link that is not joined and has heard nothing from its aggregator for this many of its
timeouts connects afresh (:meth:`SiteLinkAgent.silence_before_reconnect_s`): a ROUTER
without handover (CURVE, identities bound to keys) sets aside, for good, a connection that
came under a host name another connection still held (this process's own, before a restart
or a network cut); only a new connection is looked at again."""

REGISTER_S_PER_SITE = 0.0002
"""What the aggregator may take to admit one site of a registration (0.2 ms; 8 s for a
40,000-site process): the silence before reconnecting is never shorter than a few of it."""

REGISTER_PART_BYTES = DEFAULT_MAX_FRAME_BYTES - 16 * 1024
"""The most bytes of site descriptions in one ``Register`` (the frame cap less room for
the envelope, the host's name, the digest and the regions)."""


def register_parts(host: str, infos: Sequence[SiteInfo], digest: str, pid: int,
                   regions: Sequence[str] = (), part_bytes: int = REGISTER_PART_BYTES,
                   ) -> list[Register]:
    """The ``Register`` messages of a host's registration: one when its sites' descriptions
    fit ``part_bytes``, else parts in order, each as full as fits (a description larger
    than ``part_bytes`` goes alone), ``total`` the number of sites, the regions in the
    last part. See ``docs/protocols/distributed.md``, "Joining"."""
    if part_bytes < 1:
        raise ValueError(f"part_bytes must be positive, got {part_bytes}")
    chunks: list[list[SiteInfo]] = [[]]
    size = 0
    encode = msgspec.msgpack.Encoder().encode
    for info in infos:
        n = len(encode(info))
        if chunks[-1] and size + n > part_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(info)
        size += n
    if len(chunks) == 1:
        return [Register(host, chunks[0], digest, pid, regions=list(regions))]
    last = len(chunks) - 1
    return [Register(host, chunk, digest, pid, part=i, parts=len(chunks), total=len(infos),
                     regions=list(regions) if i == last else [])
            for i, chunk in enumerate(chunks)]


class RemoteSiteAgent(Acknowledging, SiteAgent):
    """A merit-order site in its own process: it hears the step's outcome by address and
    acknowledges it (the remote acknowledgement role,
    :class:`~vpp.agents.dispatch.acknowledging.Acknowledging`); it takes the arguments of
    :class:`~vpp.agents.merit_order.site.SiteAgent`."""

    def _on_call(self, envelope: Envelope, call: CallForBids) -> None:
        self.check_step(call.step, "CallForBids.step")
        self.catch_up(call.step)
        self.clock.advance_to(max(self.clock.now(), call.window_start_s))
        super()._on_call(envelope, call)

    def release(self) -> None:
        """The aggregator is gone for good: drop the held set-point."""
        self.award = None


class SiteLinkAgent(Agent):
    """Registers the process's sites, exchanges heartbeats, watches the aggregator.

    Args:
        sites: the sites of this process.
        digest: the scenario's digest.
        aggregator: the coordinator's address (``agg/coordinator``).
        heartbeat_ms: how often to send a heartbeat (or a registration until welcomed).
        timeout_ms: the aggregator is taken as gone after this long without a word.
        grace_s: how long the last set-point is held after that.
        site_indices: each site's position among the scenario's sites.
        n_sites: how many sites the scenario has (to split the seed into streams).
        on_mode: called with each new mode (a site process starts and stops its local
            frequency response with it).
        regions: the regional aggregators this process runs (a region process).
        part_bytes: the most bytes of site descriptions one ``Register`` carries; more
            sites register in parts (:func:`register_parts`), sent again (unanswered)
            once per ``timeout_ms`` rather than every heartbeat.
    """

    role = "link"

    def __init__(self, sites: Sequence[RemoteSiteAgent], *, digest: str, aggregator: str,
                 heartbeat_ms: int, timeout_ms: int, grace_s: float,
                 site_indices: Sequence[int], n_sites: int,
                 on_mode: Callable[[LinkMode], None] | None = None,
                 regions: Sequence[str] = (), part_bytes: int = REGISTER_PART_BYTES) -> None:
        super().__init__(LINK_AGENT)
        self.regions = list(regions)
        self.part_bytes = part_bytes
        self._parts_sent = 1
        self._registered_at = float("-inf")
        self._heard_at = time.monotonic()
        self.reconnects = 0
        """How many times the link connected afresh, unanswered (see
        :data:`RECONNECT_AFTER_TIMEOUTS`)."""
        self.on_mode = on_mode
        self.sites = list(sites)
        self.digest = digest
        self.aggregator = aggregator
        self.heartbeat_ms = heartbeat_ms
        self.watch = AggregatorWatch(timeout_ms / 1000.0, grace_s)
        self.site_indices = list(site_indices)
        self.n_sites = n_sites
        self.welcome: Welcome | None = None
        self.refused: str | None = None
        self.stop: Stop | None = None
        self.modes: list[tuple[str, float]] = []
        self._seq = 0
        self.on(Welcome, self._on_welcome)
        self.on(Refused, self._on_refused)
        self.on(Heartbeat, self._on_heartbeat)
        self.on(Stop, self._on_stop)
        self.on(StepCleared, self._on_cleared)
        self._entry_bytes = [entry_bytes(site.name) for site in self.sites]

    @property
    def mode(self) -> LinkMode:
        """Joining, joined, holding or local."""
        return self.watch.mode

    def started(self) -> None:
        """Register at once, then every heartbeat period."""
        self.host.call_later(0.0, self._tick)

    def _register(self) -> None:
        # one part: every heartbeat, as ever; parts (megabytes for tens of thousands of
        # sites, which the aggregator works through in order) once per timeout, so that
        # neither side spends its time on copies of a registration still on its way
        now = time.monotonic()
        if self._parts_sent > 1 and now - self._registered_at < self.watch.timeout_s:
            return
        parts = register_parts(self.host.name, [s.info() for s in self.sites], self.digest,
                               os.getpid(), self.regions, self.part_bytes)
        self._parts_sent, self._registered_at = len(parts), now
        for reg in parts:
            self.send(self.aggregator, reg, conversation=f"join/{self.host.name}")

    def _tick(self) -> None:
        if self.stop is not None or self.refused is not None:
            return
        before = self.watch.mode
        mode = self.watch.update(time.monotonic())
        if mode is not before:
            self._changed(mode)
        if mode is LinkMode.JOINED:
            self._seq += 1
            self.send(self.aggregator, Heartbeat(self._seq), conversation="liveness")
        else:
            self._reconnect_if_unheard()
            self._register()
        self.host.call_later(self.heartbeat_ms / 1000.0, self._tick)

    @property
    def silence_before_reconnect_s(self) -> float:
        """How long the link registers unanswered before it connects afresh."""
        return RECONNECT_AFTER_TIMEOUTS * max(self.watch.timeout_s,
                                              len(self.sites) * REGISTER_S_PER_SITE)

    def _reconnect_if_unheard(self) -> None:
        now = time.monotonic()
        if now - self._heard_at < self.silence_before_reconnect_s:
            return
        self._heard_at = now
        if self.host.reconnect(self.aggregator.partition("/")[0]):
            self.reconnects += 1
            self._registered_at = float("-inf")  # the whole registration, on the new one
            self.log.info("%s: nothing from the aggregator for %.1f s; connecting afresh "
                          "(%d)", self.host.name, self.silence_before_reconnect_s,
                          self.reconnects)

    def _changed(self, mode: LinkMode) -> None:
        self.modes.append((mode.value, time.monotonic()))
        if mode is LinkMode.HOLDING:
            self.log.warning("%s: the aggregator is silent; holding the last set-point for %.0f s",
                        self.host.name, self.watch.grace_s)
        elif mode is LinkMode.LOCAL:
            self.log.warning("%s: no aggregator after the grace period; local rules only",
                        self.host.name)
            for site in self.sites:
                site.release()
        else:
            self.log.info("%s: %s", self.host.name, mode.value)
        if self.on_mode is not None:
            self.on_mode(mode)
        trace = self.host.trace
        if trace is not None:
            step = max(s.last_cleared_step for s in self.sites) + 1
            trace.round(sim_time=self.clock.now(), step=step, conversation="liveness",
                        protocol="liveness", round=len(self.modes),
                        detail={"event": mode.value, "host": self.host.name})
            trace.flush()

    def _from_aggregator(self, envelope: Envelope) -> None:
        self._heard_at = now = time.monotonic()
        self.watch.seen(now)

    def _on_welcome(self, envelope: Envelope, welcome: Welcome) -> None:
        first = self.welcome is None
        rejoined = self.watch.mode in (LinkMode.HOLDING, LinkMode.LOCAL)
        self.welcome = welcome
        self._heard_at = now = time.monotonic()
        self.watch.welcomed(now)
        if first:
            # the same stream per site as in one process: stream i of the run's seed
            streams = np.random.default_rng(welcome.seed).spawn(self.n_sites)
            for site, i in zip(self.sites, self.site_indices):
                site.rng = streams[i]
        if first or rejoined:
            self._changed(LinkMode.JOINED)

    def _on_refused(self, envelope: Envelope, refused: Refused) -> None:
        self._heard_at = time.monotonic()
        self.refused = refused.reason
        self.log.error("%s: the aggregator refused this process: %s", self.host.name,
                       refused.reason)

    def _on_heartbeat(self, envelope: Envelope, beat: Heartbeat) -> None:
        self._from_aggregator(envelope)

    def _on_cleared(self, envelope: Envelope, cleared: StepCleared) -> None:
        """The step's outcome for every site of this process: each runs it (a resend runs
        nothing again) and their ``Applied`` go back in batches under the frame cap; a
        site that holds the step answers on its own once it ran it."""
        names, acks, sizes = [], [], []
        for site, size in zip(self.sites, self._entry_bytes):
            applied = site.run_cleared(envelope, cleared)
            if applied is not None:
                names.append(site.name)
                acks.append(applied)
                sizes.append(size)
        for batch in applied_batches(cleared.step, names, acks, sizes):
            self.send(envelope.sender, batch, conversation=envelope.conversation,
                      round=envelope.round)

    def _on_stop(self, envelope: Envelope, stop: Stop) -> None:
        self._from_aggregator(envelope)
        self.stop = stop
        self.log.info("%s: stop (%s)", self.host.name, stop.reason)
