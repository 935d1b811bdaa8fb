"""A variable renewable source as a device: it injects up to its available power.

Shared by :class:`vpp.physics.pv.PVPlant` and :class:`vpp.physics.wind.WindPlant`. Positive power
is injection (kW). The setpoint is a curtailment limit: the plant delivers
``min(max(setpoint, 0), available)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from vpp.physics._validate import finite, positive
from vpp.physics.flexibility import Flexibility, check_horizon


class SourceState(NamedTuple):
    """Delivered and available power of a source in one step (kW)."""

    power_kw: float
    available_kw: float


class VariableSource:
    """Curtailable source following an availability profile.

    ``available_kw`` holds one value per ``profile_dt_h`` hours (for instance
    ``simulate(...).ac_kw.to_numpy()``); the value in force at the start of a step applies
    to the whole step. ``cost_per_kwh`` is the marginal cost the source offers (default 0).
    """

    __slots__ = ("_avail", "_dt", "_name", "t_h", "cost_per_kwh", "energy_kwh", "curtailed_kwh")

    def __init__(self, available_kw, profile_dt_h: float = 1.0, cost_per_kwh: float = 0.0,
                 name: str = "source") -> None:
        self._name = name
        self._avail = [float(x) for x in available_kw]
        if not self._avail:
            raise ValueError(f"{name}.available_kw must not be empty")
        for i, x in enumerate(self._avail):
            if not (math.isfinite(x) and x >= 0.0):
                raise ValueError(f"{name}.available_kw[{i}] must be finite and >= 0, got {x!r}")
        self._dt = positive(f"{name}.profile_dt_h", profile_dt_h)
        self.cost_per_kwh = finite(f"{name}.cost_per_kwh", cost_per_kwh)
        self.t_h = 0.0
        self.energy_kwh = 0.0
        self.curtailed_kwh = 0.0

    def available_at(self, t_h: float) -> float:
        """Available power (kW) at simulated time ``t_h`` (0 past the profile's end)."""
        i = int(t_h / self._dt + 1e-9)
        return self._avail[i] if 0 <= i < len(self._avail) else 0.0

    def step(self, setpoint_kw: float, dt_h: float) -> SourceState:
        """Inject ``min(max(setpoint, 0), available)`` for ``dt_h`` hours."""
        if not dt_h > 0.0:
            raise ValueError(f"{self._name}.dt_h must be > 0, got {dt_h!r}")
        avail = self.available_at(self.t_h)
        p = min(max(setpoint_kw, 0.0), avail)
        self.t_h += dt_h
        self.energy_kwh += p * dt_h
        self.curtailed_kwh += (avail - p) * dt_h
        return SourceState(p, avail)

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """Between 0 (fully curtailed) and the available power in each step."""
        check_horizon(horizon, dt_h, self._name)
        p_max = tuple(self.available_at(self.t_h + k * dt_h) for k in range(horizon))
        return Flexibility(dt_h, (0.0,) * horizon, p_max, None, None,
                           (self.cost_per_kwh,) * horizon)
