"""Bounds on MessagePack from elsewhere, checked before it is decoded.

msgspec bounds nesting as it decodes only by the interpreter's recursion limit (it raises
``RecursionError`` about 1,000 levels down, wherever the caller's stack is): enough to
survive, not to hand the value to Python code that walks it again. :func:`check_depth`
bounds nesting exactly, at :data:`MAX_DEPTH` by default, without decoding and without
recursion. It serves the runtime's codec (``vpp.agents.runtime.codec``) and the planning
sandbox's pipe (``vpp.coordination.planning.isolation``), so it lives here, below both.
"""

from __future__ import annotations

MAX_DEPTH = 32
"""The deepest nesting let through by default (the project's messages, scenarios and
results nest at most about 6 deep)."""


class NestingError(ValueError):
    """MessagePack nested deeper than allowed."""


# MessagePack: the bytes that follow a header byte (lengths read from them are added),
# and the headers that open a container
_FIXED = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,
          0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
_SIZED = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xC7: (1, 1), 0xC8: (2, 1),
          0xC9: (4, 1), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0)}
_COUNTED = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}
_NOT_CONTAINERS = bytes(b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF))


def check_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`NestingError` when the MessagePack value(s) in ``data`` nest deeper
    than ``limit`` containers, without decoding them (and without recursion).

    A value cannot nest deeper than it has bytes that may open a container, so most
    values pass after one count in C; the rest are walked header by header. Malformed
    bytes are left to the decoder that follows (the walk stops where it cannot go on).
    """
    if len(data.translate(None, _NOT_CONTAINERS)) <= limit:
        return
    view = memoryview(data)
    pos, end = 0, len(data)
    left: list[int] = []  # items still to read in each open container
    while pos < end:
        head = view[pos]
        pos += 1
        items = -1  # a container's items; -1: not a container
        if head <= 0x7F or head >= 0xE0:
            pass
        elif head <= 0x8F:
            items = 2 * (head & 0x0F)
        elif head <= 0x9F:
            items = head & 0x0F
        elif head <= 0xBF:
            pos += head & 0x1F
        elif head in _FIXED:
            pos += _FIXED[head]
        elif head in _SIZED:
            width, extra = _SIZED[head]
            pos += width + extra + int.from_bytes(view[pos:pos + width], "big")
        elif head in _COUNTED:
            width, per = _COUNTED[head]
            items = per * int.from_bytes(view[pos:pos + width], "big")
            pos += width
        else:
            return  # 0xC1, never used: malformed, the decoder says so
        if left:
            left[-1] -= 1
        if items >= 0:
            if len(left) >= limit:
                raise NestingError(f"nested deeper than {limit} levels")
            left.append(items)
        while left and left[-1] == 0:
            left.pop()
