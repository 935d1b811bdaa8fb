"""The command's clock and its start-up lines.

A command's whole time is counted from the process's start: :func:`mark_entry` (called
first thing by the ``vpp`` entry point) reads when the process started (on Linux from
``/proc/self/stat``, so the interpreter's own start and the imports count too), and
:func:`command_origin` gives that instant to the command. Called some other way (a test's
``CliRunner``, another program), or where the process's start cannot be read, the origin is
the command's own start, and :attr:`Origin.since` says so.

:class:`StageLines` prints each stage the work announces (:mod:`vpp.runs.stages`) as it
starts, with the time since the origin: the first one ("loading scenario") within a
fraction of a second of the process's start.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

_IMPORTED = time.monotonic()
_MAX_INTERPRETER_START_S = 60.0
"""A process start read further back than this before this module's import is not
believed (a clock that is not the boot clock); the command's start is used instead."""


class Origin(NamedTuple):
    """When a command's time starts (``time.monotonic()``) and what that instant is."""

    at: float
    since: str
    """``"process start"`` or ``"command start"``."""


_entry: Origin | None = None


def process_start() -> float | None:
    """The ``time.monotonic()`` instant at which this process started, or None where it
    cannot be read (not Linux, no ``/proc``) or is not believable."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        started_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
        age_s = time.clock_gettime(time.CLOCK_BOOTTIME) - started_s
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    at = time.monotonic() - age_s
    if not _IMPORTED - _MAX_INTERPRETER_START_S <= at <= _IMPORTED:
        return None
    return at


def mark_entry() -> Origin:
    """Called by the entry point before anything else: from now on, commands count their
    time from the process's start (or, where it cannot be read, from this module's
    import, which the entry point's module does first)."""
    global _entry
    at = process_start()
    _entry = Origin(at, "process start") if at is not None else Origin(_IMPORTED,
                                                                       "command start")
    return _entry


def command_origin() -> Origin:
    """The origin of the running command's time: the process's start under the ``vpp``
    entry point, else now (the command's own start)."""
    if _entry is not None:
        return _entry
    return Origin(time.monotonic(), "command start")


class StageLines:
    """Prints each stage of a command's work as it starts: ``  0.4 s  building 14 sites``
    (seconds since the origin). A listener for :func:`vpp.runs.stages.listening`.

    Args:
        origin: the command's origin (:func:`command_origin`).
        console: where the lines go (a rich console); None: nowhere (``--json``), the
            stages are still recorded.

    Attributes:
        stages: ``(name, seconds since the origin)`` of every stage announced, in order.
        on_stage: also called with each new stage's name (e.g. a progress bar's label).
    """

    def __init__(self, origin: Origin, console: Any = None) -> None:
        self.origin = origin
        self.console = console
        self.stages: list[tuple[str, float]] = []
        self.on_stage: Callable[[str], None] | None = None

    def __call__(self, stage: str) -> None:
        """Record and print ``stage`` (a repeat of the current stage is not printed)."""
        if self.stages and self.stages[-1][0] == stage:
            return
        at = time.monotonic() - self.origin.at
        self.stages.append((stage, at))
        if self.console is not None:
            from rich.markup import escape

            self.console.print(f"[dim]{at:5.1f} s[/]  {escape(stage)}", highlight=False,
                               soft_wrap=True)
        if self.on_stage is not None:
            self.on_stage(stage)

    def elapsed(self) -> float:
        """Seconds since the origin."""
        return time.monotonic() - self.origin.at
