"""The parameters of each rule, as typed, validated values (scenario and preset boundary).

Errors raised in ``__post_init__`` become msgspec validation errors naming the field's
path when a spec is read from a scenario file.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec

_Spec = dict(forbid_unknown_fields=True, kw_only=True, frozen=True)

NOMINAL_HZ = (50.0, 60.0)


def _nominal(f0_hz: float) -> None:
    if f0_hz not in NOMINAL_HZ:
        raise ValueError(f"f0_hz must be 50 or 60, got {f0_hz!r}")


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


class DroopSpec(msgspec.Struct, tag="droop", **_Spec):
    """A proportional service: 0 inside ``deadband_hz`` of nominal, rising linearly to
    ``knee_fraction`` at ``knee_hz`` (when given), then to 1 at ``full_hz`` deviation.

    ``ramp_from`` says where the line starts, the two readings of a deadband:
    ``deadband`` (the response is 0 at the deadband's edge and ramps from there, as GB
    Dynamic Containment specifies) or ``nominal`` (the line goes through nominal and the
    deadband only cuts out what lies inside it, an insensitivity: at the edge the response
    is already ``deadband_hz / full_hz``, as the usual FCR characteristic reads).
    ``sides``: ``both``, ``low`` (answers under-frequency only) or ``high``.
    ``duration_min``: how long the contracted power must be sustainable from the store.
    """

    f0_hz: float
    deadband_hz: float
    full_hz: float
    knee_hz: float | None = None
    knee_fraction: float = 0.0
    sides: Literal["both", "low", "high"] = "both"
    duration_min: float = 15.0
    ramp_from: Literal["deadband", "nominal"] = "deadband"

    def __post_init__(self) -> None:
        _nominal(self.f0_hz)
        for name in ("deadband_hz", "full_hz", "knee_fraction", "duration_min"):
            _finite(name, getattr(self, name))
        if not 0.0 <= self.deadband_hz < self.full_hz:
            raise ValueError(f"need 0 <= deadband_hz < full_hz, got {self.deadband_hz!r} "
                             f"and {self.full_hz!r}")
        if self.knee_hz is not None:
            _finite("knee_hz", self.knee_hz)
            if not self.deadband_hz < self.knee_hz < self.full_hz:
                raise ValueError(f"knee_hz must lie between deadband_hz and full_hz, got "
                                 f"{self.knee_hz!r}")
            if not 0.0 < self.knee_fraction < 1.0:
                raise ValueError(f"knee_fraction must be in (0, 1), got {self.knee_fraction!r}")
        if not self.duration_min > 0.0:
            raise ValueError(f"duration_min must be > 0, got {self.duration_min!r}")


class TriggerSpec(msgspec.Struct, tag="trigger", **_Spec):
    """A step service (ERCOT FFR): full power once ``f <= trigger_hz`` held ``delay_s``;
    released once ``f >= restore_hz`` held ``restore_delay_s``."""

    f0_hz: float
    trigger_hz: float
    restore_hz: float
    delay_s: float = 0.0
    restore_delay_s: float = 1.0
    duration_min: float = 15.0

    def __post_init__(self) -> None:
        _nominal(self.f0_hz)
        for name in ("trigger_hz", "restore_hz", "delay_s", "restore_delay_s", "duration_min"):
            _finite(name, getattr(self, name))
        if not self.trigger_hz < self.restore_hz <= self.f0_hz:
            raise ValueError(f"need trigger_hz < restore_hz <= f0_hz, got {self.trigger_hz!r}, "
                             f"{self.restore_hz!r}, {self.f0_hz!r}")
        if self.delay_s < 0 or self.restore_delay_s < 0:
            raise ValueError("delay_s and restore_delay_s must be >= 0")
        if not self.duration_min > 0.0:
            raise ValueError(f"duration_min must be > 0, got {self.duration_min!r}")


class StageSpec(msgspec.Struct, **_Spec):
    """One under-frequency load-shedding stage."""

    trip_hz: float
    fraction: float
    delay_s: float = 0.1
    restore_hz: float
    restore_delay_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("trip_hz", "fraction", "delay_s", "restore_hz", "restore_delay_s"):
            _finite(name, getattr(self, name))
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction!r}")
        if not self.restore_hz > self.trip_hz:
            raise ValueError(f"restore_hz ({self.restore_hz!r}) must be above trip_hz "
                             f"({self.trip_hz!r}): restoration needs hysteresis")
        if self.delay_s < 0 or self.restore_delay_s < 0:
            raise ValueError("delay_s and restore_delay_s must be >= 0")


class SheddingSpec(msgspec.Struct, **_Spec):
    """Staged under-frequency load shedding (UFLS) of a site's sheddable load."""

    f0_hz: float
    stages: list[StageSpec]

    def __post_init__(self) -> None:
        _nominal(self.f0_hz)
        if not self.stages:
            raise ValueError("stages must hold at least one stage")
        if sum(s.fraction for s in self.stages) > 1.0 + 1e-9:
            raise ValueError("the stages' fractions add up to more than 1")
        for i, s in enumerate(self.stages):
            if not s.trip_hz < s.restore_hz <= self.f0_hz:
                raise ValueError(f"stages[{i}]: need trip_hz < restore_hz <= f0_hz")


class CurtailmentSpec(msgspec.Struct, **_Spec):
    """Over-frequency curtailment of PV and wind (LFSM-O style)."""

    f0_hz: float
    start_hz: float
    gradient_per_hz: float
    release_hz: float

    def __post_init__(self) -> None:
        _nominal(self.f0_hz)
        for name in ("start_hz", "gradient_per_hz", "release_hz"):
            _finite(name, getattr(self, name))
        if not self.f0_hz < self.start_hz:
            raise ValueError(f"start_hz ({self.start_hz!r}) must be above f0_hz")
        if not self.f0_hz <= self.release_hz <= self.start_hz:
            raise ValueError(f"need f0_hz <= release_hz <= start_hz, got {self.release_hz!r}")
        if not self.gradient_per_hz > 0:
            raise ValueError(f"gradient_per_hz must be > 0, got {self.gradient_per_hz!r}")


ServiceSpec = DroopSpec | TriggerSpec
"""A frequency service a site is contracted for."""
