"""The envelope and the registry of message kinds.

Every message on the wire is one ZeroMQ frame: a MessagePack array holding the envelope
fields and the body, still encoded. The body is decoded by its *kind*, looked up in a
:class:`KindRegistry`, so a plug-in adds a message kind by registering its
``msgspec.Struct`` type; nothing else in the runtime changes. See ``docs/runtime.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

WIRE_VERSION = 1
"""The envelope layout version; a frame of another version is dropped."""


class Envelope(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """What every message carries besides its body.

    Its fields are strings, numbers and raw bytes, so an envelope can never be part of a
    reference cycle: it is not tracked by the garbage collector (``gc=False``), which the
    trace's buffered rows, one or two per message, would otherwise make it scan.

    Attributes:
        version: the wire layout version (:data:`WIRE_VERSION`).
        kind: the registered name of the body's type, e.g. ``"Bid"``.
        sender: the sending agent's address, ``"host/agent"``.
        receiver: the receiving agent's address, or ``"*"`` on a broadcast topic.
        conversation: the negotiation this message belongs to, e.g. ``"merit-order/step-12"``.
        round: the negotiation round within the conversation, from 0.
        sim_time: simulated time of the sender when it sent, seconds from the run's start.
        body: the body, MessagePack-encoded, decoded later by kind.
    """

    version: int
    kind: str
    sender: str
    receiver: str
    conversation: str
    round: int
    sim_time: float
    body: msgspec.Raw


class UnknownKindError(KeyError):
    """Raised when a body's kind is not registered."""


class KindRegistry:
    """Maps message kind names to their ``msgspec.Struct`` types.

    A kind's name is its class name unless given. Registering the same name twice with
    another type is an error: two plug-ins must not silently shadow each other.
    """

    def __init__(self, kinds: Iterable[type[msgspec.Struct]] = ()) -> None:
        self._types: dict[str, type[msgspec.Struct]] = {}
        self._names: dict[type[msgspec.Struct], str] = {}
        self._decoders: dict[str, msgspec.msgpack.Decoder] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: type[msgspec.Struct], name: str | None = None) -> str:
        """Register a body type under ``name`` (default: its class name); return the name."""
        if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            raise TypeError(f"a message kind must be a msgspec.Struct type, got {kind!r}")
        name = name or kind.__name__
        known = self._types.get(name)
        if known is not None and known is not kind:
            raise ValueError(
                f"message kind {name!r} is already registered to "
                f"{known.__module__}.{known.__qualname__}"
            )
        self._types[name] = kind
        self._names[kind] = name
        self._decoders[name] = msgspec.msgpack.Decoder(kind)
        return name

    def name_of(self, body: msgspec.Struct) -> str:
        """The registered kind name of a body instance."""
        try:
            return self._names[type(body)]
        except KeyError:
            raise UnknownKindError(
                f"{type(body).__qualname__} is not a registered message kind"
            ) from None

    def type_of(self, name: str) -> type[msgspec.Struct]:
        """The body type registered under ``name``."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownKindError(f"unknown message kind {name!r}") from None

    def decoder(self, name: str) -> msgspec.msgpack.Decoder:
        """A strict decoder for the body of kind ``name``."""
        try:
            return self._decoders[name]
        except KeyError:
            raise UnknownKindError(f"unknown message kind {name!r}") from None

    @property
    def decoders(self) -> dict[str, msgspec.msgpack.Decoder]:
        """Kind name -> strict decoder (live and shared: do not modify)."""
        return self._decoders

    @property
    def names_by_type(self) -> dict[type[msgspec.Struct], str]:
        """Body type -> kind name (live and shared: do not modify)."""
        return self._names

    def names(self) -> list[str]:
        """All registered kind names, sorted."""
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types
