"""The droop curve with a deadband and an optional knee, precomputed to plain floats."""

from __future__ import annotations

from vpp.coordination.frequency.specs import DroopSpec

EPS_HZ = 1e-9
"""Thresholds are compared with this slack, so that a reading of exactly ``f0 - 0.02`` in
floating point counts as on the deadband's edge."""


class DroopCurve:
    """Signed response fraction for a frequency: ``+`` inject (under-frequency), ``-``
    absorb (over-frequency), 0 inside the deadband, +-1 at and beyond ``full_hz``.

    The line starts at the deadband's edge or at nominal (``spec.ramp_from``): with a
    deviation ``x`` beyond the deadband, ``(x - start) / (full - start)`` without a knee,
    ``start`` being the deadband or 0.

    Args:
        spec: the curve's parameters.
    """

    __slots__ = ("spec", "f0_hz", "_db", "_start", "_knee", "_knee_frac", "_full", "_s1",
                 "_s2", "_low", "_high", "_db_edge")

    def __init__(self, spec: DroopSpec) -> None:
        self.spec = spec
        self.f0_hz = float(spec.f0_hz)
        self._db = float(spec.deadband_hz)
        self._start = self._db if spec.ramp_from == "deadband" else 0.0
        self._full = float(spec.full_hz)
        self._db_edge = self._db + EPS_HZ
        if spec.knee_hz is None:
            self._knee, self._knee_frac = self._start, 0.0
            self._s1 = 0.0
        else:
            self._knee, self._knee_frac = float(spec.knee_hz), float(spec.knee_fraction)
            self._s1 = self._knee_frac / (self._knee - self._start)
        self._s2 = (1.0 - self._knee_frac) / (self._full - self._knee)
        self._low = spec.sides in ("both", "low")
        self._high = spec.sides in ("both", "high")

    def fraction(self, f_hz: float) -> float:
        """The response as a fraction of the contracted power (+ inject, - absorb)."""
        d = f_hz - self.f0_hz
        if d < 0.0:
            if not self._low:
                return 0.0
            x, sign = -d, 1.0
        else:
            if not self._high:
                return 0.0
            x, sign = d, -1.0
        if x <= self._db_edge:
            return 0.0
        if x >= self._full - EPS_HZ:
            return sign
        if x < self._knee:
            return sign * (x - self._start) * self._s1
        return sign * (self._knee_frac + (x - self._knee) * self._s2)
