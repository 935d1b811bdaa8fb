"""A batch on the wire: the envelopes a host sends one peer in one ZeroMQ message, as one
MessagePack array (``docs/runtime.md``). :class:`Outgoing` collects one peer's encoded
envelopes; :func:`join_batch` and :func:`array_head` frame them; :func:`topic_key` is a
broadcast's topic prefix."""

from __future__ import annotations

BATCH_BYTES = 1 << 20
"""A batch is closed when it reaches this size (1 MiB)."""

def array_head(n: int) -> bytes:
    """The MessagePack header of an array of ``n`` items."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def join_batch(frames: list[bytes]) -> bytes:
    """Join encoded envelopes into one MessagePack array."""
    return array_head(len(frames)) + b"".join(frames)


class Outgoing:
    """The envelopes queued for one peer host: encoded one after another into ``data``
    (the batch without its array header), ``count`` of them."""

    __slots__ = ("count", "data")

    def __init__(self) -> None:
        self.data = bytearray()
        self.count = 0


def topic_key(topic: str) -> bytes:
    """A topic on the wire: its UTF-8 and a NUL byte (the SUB filters on both)."""
    if not topic or "\0" in topic:
        raise ValueError(f"a topic must be non-empty, without NUL bytes: {topic!r}")
    return topic.encode() + b"\0"
