"""The base class of every agent: a name, a host, handlers by message kind."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError

if TYPE_CHECKING:
    from vpp.agents.runtime.clock import Clock
    from vpp.agents.runtime.host import Host

M = TypeVar("M", bound=msgspec.Struct)
Handler = Callable[[Envelope, Any], None]


class Agent:
    """An agent lives in one host and talks only by messages.

    Subclasses register a handler per message type with :meth:`on`; a message of a type
    with no handler is rejected (traced as dropped, the agent goes on).

    Args:
        name: unique within its host; the agent's address is ``host/name``.
    """

    role: ClassVar[str] = "agent"

    def __init__(self, name: str) -> None:
        if not name or "/" in name or "*" in name:
            raise ValueError(f"an agent name must be non-empty, without '/' or '*': {name!r}")
        self.name = name
        self.host: Host | None = None
        self._handlers: dict[type, Handler] = {}
        self.messages_in = 0
        """Messages handed to this agent (its handler ran or rejected them)."""
        self.messages_out = 0
        """Messages this agent sent or broadcast."""
        self._address: tuple[Host | None, str] = (None, "")

    @property
    def address(self) -> str:
        """``host/name``, once the agent is hosted."""
        host = self.host
        made_for, address = self._address
        if host is made_for and host is not None:
            return address  # (read for every message sent: made once per host)
        if host is None:
            raise RuntimeError(f"agent {self.name} is not hosted yet")
        address = f"{host.name}/{self.name}"
        self._address = (host, address)
        return address

    @property
    def clock(self) -> Clock:
        """The host's clock: the only time an agent may read."""
        if self.host is None:
            raise RuntimeError(f"agent {self.name} is not hosted yet")
        return self.host.clock

    @property
    def log(self) -> logging.LoggerAdapter:
        """A logger whose records name this agent and its host (``vpp.agents.ops.logs``)."""
        from vpp.agents.ops.logs import agent_logger

        host = self.host.name if self.host is not None else "-"
        return agent_logger(logging.getLogger(type(self).__module__), host, self.name)

    def on(self, kind: type[M], handler: Callable[[Envelope, M], None]) -> None:
        """Call ``handler(envelope, body)`` for every received message of type ``kind``."""
        self._handlers[kind] = handler

    def handle(self, envelope: Envelope, body: msgspec.Struct) -> None:
        """Dispatch a received message to its handler (called by the host)."""
        self.messages_in += 1
        handler = self._handlers.get(type(body))
        if handler is None:
            raise ProtocolError(f"{self.role} {self.name} does not take {envelope.kind} messages")
        handler(envelope, body)

    def send(self, receiver: str, body: msgspec.Struct, *, conversation: str = "",
             round: int = 0) -> None:
        """Send ``body`` to the agent at address ``receiver`` (``host/name``)."""
        if self.host is None:
            raise RuntimeError(f"agent {self.name} is not hosted yet")
        self.host.send(self, receiver, body, conversation=conversation, round=round)
        self.messages_out += 1

    def send_all(self, receivers: Iterable[str], body: msgspec.Struct, *,
                 conversation: str = "", round: int = 0) -> None:
        """Send one ``body`` to each address of ``receivers`` in turn (what as many
        :meth:`send` calls do, the body encoded once: a call for bids to every site)."""
        if self.host is None:
            raise RuntimeError(f"agent {self.name} is not hosted yet")
        self.messages_out += self.host.send_all(self, receivers, body,
                                                conversation=conversation, round=round)

    def publish(self, topic: str, body: msgspec.Struct, *, conversation: str = "",
                round: int = 0) -> None:
        """Broadcast ``body`` on ``topic`` to every subscribed agent of every connected host."""
        if self.host is None:
            raise RuntimeError(f"agent {self.name} is not hosted yet")
        self.host.publish(self, topic, body, conversation=conversation, round=round)
        self.messages_out += 1

    def started(self) -> None:
        """Called once the agent is hosted; subclasses subscribe to topics here."""
