"""Strict MessagePack codec for envelopes and bodies, with a size cap.

Decoding never raises anything but :class:`DecodeError`, whose ``reason`` says what was
wrong (``oversized``, ``too-deep``, ``malformed-envelope``, ``bad-version``,
``unknown-kind``, ``malformed-body``). The host counts, traces and drops such frames.

Bounds, before any decoding: a frame's size (``max_frame_bytes``); nesting as msgspec
descends: it checks the interpreter's recursion limit before it enters each nested value
and raises ``RecursionError`` (a 1,002-byte frame of nested arrays is enough), which
every decode here turns into ``too-deep``. A pre-scan of the bytes on the per-message path
was measured and left out (see ``docs/runtime.md``, Limits). Where a decoded value is
handed to Python code that walks it (a scenario, a plug-in's result, a trace's bodies),
:func:`check_depth` bounds the nesting exactly, before decoding, at :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import msgspec
from vpp.agents.runtime.limits import quote
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope, KindRegistry
from vpp.coordination import msgpack_bounds as bounds

DEFAULT_MAX_FRAME_BYTES = 256 * 1024
"""Frames larger than this are dropped unread (256 KiB: a 96-step schedule of 1,000
segments is about 20 KiB)."""

SCENARIO_FRAME_BYTES = 16 << 20
"""The frame cap of the scenario transfer (``ScenarioSent``, about 0.5 KiB a site): the
aggregator's send cap and the cap of the host a site process fetches the scenario with,
which talks to the aggregator only (16 MiB)."""

MAX_DEPTH = bounds.MAX_DEPTH
"""The deepest nesting :func:`check_depth` lets through (the project's messages, scenarios
and results nest at most about 6 deep)."""

DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError,
                 RecursionError)
"""What msgspec may raise on bytes from elsewhere: a malformed value, a wrong type,
invalid UTF-8 in a string, and nesting past the interpreter's recursion limit."""


class DecodeError(ValueError):
    """A frame that could not be decoded.

    Attributes:
        reason: a short machine-readable cause (see the module docstring).
        envelope: the envelope when it decoded but the body did not, else ``None``.
    """

    def __init__(self, reason: str, detail: str, envelope: Envelope | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.envelope = envelope


def check_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`DecodeError` (``too-deep``) when the MessagePack value(s) in ``data``
    nest deeper than ``limit`` containers, without decoding them (see
    :func:`vpp.coordination.msgpack_bounds.check_depth`)."""
    try:
        bounds.check_depth(data, limit)
    except bounds.NestingError as exc:
        raise DecodeError("too-deep", str(exc)) from None


class Codec:
    """Encodes bodies into frames and decodes frames into (envelope, body).

    Args:
        registry: the message kinds this codec knows.
        max_frame_bytes: frames above this size are rejected as ``oversized``.
        max_send_bytes: frames above this size are not encoded (default:
            ``max_frame_bytes``; larger for a host that hands out its scenario).
    """

    def __init__(self, registry: KindRegistry, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 max_send_bytes: int | None = None):
        max_send_bytes = max_frame_bytes if max_send_bytes is None else max_send_bytes
        if max_frame_bytes <= 0 or max_send_bytes <= 0:
            raise ValueError(f"max_frame_bytes and max_send_bytes must be positive, got "
                             f"{max_frame_bytes} and {max_send_bytes}")
        self.registry = registry
        self.max_frame_bytes = max_frame_bytes
        self.max_send_bytes = max_send_bytes
        self.encoder = msgspec.msgpack.Encoder()
        """The MessagePack encoder (a host's send uses it directly)."""
        self._encoder = self.encoder
        self._envelope_decoder = msgspec.msgpack.Decoder(Envelope)
        # the registry's live tables, read directly on the per-message path
        self._names = registry.names_by_type
        self._decoders = registry.decoders

    def encode(
        self,
        body: msgspec.Struct,
        *,
        sender: str,
        receiver: str,
        conversation: str = "",
        round: int = 0,
        sim_time: float = 0.0,
    ) -> tuple[Envelope, bytes]:
        """Wrap ``body`` in an envelope; return the envelope and its frame."""
        kind, raw = self.encode_body(body)
        envelope = Envelope(WIRE_VERSION, kind, sender, receiver, conversation, round,
                            sim_time, raw)
        frame = self._encoder.encode(envelope)
        if len(frame) > self.max_send_bytes:
            raise ValueError(
                f"{kind} to {receiver} is {len(frame)} bytes, over the "
                f"{self.max_send_bytes}-byte frame cap"
            )
        return envelope, frame

    def encode_body(self, body: msgspec.Struct) -> tuple[str, msgspec.Raw]:
        """``body``'s kind name and its encoding (to wrap in envelopes, once or many
        times: see :meth:`encode_into`)."""
        kind = self._names.get(type(body)) or self.registry.name_of(body)
        return kind, msgspec.Raw(self._encoder.encode(body))

    def encode_into(self, envelope: Envelope, buffer: bytearray) -> int:
        """Append ``envelope``'s frame to ``buffer``; return its size. A frame over the
        send cap is not appended (``buffer`` is left as it was) and raises ValueError,
        as :meth:`encode` does."""
        start = len(buffer)
        self._encoder.encode_into(envelope, buffer, start)
        size = len(buffer) - start
        if size > self.max_send_bytes:
            del buffer[start:]
            self.too_large(envelope, size)
        return size

    def too_large(self, envelope: Envelope, size: int) -> None:
        """Raise the ValueError of a frame of ``size`` bytes over the send cap."""
        raise ValueError(
            f"{envelope.kind} to {envelope.receiver} is {size} bytes, over the "
            f"{self.max_send_bytes}-byte frame cap"
        )

    def decode_envelope(self, frame: bytes) -> Envelope:
        """Decode only the envelope (the body stays raw).

        msgspec reports invalid UTF-8 in a string as ``UnicodeDecodeError``: it is a
        malformed frame like any other.
        """
        if len(frame) > self.max_frame_bytes:
            raise DecodeError("oversized", f"{len(frame)} bytes > cap {self.max_frame_bytes}")
        try:
            envelope = self._envelope_decoder.decode(frame)
        except RecursionError:
            raise DecodeError("too-deep", "the envelope nests past the recursion limit") from None
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed-envelope", str(exc)) from None
        if envelope.version != WIRE_VERSION:
            raise DecodeError(
                "bad-version", f"wire version {envelope.version}, expected {WIRE_VERSION}",
                envelope,
            )
        return envelope

    def decode_body(self, envelope: Envelope) -> msgspec.Struct:
        """Decode an envelope's body strictly by its kind."""
        decoder = self._decoders.get(envelope.kind)
        if decoder is None:
            raise DecodeError("unknown-kind", f"unknown message kind {quote(envelope.kind)}",
                              envelope)
        try:
            return decoder.decode(envelope.body)
        except RecursionError:
            raise DecodeError("too-deep", f"{envelope.kind}: the body nests past the "
                              "recursion limit", envelope) from None
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed-body", f"{envelope.kind}: {exc}", envelope) from None

    def decode(self, frame: bytes) -> tuple[Envelope, msgspec.Struct]:
        """Decode a whole frame: envelope, then body."""
        envelope = self.decode_envelope(frame)
        return envelope, self.decode_body(envelope)
