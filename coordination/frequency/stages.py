"""A stage with a time delay and restoration with hysteresis: one UFLS stage, or a
trigger service (ERCOT FFR) that arms at a threshold.

Time is the sample's time: a stage trips at the first sample at least ``delay_s`` after
the first sample at or below ``trip_hz``; any sample above ``trip_hz`` meanwhile resets
the timer. Restoration mirrors it with ``restore_hz`` (> ``trip_hz``) and
``restore_delay_s``.
"""

from __future__ import annotations

from typing import NamedTuple

EPS_S = 1e-9
"""Delays are compared with this slack (sample times are sums of floating-point steps)."""
EPS_HZ = 1e-9
"""Thresholds are compared with this slack."""


class StageEvent(NamedTuple):
    """A stage tripped (``action = "trip"``) or restored (``"restore"``); ``kind`` says
    which rule (``ufls``, ``service``, ``curtailment``)."""

    t_s: float
    kind: str
    stage: int
    action: str
    f_hz: float


class Stage:
    """One delayed, hysteretic threshold on falling frequency.

    Args:
        kind: what the stage belongs to (``ufls`` or ``service``), for events.
        index: the stage's number (for events).
        trip_hz: the threshold; at or below it the trip timer runs.
        delay_s: how long the threshold must hold before the stage trips.
        restore_hz: at or above it (once tripped) the restore timer runs.
        restore_delay_s: how long that must hold before the stage restores.
        fraction: the share of the load (or of the contracted power) this stage moves.
    """

    __slots__ = ("kind", "index", "trip_hz", "delay_s", "restore_hz", "restore_delay_s", "fraction",
                 "tripped", "_since")

    def __init__(self, kind: str, index: int, trip_hz: float, delay_s: float, restore_hz: float,
                 restore_delay_s: float, fraction: float = 1.0) -> None:
        self.kind = kind
        self.index = index
        self.trip_hz = float(trip_hz)
        self.delay_s = float(delay_s)
        self.restore_hz = float(restore_hz)
        self.restore_delay_s = float(restore_delay_s)
        self.fraction = float(fraction)
        self.tripped = False
        self._since: float | None = None

    @property
    def timing(self) -> bool:
        """Whether a trip or restore timer is running."""
        return self._since is not None

    def update(self, t_s: float, f_hz: float) -> StageEvent | None:
        """Take one sample; return the event when the stage trips or restores now."""
        if not self.tripped:
            if f_hz <= self.trip_hz + EPS_HZ:
                if self._since is None:
                    self._since = t_s
                if t_s - self._since >= self.delay_s - EPS_S:
                    self.tripped = True
                    self._since = None
                    return StageEvent(t_s, self.kind, self.index, "trip", f_hz)
            else:
                self._since = None
        else:
            if f_hz >= self.restore_hz - EPS_HZ:
                if self._since is None:
                    self._since = t_s
                if t_s - self._since >= self.restore_delay_s - EPS_S:
                    self.tripped = False
                    self._since = None
                    return StageEvent(t_s, self.kind, self.index, "restore", f_hz)
            else:
                self._since = None
        return None
