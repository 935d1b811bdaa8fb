"""A host: one process's runtime, owning the ZeroMQ sockets and serving many agents.

Sockets (see ``docs/runtime.md``):

- a ROUTER bound at the host's endpoint takes addressed messages; every peer host, this
  one included, reaches it through a DEALER whose identity is the sending host's name, so
  even two agents of one host talk across ZeroMQ;
- a PUB (optional) carries broadcasts, each one frame: the topic, a NUL byte, then the
  batch; a SUB connected to peers' PUBs receives them for the local agents that
  subscribed (ZeroMQ filters on the topic and its NUL, so ``freq`` never hears
  ``frequency``).

Messages to one peer are coalesced: ``send`` encodes the envelope straight into the peer's
buffer, and :meth:`Host.flush_out` (the event loop calls it after every pass) sends each
peer's buffer as one ZeroMQ message, a *batch* (a MessagePack array of envelopes);
:meth:`Host.send_all` sends one body, encoded once, to many receivers. Each envelope of a
batch is decoded, traced and delivered (or dropped) on its own.

A host may also *listen* on more endpoints (:meth:`Host.listen`, e.g. a CURVE-secured
``tcp://`` one for site processes), answer a peer through its ROUTER by the peer's identity
(:meth:`Host.route_back`: a remote site needs no open port), and read the answers that come
back on a DEALER (``connect(..., duplex=True)``). See ``docs/protocols/distributed.md``.

Endpoints may be ``inproc://``, ``ipc://`` or ``tcp://``. Every frame in and out is traced;
one that cannot be decoded or delivered is counted (:attr:`Host.stats`), traced with its
reason and dropped, and the host goes on (the receiving half is
:class:`vpp.agents.runtime.inbox.Inbox`, the sending half
:class:`vpp.agents.runtime.sending.SendPath`). What a peer can make a host hold is bounded
(:data:`RECEIVE_HWM`, :data:`SEND_HWM`, ``max_frame_bytes``; ``docs/runtime.md``, Limits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import zmq
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.batches import BATCH_BYTES, Outgoing, topic_key
from vpp.agents.runtime.clock import Clock, WallClock
from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES, Codec
from vpp.agents.runtime.inbox import Inbox
from vpp.agents.runtime.limits import (  # the HWMs: re-exported
    RECEIVE_HWM,
    SEND_HWM,
    DropLog,
    HostStats,
    PeerLimiter,
)
from vpp.agents.runtime.messages import KindRegistry
from vpp.agents.runtime.sending import SendPath
from vpp.agents.runtime.timers import HostTimers, Timer
from vpp.agents.runtime.trace import TraceRecorder

log = logging.getLogger(__name__)

SocketSetup = Callable[[zmq.Socket], None]
"""Sets options on a socket before it binds or connects (e.g. CURVE keys)."""


class Host(SendPath):
    """The runtime of one process: sockets, agents, timers, trace.

    Args:
        name: the host's name, the first part of its agents' addresses.
        endpoint: where its ROUTER binds, e.g. ``inproc://sites`` or ``tcp://127.0.0.1:5555``
            (``tcp://127.0.0.1:*`` picks a free port; :attr:`endpoint` then tells which).
        pub_endpoint: where its PUB binds, or None for a host that does not broadcast.
        context: the ZeroMQ context (a shared one is needed for ``inproc://``).
        clock: the agents' clock (default: a wall clock), read for every envelope's
            ``sim_time``.
        timer_clock: the clock :meth:`call_later` runs on; None (default): wall time,
            whatever ``clock`` is (distributed runs: wall deadlines and heartbeats,
            simulated ``sim_time``). A one-process simulated run passes its
            ``SimulatedClock``: its deadlines are then simulated time, which the
            :class:`~vpp.agents.runtime.loop.EventLoop` moves once its hosts are
            quiescent (``docs/runtime.md``, Time).
        registry: the message kinds this host decodes.
        trace: where every message is recorded (None records nothing).
        max_frame_bytes: a larger message is dropped as ``oversized`` (a batch may hold
            many messages: the transport's own cap is a full batch plus two messages).
        max_send_bytes: a larger message is not sent (default ``max_frame_bytes``; an
            aggregator that hands out its scenario sends larger ones).
        limiter: a per-peer rate limit on addressed envelopes (None: no limit).
        bind_identities: deliver what comes over an authenticated (CURVE) connection only
            when the sending host's name is the name its key is allowed under (the
            ``User-Id`` that :class:`vpp.agents.runtime.security.AllowList` gives the connection); a
            connection may then not take over another's identity (no ROUTER handover).
    """

    def __init__(
        self, name: str, endpoint: str, *, pub_endpoint: str | None = None,
        context: zmq.Context | None = None, clock: Clock | None = None,
        registry: KindRegistry | None = None, trace: TraceRecorder | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, limiter: PeerLimiter | None = None,
        bind_identities: bool = False, max_send_bytes: int | None = None,
        timer_clock: Clock | None = None,
    ) -> None:
        if not name or "/" in name or "*" in name:
            raise ValueError(f"a host name must be non-empty, without '/' or '*': {name!r}")
        self.name = name
        self.endpoint = endpoint
        self.pub_endpoint = pub_endpoint
        self.context = context or zmq.Context.instance()
        self.clock: Clock = clock or WallClock()
        self.codec = Codec(registry or KindRegistry(), max_frame_bytes, max_send_bytes)
        self._kinds = self.codec.registry.names_by_type  # (read by send, once per message)
        self._encode, self._encode_into = self.codec.encoder.encode, self.codec.encoder.encode_into
        self._trace = trace
        self.stats = HostStats()
        self.drops = DropLog(f"host {name}", log, host=name)
        self.agents: dict[str, Agent] = {}
        self._topics: dict[bytes, list[Agent]] = {}
        self._peers: dict[str, zmq.Socket] = {}
        self._endpoints: dict[str, str] = {}
        self._uplinks: dict[zmq.Socket, str] = {}
        self._routes: set[str] = set()
        self._gone: set[str] = set()
        self.limiter = limiter
        self.timers = HostTimers(timer_clock)
        self.bind_identities = bind_identities
        self.router = self._socket(zmq.ROUTER)
        # a peer that reconnects under its name takes its identity over (a site process
        # that restarted), unless identities are bound to keys
        self.router.setsockopt(zmq.ROUTER_HANDOVER, 0 if bind_identities else 1)
        # answering a peer that is gone raises (EHOSTUNREACH) instead of vanishing silently
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # the transport's own guard is looser than the codec's cap, so that a message just
        # over the cap is read, counted and traced rather than cutting the connection; a
        # batch is closed past BATCH_BYTES, so it holds at most one message more
        self._max_batch = BATCH_BYTES + 2 * max_frame_bytes
        self.router.setsockopt(zmq.MAXMSGSIZE, self._max_batch)
        self._outbox: dict[str, Outgoing] = {}
        self.router.bind(endpoint)
        # a wildcard port (tcp://127.0.0.1:*) is resolved to the one the system chose
        self.endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.pub: zmq.Socket | None = None
        if pub_endpoint is not None:
            self.pub = self._socket(zmq.PUB)
            self.pub.bind(pub_endpoint)
            self.pub_endpoint = self.pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.sub = self._socket(zmq.SUB)
        self.sub.setsockopt(zmq.MAXMSGSIZE, self._max_batch)
        self.inbox = Inbox(name=name, codec=self.codec, agents=self.agents, topics=self._topics,
                           uplinks=self._uplinks, router=self.router, sub=self.sub,
                           stats=self.stats, drops=self.drops, limiter=limiter,
                           bind_identities=bind_identities, max_frame=max_frame_bytes,
                           max_batch=self._max_batch, schedule_wall=self.call_later_wall)
        self.inbox.trace = trace
        self.connect(name, self.endpoint, self.pub_endpoint)
        self.closed = False

    def drain(self, sock: zmq.Socket) -> int:
        """Read and deliver what waits on ``sock`` (:meth:`Inbox.drain`); return how many."""
        return self.inbox.drain(sock)

    @property
    def trace(self) -> TraceRecorder | None:
        """Where every message in and out is recorded (None: nowhere); settable, e.g. once
        a site process knows its run's directory."""
        return self._trace

    @trace.setter
    def trace(self, trace: TraceRecorder | None) -> None:
        self._trace = trace
        self.inbox.trace = trace

    @property
    def key_gate(self):
        """With ``bind_identities``: whether a connection's key is still admitted (see
        :class:`~vpp.agents.runtime.inbox.Inbox`); None admits all."""
        return self.inbox.key_gate

    @key_gate.setter
    def key_gate(self, gate) -> None:
        self.inbox.key_gate = gate

    def _socket(self, kind: int) -> zmq.Socket:
        sock = self.context.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, SEND_HWM)
        sock.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        return sock

    # -- wiring ------------------------------------------------------------------------
    def connect(self, host: str, endpoint: str, pub_endpoint: str | None = None, *,
                duplex: bool = False, setup: SocketSetup | None = None) -> None:
        """Make ``host`` (at ``endpoint``) reachable, and hear its broadcasts if it has any.

        With ``duplex``, what ``host`` answers through its ROUTER (see :meth:`route_back`)
        is read from this connection too (call it before the host joins an event loop).
        ``setup`` sets socket options (CURVE keys) before connecting.
        """
        if host not in self._peers:
            dealer = self._socket(zmq.DEALER)
            dealer.setsockopt(zmq.IDENTITY, self.name.encode())
            if duplex:
                dealer.setsockopt(zmq.MAXMSGSIZE, self._max_batch)
                self._uplinks[dealer] = host
            if setup is not None:
                setup(dealer)
            dealer.connect(endpoint)
            self._peers[host] = dealer
            self._endpoints[host] = endpoint
        if pub_endpoint is not None:
            self.sub.connect(pub_endpoint)

    def reconnect(self, host: str) -> bool:
        """Drop the connection to ``host`` and connect again (same socket, options and
        keys; what was queued on the old connection is lost): a new handshake, for a
        connection the other side has set aside. False when ``host`` was never connected."""
        dealer = self._peers.get(host)
        if dealer is None:
            return False
        endpoint = self._endpoints[host]
        try:
            dealer.disconnect(endpoint)
        except zmq.ZMQError:
            pass  # (already torn down: connect anew all the same)
        dealer.connect(endpoint)
        return True

    def listen(self, endpoint: str, setup: SocketSetup | None = None) -> str:
        """Bind the ROUTER at one more endpoint (after ``setup`` sets its options, e.g. a
        CURVE server's keys); return the endpoint bound (a wildcard port resolved)."""
        if setup is not None:
            setup(self.router)
        self.router.bind(endpoint)
        return self.router.getsockopt(zmq.LAST_ENDPOINT).decode()

    def route_back(self, host: str) -> None:
        """Answer ``host`` through this ROUTER, by its identity (it connected to us)."""
        self._routes.add(host)
        self._gone.discard(host)

    def forget_route(self, host: str) -> None:
        """Stop answering ``host`` through the ROUTER (it is gone): what an agent sends it
        from now on is dropped as ``unreachable`` (counted, traced), not raised, since its
        agents may still be mid-negotiation with the host's sites."""
        if host in self._routes:
            self._routes.discard(host)
            self._gone.add(host)

    def reachable(self, host: str) -> bool:
        """True when messages to ``host`` have a way to go."""
        return host in self._peers or host in self._routes

    def add(self, agent: Agent) -> Agent:
        """Host ``agent``; its address becomes ``host/name``."""
        if agent.name in self.agents:
            raise ValueError(f"host {self.name} already has an agent named {agent.name}")
        agent.host = self
        self.agents[agent.name] = agent
        self.inbox.by_address[agent.address] = agent
        if self._trace is not None:
            self._trace.agent(agent.address, agent.role, type(agent).__qualname__)
        agent.started()
        return agent

    def subscribe(self, agent: Agent, topic: str) -> None:
        """Deliver broadcasts on ``topic`` to ``agent``."""
        key = topic_key(topic)
        if key not in self._topics:
            self.sub.setsockopt(zmq.SUBSCRIBE, key)
            self._topics[key] = []
        self._topics[key].append(agent)

    def unsubscribe(self, agent: Agent, topic: str) -> None:
        """Stop delivering broadcasts on ``topic`` to ``agent`` (nothing if it was not)."""
        key = topic_key(topic)
        agents = self._topics.get(key)
        if agents is None or agent not in agents:
            return
        agents.remove(agent)
        if not agents:
            del self._topics[key]
            self.sub.setsockopt(zmq.UNSUBSCRIBE, key)

    def hear(self, pub_endpoint: str) -> None:
        """Receive the broadcasts of a publisher that is not a peer host (a grid agent's
        PUB heard by a site process for its local frequency response)."""
        self.sub.connect(pub_endpoint)

    def sockets(self) -> list[zmq.Socket]:
        """The sockets an event loop polls for this host."""
        return [self.router, self.sub, *self._uplinks]

    # -- timers (see HostTimers) ---------------------------------------------------------
    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once ``delay_s`` seconds have passed on the host's timer clock
        (negotiation deadlines, heartbeats): wall seconds, or simulated seconds when the
        host was made with a simulated ``timer_clock``."""
        return self.timers.later(delay_s, callback)

    def call_later_wall(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once ``delay_s`` wall seconds have passed, whatever the timer
        clock (housekeeping about the machine, not the run: the drop log's interval)."""
        return self.timers.later_wall(delay_s, callback)

    def next_timer_in(self) -> float | None:
        """Wall seconds the event loop may sleep before a timer is due, or None."""
        return self.timers.next_in()

    def run_timers(self) -> int:
        """Run every due timer; return how many ran."""
        return self.timers.run_due()

    def close(self) -> None:
        """Close every socket (the context stays with its owner) and flush the trace."""
        if self.closed:
            return
        self.flush_out()
        self.inbox.flush_drops()
        for sock in (*self._peers.values(), self.router, self.sub,
                     *([self.pub] if self.pub is not None else [])):
            sock.close(linger=0)
        if self._trace is not None:
            self._trace.flush()
        self.closed = True
