"""A site process: some sites of a scenario, joined to an aggregator over the network.

:func:`serve_sites` builds the named sites exactly as the one-process swarm does (same
devices, strategies and seeded random streams), connects one DEALER to the aggregator,
registers, and serves until it is told to stop, is refused, gets SIGTERM/SIGINT, or (when
started by ``vpp run --processes``) its parent goes away. It writes its own trace shard
and ships its rows to the aggregator (:mod:`vpp.agents.membership.trace_ship`), which
writes them into this host's shard of its run directory. See
``docs/protocols/distributed.md``.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import zmq
from vpp.agents.membership.coordinator import LINK_AGENT, LinkSettings
from vpp.agents.membership.liveness import LinkMode
from vpp.agents.membership.messages import (
    Refused,
    ScenarioRequest,
    ScenarioSent,
    Stopped,
    distributed_registry,
)
from vpp.agents.membership.site_link import SiteLinkAgent
from vpp.agents.membership.trace_ship import SINK_AGENT, TraceShipper
from vpp.agents.runtime import codec
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.curve import HandshakeWatch, chain
from vpp.agents.runtime.host import Host, SocketSetup
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, TraceWriteError, shard_path
from vpp.runs.fleet.sites import named_entries, with_own_sites
from vpp.runs.placement.collector import fleet_built, fleet_closed
from vpp.runs.placement.local_response import LocalFrequency, LocalResponse
from vpp.runs.placement.remote import AGGREGATOR_HOST, scenario_digest
from vpp.runs.scenario import Scenario, ScenarioError, SiteSpec
from vpp.runs.stages import announce

log = logging.getLogger(__name__)

EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_SIGNAL = 143
EXIT_ORPHANED = 3
EXIT_LOCAL_TOO_LONG = 4


@dataclass
class SiteProcessResult:
    """How a site process ended.

    Attributes:
        exit_code: 0 stopped by the aggregator, 1 its output could not be written, 2
            refused (by the coordinator, or the CURVE handshake), 3 parent gone, 4 on local
            rules for longer than ``local_for_s``, 143 signal.
        reason: why, in words.
        host: the process's host name.
        modes: the link's mode changes (joined, holding, local), in order.
    """

    exit_code: int
    reason: str
    host: str
    modes: list[str]


def host_name_for(sites: Sequence[str]) -> str:
    """The default host name of a process serving ``sites``: ``site-<first site>``."""
    return f"site-{sites[0]}"


def build_sites(scenario: Scenario, names: Sequence[str], where: str, *,
                allow_plugins: bool = False, own_sites: Sequence[SiteSpec] | None = None,
                ) -> tuple[list, list[int]]:
    """The named sites (scenario order kept), built by the scenario's mode as the
    one-process run builds them (merit-order or ADMM site agents, each acknowledging its
    dispatch); return them with their positions among the scenario's sites. Each is given
    the run's last step (a call or outcome past it is refused, see
    :class:`~vpp.agents.dispatch.acknowledging.Acknowledging`).

    ``own_sites``: this process's own descriptions of its sites (a site file) when
    ``scenario`` came from the aggregator: their devices and strategies are built from
    these, and ``allow_plugins`` (``--allow-plugins``: ``module:Class`` may load) applies to
    them only, so no code a scenario received over the network names is ever imported.
    """
    from vpp.runs import modes

    scenario = with_own_sites(scenario, own_sites)
    entries = named_entries(scenario, names, where)
    own = None if own_sites is None else {spec.name for spec in own_sites}
    mode = modes.select(scenario)
    sites = mode.sites(scenario, entries, None, where=where, allow_plugins=allow_plugins,
                       remote=True, own=own)
    for site in sites:
        site.last_step = scenario.steps - 1
    return sites, [e.index for e in entries]


class _Signals:
    """SIGTERM and SIGINT end the serving loop (the trace is flushed on the way out)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old = {}
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers (a test may serve from a thread)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame) -> None:
        self.received = signum

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def parent_gone(fd: int | None) -> bool:
    """True when the parent's pipe reached end-of-file (the parent is gone)."""
    if fd is None:
        return False
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable) and os.read(fd, 1) == b""


