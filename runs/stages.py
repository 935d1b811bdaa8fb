"""Named stages of a run's start-up, announced by the code that does the work.

The code that reads a run's data files, builds its sites, models its PV or starts its
agents calls :func:`announce` with what it is starting (``"building 14 sites"``,
``"solar model (pvlib)"``); whoever listens (the ``vpp`` command's stage lines, a test)
hears it through :func:`listening`. Nobody listening costs one lookup: library code
announces unconditionally and prints nothing itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

Listener = Callable[[str], None]
"""Called with a stage's name when the stage starts."""

_listener: ContextVar[Listener | None] = ContextVar("vpp_stage_listener", default=None)


def announce(stage: str) -> None:
    """Say that ``stage`` starts now (a short lower-case phrase naming the work)."""
    listener = _listener.get()
    if listener is not None:
        listener(stage)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """Within the block, every :func:`announce` of this thread (and context) calls
    ``listener``; the previous listener is back afterwards."""
    token = _listener.set(listener)
    try:
        yield listener
    finally:
        _listener.reset(token)
