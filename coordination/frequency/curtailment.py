"""Over-frequency curtailment of PV and wind (limited frequency-sensitive mode, LFSM-O).

Above ``start_hz`` the output is cut by ``gradient_per_hz * (f - start_hz)`` times the
output the plant had when curtailment began (a frozen reference); once ``f`` falls below
``release_hz`` the plant is released. Between ``release_hz`` and ``start_hz`` an active
curtailment stays at the level it had (hysteresis).
"""

from __future__ import annotations

from vpp.coordination.frequency.specs import CurtailmentSpec


class OverFrequencyCurtailment:
    """The curtailment state of one site's renewable output.

    Args:
        spec: thresholds and gradient.
    """

    __slots__ = ("spec", "_start", "_grad", "_release", "active", "reference_kw",
                 "curtailed_kw")

    def __init__(self, spec: CurtailmentSpec) -> None:
        self.spec = spec
        self._start = float(spec.start_hz)
        self._grad = float(spec.gradient_per_hz)
        self._release = float(spec.release_hz)
        self.active = False
        self.reference_kw = 0.0
        self.curtailed_kw = 0.0

    def update(self, f_hz: float, available_kw: float) -> float:
        """The kW to curtail now from ``available_kw`` of renewable output (>= 0)."""
        if not self.active:
            if f_hz <= self._start:
                return 0.0
            self.active = True
            self.reference_kw = available_kw
        elif f_hz < self._release:
            self.active = False
            self.curtailed_kw = 0.0
            return 0.0
        if f_hz > self._start:
            self.curtailed_kw = self._grad * (f_hz - self._start) * self.reference_kw
        if self.curtailed_kw > available_kw:
            return available_kw
        return self.curtailed_kw