class _ScenarioAsker(Agent):
    """Asks the coordinator for its scenario every ``period_s`` until answered."""

    role = "link"

    def __init__(self, period_s: float) -> None:
        super().__init__(LINK_AGENT)
        self.period_s = period_s
        self.sent: ScenarioSent | None = None
        self.refused: str | None = None
        self.on(ScenarioSent, lambda env, sent: setattr(self, "sent", sent))
        self.on(Refused, lambda env, refused: setattr(self, "refused", refused.reason))

    def started(self) -> None:
        self.host.call_later(0.0, self._ask)

    def _ask(self) -> None:
        if self.sent is None and self.refused is None:
            self.send(f"{AGGREGATOR_HOST}/coordinator", ScenarioRequest(self.host.name),
                      conversation=f"join/{self.host.name}")
            self.host.call_later(self.period_s, self._ask)


def fetch_scenario(connect: str, host_name: str, *, setup: SocketSetup | None = None,
                   period_s: float = 0.25, timeout_s: float | None = None,
                   ) -> Scenario | None:
    """Ask the aggregator at ``connect`` for the scenario it runs (a site process started
    from its own site file does this before it registers), asking again every
    ``period_s`` until it answers, ``timeout_s`` passes (None: no limit) or SIGTERM /
    SIGINT (then it returns None). Raises ScenarioError when refused, not answered, or
    the answer is not the scenario its digest says."""
    context = zmq.Context()
    host = Host(host_name, f"inproc://{host_name}-ask-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry(), max_frame_bytes=codec.SCENARIO_FRAME_BYTES)
    handshake = HandshakeWatch()
    host.connect(AGGREGATOR_HOST, connect, duplex=True, setup=chain(handshake.setup, setup))
    asker = host.add(_ScenarioAsker(period_s))
    loop = EventLoop(host)
    signals = _Signals()
    end = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while asker.sent is None and asker.refused is None and signals.received is None:
            if end is not None and time.monotonic() > end:
                break
            if (why := handshake.refused()) is not None:
                asker.refused = why
                break
            loop.run_once(0.05)
    finally:
        signals.restore()
        handshake.close()
        host.close()
        context.term()
    if signals.received is not None:
        return None
    if asker.refused is not None:
        raise ScenarioError(f"{connect}: the aggregator refused: {asker.refused}")
    if asker.sent is None:
        raise ScenarioError(f"{connect}: no answer from an aggregator within {timeout_s} s")
    try:
        codec.check_depth(asker.sent.scenario)  # bounded before it is decoded
        scenario = msgspec.msgpack.decode(asker.sent.scenario, type=Scenario)
    except (codec.DecodeError, *codec.DECODE_ERRORS) as exc:
        raise ScenarioError(f"{connect}: the aggregator sent no valid scenario "
                            f"({str(exc)[:300]})") from None
    if scenario_digest(scenario) != asker.sent.digest:
        raise ScenarioError(f"{connect}: the scenario received does not match its digest")
    return scenario


def serve_sites(scenario: Scenario, names: Sequence[str], connect: str, *,
                out_dir: Path | str | None = None, where: str = "<scenario>",
                host_name: str | None = None, setup: SocketSetup | None = None,
                settings: LinkSettings | None = None, parent_fd: int | None = None,
                ready=None, on_host=None, frequency: LocalFrequency | None = None,
                local_for_s: float | None = None, allow_plugins: bool = False,
                own_sites: Sequence[SiteSpec] | None = None,
                ship_trace: bool = True, regions: Sequence[str] = ()) -> SiteProcessResult:
    """Serve ``names`` of ``scenario`` for the aggregator at ``connect`` until stopped.

    Args:
        out_dir: the run directory for this process's shard (default:
            ``vpp-output/<the aggregator's run name>``), claimed
            (:func:`vpp.runs.record.claim.claim`, lock ``site-<host>``) before anything else
            (raising :class:`~vpp.runs.record.claim.OutputError`), the default one once
            welcomed (then exit code 1). Either way the shard is opened once the
            aggregator welcomed this process.
        host_name: the host's name (default ``site-<first site>``).
        setup: socket options for the connection (CURVE client keys). A CURVE handshake
            that the aggregator refuses ends the process with exit code 2 and the reason.
        settings: heartbeats and timeouts (the aggregator's must match).
        parent_fd: the read end of a pipe the parent holds open; end-of-file stops this.
        ready: called once with the host name when the aggregator welcomed this process.
        on_host: called once with the host, its agents added, before serving (e.g. to
            export its metrics).
        frequency: where to hear the grid's frequency for a local frequency response
            once the aggregator is gone past the grace period (None: the devices then
            run at their baselines only).
        local_for_s: end the process (exit code 4) once it has been on local rules for
            this long (None: stay local until the aggregator comes back).
        allow_plugins, own_sites: as for :func:`build_sites` (``own_sites``: the
            site file's entries when ``scenario`` came from the aggregator).
        ship_trace: also send the trace's rows to the aggregator, which writes them into
            this host's shard of its run directory (:mod:`vpp.agents.membership.trace_ship`);
            off for ``vpp run --processes``, whose sites write into that directory.
        regions: the regional aggregators this process runs (added by ``on_host``),
            named in its registration (``Register.regions``).
    """
    from vpp.runs.record.claim import OutputError, claim, disk_full

    settings = settings or LinkSettings()
    sites, indices = build_sites(scenario, names, where, allow_plugins=allow_plugins,
                                 own_sites=own_sites)
    host_name = host_name or host_name_for([s.name for s in sites])
    # a folder given is claimed before any work (OutputError); the default one, named by
    # the aggregator, once welcomed
    lock = (claim(out_dir, name=f"site-{host_name}", fresh=False)
            if out_dir is not None else None)
    context = zmq.Context()
    trace: TraceRecorder | None = None
    clock = SimulatedClock(scenario.start)
    host = Host(host_name, f"inproc://{host_name}-{uuid.uuid4().hex}", context=context,
                clock=clock, registry=distributed_registry())
    handshake = HandshakeWatch()

    def heartbeats(sock: zmq.Socket) -> None:
        # ZeroMQ's own heartbeats: a connection to an aggregator that vanished without
        # closing it is dropped and made again, rather than kept open for ever
        sock.setsockopt(zmq.HEARTBEAT_IVL, settings.heartbeat_ms)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, settings.timeout_ms)

    announce(f"joining the aggregator at {connect}")
    host.connect(AGGREGATOR_HOST, connect, duplex=True,
                 setup=chain(handshake.setup, heartbeats, setup))
    for site in sites:
        host.add(site)
    local = LocalResponse(host, sites, frequency) if frequency is not None else None
    opened: list[BaseException] = []

    def open_trace() -> None:
        # at the first Welcome, before any message that follows it in the same read
        nonlocal trace, lock
        if trace is not None or opened:
            return
        try:
            run_dir = (Path(out_dir) if out_dir is not None
                       else Path("vpp-output") / link.welcome.run_name)
            if lock is None:
                lock = claim(run_dir, name=f"site-{host_name}", option="the run directory",
                             fresh=False)
            trace = TraceRecorder(shard_path(run_dir, host_name), host_name)
        except (OutputError, TraceWriteError) as exc:
            opened.append(exc)
            return
        try:  # the aggregator's trace level (a bad one: everything, and said)
            trace.set_level(link.welcome.trace, scenario.site_names(), link.welcome.seed)
        except ValueError as exc:
            log.warning("the aggregator's trace level: %s; tracing in full", exc)
        host.trace = trace
        for agent in host.agents.values():
            trace.agent(agent.address, agent.role, type(agent).__qualname__)
        trace.set_meta(run=link.welcome.run_name, scenario_digest=link.digest)
        if shipper is not None:
            shipper.attach(trace)

    def on_mode(mode: LinkMode) -> None:
        if mode is LinkMode.JOINED:
            open_trace()
        if local is not None:
            local.on_mode(mode)

    link = SiteLinkAgent(sites, digest=scenario_digest(scenario),
                         aggregator=f"{AGGREGATOR_HOST}/coordinator",
                         heartbeat_ms=settings.heartbeat_ms, timeout_ms=settings.timeout_ms,
                         grace_s=settings.grace_s, site_indices=indices,
                         n_sites=len(scenario.site_names()), on_mode=on_mode,
                         regions=regions)
    host.add(link)
    shipper = TraceShipper(
        lambda batch: link.send(f"{AGGREGATOR_HOST}/{SINK_AGENT}", batch, conversation="trace"),
        lambda: link.mode is LinkMode.JOINED, host.call_later) if ship_trace else None
    if on_host is not None:
        on_host(host)
    loop = EventLoop(host)
    signals = _Signals()
    told_ready = False
    fleet_built()  # its sites and regions, out of the collector's sight (collector.py)
    try:
        while True:
            if opened:
                exc = opened[0]
                code, reason = EXIT_FAILED, (f"no room to write: {exc}" if disk_full(exc)
                                             else str(exc))
                break
            if link.welcome is not None and not told_ready and trace is not None:
                told_ready = True
                trace.set_meta(host=host_name, sites=[s.name for s in sites], pid=os.getpid())
                if ready is not None:
                    ready(host_name)
            if link.stop is not None:
                code, reason = EXIT_STOPPED, f"stopped: {link.stop.reason}"
                break
            if link.refused is not None:
                code, reason = EXIT_REFUSED, f"refused: {link.refused}"
                break
            if (why := handshake.refused()) is not None:
                code, reason = EXIT_REFUSED, f"refused: {why}"
                break
            if signals.received is not None:
                code, reason = EXIT_SIGNAL, f"signal {signal.Signals(signals.received).name}"
                break
            if parent_gone(parent_fd):
                code, reason = EXIT_ORPHANED, "the parent process is gone"
                break
            if local_for_s is not None and link.mode is LinkMode.LOCAL:
                since = link.modes[-1][1]
                if time.monotonic() - since >= local_for_s:
                    code, reason = EXIT_LOCAL_TOO_LONG, (
                        f"on local rules for {local_for_s:g} s (--local-for): no aggregator")
                    break
            try:
                loop.run_once(0.05)
            except TraceWriteError as exc:
                code, reason = EXIT_FAILED, (f"no room to write: {exc}" if disk_full(exc)
                                             else str(exc))
                break
        if trace is not None and code != EXIT_FAILED:
            try:
                if code == EXIT_STOPPED and shipper is not None:
                    shipper.drain()  # every row so far, ahead of Stopped
                    loop.flush_out()
                trace.sync()
            except TraceWriteError as exc:
                code, reason = EXIT_FAILED, str(exc)
        if code == EXIT_STOPPED:
            link.send(f"{AGGREGATOR_HOST}/coordinator", Stopped(host_name, host.stats.sent),
                      conversation="stop")
            if trace is not None and shipper is not None and trace.failed is None:
                shipper.drain()  # the Stopped row, in the same read as Stopped
            loop.flush_out()
            time.sleep(0.05)  # let ZeroMQ's I/O thread put it on the wire
        (log.error if code in (EXIT_FAILED, EXIT_REFUSED) else log.info)(
            "%s: %s", host_name, reason)
        return SiteProcessResult(code, reason, host_name, [m for m, _ in link.modes])
    finally:  # the handlers stay until the trace is closed: a late SIGTERM loses nothing
        handshake.close()
        try:
            host.close()
            if trace is not None:
                trace.close()
        except TraceWriteError:
            pass  # reported above, or the run ended for it already
        context.term()
        if lock is not None:
            lock.release()
        signals.restore()
        fleet_closed()
