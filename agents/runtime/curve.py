"""CURVE around the edges: a client that learns its handshake was refused, and the
frequency feed's publisher and subscribers.

ZeroMQ retries a refused CURVE handshake silently; :class:`HandshakeWatch` reads the
client socket's monitor events so that ``vpp site`` can exit with the reason. A grid
publisher binds a CURVE endpoint on its PUB (:func:`publish_securely`), and a site reads it
with the publisher's public key (:func:`subscriber_setup`, ``vpp site --frequency-key``).
See ``docs/deployment.md``.
"""

from __future__ import annotations

import zmq
from vpp.agents.runtime.host import SocketSetup
from vpp.agents.runtime.security import client_setup

HANDSHAKE_REFUSALS = {
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "the aggregator refused this key (not in its allow-list)",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "the CURVE handshake failed (a wrong --server-key?)",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "the CURVE handshake failed",
}
"""The socket monitor events that say a CURVE handshake was refused, and what they mean."""


class HandshakeWatch:
    """A socket monitor on a CURVE client's socket that tells when the server refused the
    handshake (``zmq.EVENT_HANDSHAKE_FAILED_*``); ZeroMQ itself only retries, silently.

    Use :meth:`setup` as (part of) the socket's setup, before it connects; call
    :meth:`refused` from the event loop; :meth:`close` before the context ends.
    """

    def __init__(self) -> None:
        self.monitor: zmq.Socket | None = None
        self._sock: zmq.Socket | None = None
        self.reason: str | None = None

    def setup(self, sock: zmq.Socket) -> None:
        """Watch ``sock`` (call before it connects)."""
        events = zmq.EVENT_HANDSHAKE_SUCCEEDED
        for event in HANDSHAKE_REFUSALS:
            events |= event
        self._sock = sock
        self.monitor = sock.get_monitor_socket(events)

    def refused(self) -> str | None:
        """The reason the handshake was refused, once it was (None until then)."""
        from zmq.utils.monitor import recv_monitor_message

        while self.reason is None and self.monitor is not None:
            try:
                event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            kind = event["event"]
            if kind in HANDSHAKE_REFUSALS:
                detail = event["value"]
                self.reason = HANDSHAKE_REFUSALS[kind] + (
                    f" (ZAP status {detail})" if kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH
                    else f" (errno {detail})" if detail else "")
        return self.reason

    def close(self) -> None:
        """Stop watching (before the socket and the context close)."""
        if self.monitor is not None:
            if self._sock is not None and not self._sock.closed:
                self._sock.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None


def chain(*setups: SocketSetup | None) -> SocketSetup:
    """One socket setup that runs each of ``setups`` (None skipped) in order."""

    def setup(sock: zmq.Socket) -> None:
        for s in setups:
            if s is not None:
                s(sock)

    return setup


def publisher_setup(public: bytes, secret: bytes) -> SocketSetup:
    """Socket options of a CURVE publisher (a grid agent's PUB for the frequency feed):
    a CURVE server with no allow-list, so that any subscriber that knows its public key
    reads an encrypted feed that nobody else can forge."""

    def setup(sock: zmq.Socket) -> None:
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.curve_server = True

    return setup


def publish_securely(host, endpoint: str, public: bytes, secret: bytes) -> str:
    """Bind ``host``'s PUB at one more endpoint, a CURVE one (the grid publisher of a
    frequency feed that ``vpp site --frequency-key`` reads); return the endpoint bound.
    The endpoints bound before stay as they were (CURVE options apply to later binds)."""
    if host.pub is None:
        raise RuntimeError(f"host {host.name} has no PUB to publish on")
    publisher_setup(public, secret)(host.pub)
    host.pub.bind(endpoint)
    return host.pub.getsockopt(zmq.LAST_ENDPOINT).decode()


def subscriber_setup(server_public: bytes) -> SocketSetup:
    """Socket options of a CURVE subscriber of a publisher whose public key is
    ``server_public`` (an ephemeral key pair of its own: the publisher admits anyone)."""
    public, secret = zmq.curve_keypair()
    return client_setup(public, secret, server_public)
