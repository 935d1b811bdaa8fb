"""Strict MessagePack codec for envelopes and bodies, with a size cap.

Decoding never raises anything but :class:`DecodeError`, whose ``reason`` says what was
wrong (``oversized``, ``malformed-envelope``, ``bad-version``, ``unknown-kind``,
``malformed-body``). The host counts, traces and drops such frames.
"""

from __future__ import annotations

import msgspec

from vpp.agents.messages import WIRE_VERSION, Envelope, KindRegistry

DEFAULT_MAX_FRAME_BYTES = 256 * 1024
"""Frames larger than this are dropped unread (256 KiB: a 96-step schedule of 1,000
segments is about 20 KiB)."""


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


class Codec:
    """Encodes bodies into frames and decodes frames into (envelope, body).

    Args:
        registry: the message kinds this codec knows.
        max_frame_bytes: frames above this size are rejected as ``oversized``.
    """

    def __init__(self, registry: KindRegistry, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        if max_frame_bytes <= 0:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        self.registry = registry
        self.max_frame_bytes = max_frame_bytes
        self._encoder = msgspec.msgpack.Encoder()
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
        kind = self._names.get(type(body)) or self.registry.name_of(body)
        envelope = Envelope(
            WIRE_VERSION,
            kind,
            sender,
            receiver,
            conversation,
            round,
            sim_time,
            msgspec.Raw(self._encoder.encode(body)),
        )
        frame = self._encoder.encode(envelope)
        if len(frame) > self.max_frame_bytes:
            raise ValueError(
                f"{kind} to {receiver} is {len(frame)} bytes, over the "
                f"{self.max_frame_bytes}-byte frame cap"
            )
        return envelope, frame

    def decode_envelope(self, frame: bytes) -> Envelope:
        """Decode only the envelope (the body stays raw).

        msgspec reports invalid UTF-8 in a string as ``UnicodeDecodeError``: it is a
        malformed frame like any other.
        """
        if len(frame) > self.max_frame_bytes:
            raise DecodeError("oversized", f"{len(frame)} bytes > cap {self.max_frame_bytes}")
        try:
            envelope = self._envelope_decoder.decode(frame)
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
            raise DecodeError("unknown-kind", f"unknown message kind {envelope.kind!r}",
                              envelope)
        try:
            return decoder.decode(envelope.body)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            raise DecodeError("malformed-body", f"{envelope.kind}: {exc}", envelope) from None

    def decode(self, frame: bytes) -> tuple[Envelope, msgspec.Struct]:
        """Decode a whole frame: envelope, then body."""
        envelope = self.decode_envelope(frame)
        return envelope, self.decode_body(envelope)
