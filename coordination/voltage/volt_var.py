"""Volt-VAR, IEEE 1547-2018 style: reactive power as a piecewise-linear function of the
local voltage, within the inverter's kVA limit (active power keeps priority).

The curve is four points ``(v_pu, q_fraction)`` with ``q_fraction`` of the inverter's
rated apparent power, + = injecting reactive power (raises the local voltage), - =
absorbing it. Below the first and above the last point the curve is flat. The defaults
are the standard's Category B default settings (V1..V4 = 0.92, 0.98, 1.02, 1.08 pu;
Q = +0.44, 0, 0, -0.44).
"""

from __future__ import annotations

import math

import msgspec

_Spec = dict(forbid_unknown_fields=True, kw_only=True, frozen=True)


class VoltVarSpec(msgspec.Struct, **_Spec):
    """The curve's four voltages (pu, increasing) and reactive fractions of rated kVA."""

    v_pu: tuple[float, float, float, float] = (0.92, 0.98, 1.02, 1.08)
    q_fraction: tuple[float, float, float, float] = (0.44, 0.0, 0.0, -0.44)

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (*self.v_pu, *self.q_fraction)):
            raise ValueError("v_pu and q_fraction must be finite")
        if any(b <= a for a, b in zip(self.v_pu, self.v_pu[1:])):
            raise ValueError(f"v_pu must increase strictly, got {list(self.v_pu)}")
        if any(not -1.0 <= q <= 1.0 for q in self.q_fraction):
            raise ValueError(f"q_fraction must lie in [-1, 1], got {list(self.q_fraction)}")
        if any(b > a for a, b in zip(self.q_fraction, self.q_fraction[1:])):
            raise ValueError("q_fraction must not increase with voltage (more voltage, "
                             f"less injection), got {list(self.q_fraction)}")


CATEGORY_A = VoltVarSpec(v_pu=(0.90, 0.999, 1.001, 1.10), q_fraction=(0.25, 0.0, 0.0, -0.25))
"""IEEE 1547-2018 Category A defaults (no deadband: V2 = V3 = 1.0, here split by 1 mV)."""
CATEGORY_B = VoltVarSpec()
"""IEEE 1547-2018 Category B defaults."""
PRESETS = {"ieee1547-a": CATEGORY_A, "ieee1547-b": CATEGORY_B}


class VoltVarCurve:
    """A Volt-VAR curve for one inverter of ``s_kva`` apparent power.

    Args:
        spec: the curve.
        s_kva: the inverter's rated apparent power.
    """

    __slots__ = ("spec", "s_kva", "_v", "_q")

    def __init__(self, spec: VoltVarSpec, s_kva: float) -> None:
        if not (math.isfinite(s_kva) and s_kva > 0):
            raise ValueError(f"s_kva must be a finite number > 0, got {s_kva!r}")
        self.spec = spec
        self.s_kva = float(s_kva)
        self._v = tuple(float(v) for v in spec.v_pu)
        self._q = tuple(float(q) for q in spec.q_fraction)

    def q_fraction(self, v_pu: float) -> float:
        """The curve's reactive fraction of rated kVA at ``v_pu`` (+ inject)."""
        v, q = self._v, self._q
        if v_pu <= v[0]:
            return q[0]
        if v_pu >= v[3]:
            return q[3]
        for i in range(3):
            if v_pu <= v[i + 1]:
                return q[i] + (q[i + 1] - q[i]) * (v_pu - v[i]) / (v[i + 1] - v[i])
        return q[3]

    def reactive_kvar(self, v_pu: float, p_kw: float) -> tuple[float, bool]:
        """The kvar to set at ``v_pu`` while the inverter carries ``p_kw``, and whether the
        kVA limit cut it (active power has priority: ``|Q| <= sqrt(S^2 - P^2)``)."""
        want = self.q_fraction(v_pu) * self.s_kva
        room_sq = self.s_kva * self.s_kva - p_kw * p_kw
        room = math.sqrt(room_sq) if room_sq > 0.0 else 0.0
        if want > room:
            return room, True
        if want < -room:
            return -room, True
        return want, False
