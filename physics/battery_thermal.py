"""Lumped (single-node) thermal model of a battery with power derating.

``C * dT/dt = Q_loss - (T - T_ambient) / R - Q_cooling``, integrated exactly over each
step for constant heat input (exponential relaxation), in plain floats.
Units: temperature in °C, heat in kW, thermal capacity in kJ/K, resistance in K/kW.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vpp.physics._validate import finite, non_negative, ordered, positive


@dataclass(frozen=True, slots=True)
class ThermalParams:
    """Parameters of the lumped thermal model.

    ``cooling_kw`` of heat is removed whenever the temperature is above
    ``cooling_setpoint_c``. Power is derated linearly from 1 at ``derate_start_c`` to 0
    at ``t_max_c``; charging is also derated between ``t_min_c`` and
    ``t_min_c + low_derate_band_c``.
    """

    thermal_capacity_kj_per_k: float = 2000.0
    thermal_resistance_k_per_kw: float = 2.0
    t_ambient_c: float = 25.0
    t_init_c: float = 25.0
    cooling_kw: float = 0.0
    cooling_setpoint_c: float = 30.0
    derate_start_c: float = 45.0
    t_max_c: float = 55.0
    t_min_c: float = -10.0
    low_derate_band_c: float = 10.0

    def __post_init__(self) -> None:
        positive("battery.thermal.thermal_capacity_kj_per_k", self.thermal_capacity_kj_per_k)
        positive("battery.thermal.thermal_resistance_k_per_kw", self.thermal_resistance_k_per_kw)
        finite("battery.thermal.t_ambient_c", self.t_ambient_c)
        finite("battery.thermal.t_init_c", self.t_init_c)
        non_negative("battery.thermal.cooling_kw", self.cooling_kw)
        finite("battery.thermal.cooling_setpoint_c", self.cooling_setpoint_c)
        finite("battery.thermal.derate_start_c", self.derate_start_c)
        finite("battery.thermal.t_max_c", self.t_max_c)
        finite("battery.thermal.t_min_c", self.t_min_c)
        non_negative("battery.thermal.low_derate_band_c", self.low_derate_band_c)
        if self.derate_start_c >= self.t_max_c:
            raise ValueError(
                f"battery.thermal.derate_start_c ({self.derate_start_c!r}) must be < "
                f"battery.thermal.t_max_c ({self.t_max_c!r})"
            )
        ordered("battery.thermal.t_min_c", self.t_min_c, "battery.thermal.t_max_c", self.t_max_c)


class ThermalModel:
    """Single-node temperature of a battery; call :meth:`step` with the heat of each step."""

    __slots__ = ("temperature_c", "t_ambient_c", "_c", "_r", "_tau_s", "_cool", "_cool_sp",
                 "_d0", "_d1", "_tmin", "_band")

    def __init__(self, params: ThermalParams) -> None:
        self.temperature_c = float(params.t_init_c)
        self.t_ambient_c = float(params.t_ambient_c)
        self._c = float(params.thermal_capacity_kj_per_k)
        self._r = float(params.thermal_resistance_k_per_kw)
        self._tau_s = self._c * self._r
        self._cool = float(params.cooling_kw)
        self._cool_sp = float(params.cooling_setpoint_c)
        self._d0 = float(params.derate_start_c)
        self._d1 = float(params.t_max_c)
        self._tmin = float(params.t_min_c)
        self._band = float(params.low_derate_band_c)

    def step(self, heat_kw: float, dt_h: float) -> float:
        """Advance by ``dt_h`` hours with ``heat_kw`` of losses; return the new temperature."""
        q = heat_kw - (self._cool if self.temperature_c > self._cool_sp else 0.0)
        t_inf = self.t_ambient_c + self._r * q
        self.temperature_c = t_inf + (self.temperature_c - t_inf) * math.exp(
            -dt_h * 3600.0 / self._tau_s
        )
        return self.temperature_c

    def derate(self) -> float:
        """Fraction (0..1) of rated power available at the present temperature (high side)."""
        t = self.temperature_c
        if t <= self._d0:
            return 1.0
        if t >= self._d1:
            return 0.0
        return (self._d1 - t) / (self._d1 - self._d0)

    def charge_derate(self) -> float:
        """Fraction of rated charging power available: high-side derate and cold derate."""
        d = self.derate()
        t = self.temperature_c
        if t <= self._tmin:
            return 0.0
        if self._band > 0.0 and t < self._tmin + self._band:
            d = min(d, (t - self._tmin) / self._band)
        return d
