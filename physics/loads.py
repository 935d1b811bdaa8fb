"""Loads: fixed, curtailable, shiftable (energy within a window), EV charging to a deadline.

Sign convention as everywhere in ``physics``: consumption is *negative* power (kW).
Profiles are given as positive demand in kW, one value per ``profile_dt_h`` hours.
Every load keeps its own clock ``t_h`` (hours since its start) advanced by each step.

Deadline loads (:class:`ShiftableLoad`, :class:`EVCharger`) run at least the power that
still lets them finish by the deadline at full power ("must run"), at most what is left
to do; between the two, the setpoint decides. What cannot be done by the deadline is
reported as ``shortfall_kwh``, never hidden.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from vpp.physics._validate import finite, fraction, non_negative, ordered, positive
from vpp.physics.flexibility import Flexibility, check_horizon


class LoadState(NamedTuple):
    """One step of a load: power (negative = consumption), what is left, any shortfall."""

    power_kw: float
    served_kwh: float
    remaining_kwh: float
    shortfall_kwh: float


def _profile(name: str, values) -> list[float]:
    out = [float(x) for x in values]
    if not out:
        raise ValueError(f"{name} must not be empty")
    for i, x in enumerate(out):
        if not (math.isfinite(x) and x >= 0.0):
            raise ValueError(f"{name}[{i}] must be finite and >= 0, got {x!r}")
    return out


class _ProfileLoad:
    __slots__ = ("_demand", "_dt", "t_h", "served_kwh", "_name")

    def __init__(self, name: str, demand_kw, profile_dt_h: float) -> None:
        self._name = name
        self._demand = _profile(f"{name}.demand_kw", demand_kw)
        self._dt = positive(f"{name}.profile_dt_h", profile_dt_h)
        self.t_h = 0.0
        self.served_kwh = 0.0

    def demand_at(self, t_h: float) -> float:
        """Demand (kW, positive) at time ``t_h`` (0 past the profile's end)."""
        i = int(t_h / self._dt + 1e-9)
        return self._demand[i] if 0 <= i < len(self._demand) else 0.0

    def _check_dt(self, dt_h: float) -> None:
        if not dt_h > 0.0:
            raise ValueError(f"{self._name}.dt_h must be > 0, got {dt_h!r}")


class FixedLoad(_ProfileLoad):
    """A load that consumes its profile whatever the setpoint."""

    __slots__ = ()

    def __init__(self, demand_kw, profile_dt_h: float = 1.0) -> None:
        super().__init__("fixed_load", demand_kw, profile_dt_h)

    def step(self, setpoint_kw: float, dt_h: float) -> LoadState:
        """Consume the demand for ``dt_h`` hours (the setpoint is ignored)."""
        self._check_dt(dt_h)
        d = self.demand_at(self.t_h)
        self.t_h += dt_h
        self.served_kwh += d * dt_h
        return LoadState(-d, self.served_kwh, 0.0, 0.0)

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """No flexibility: both bounds are the demand."""
        check_horizon(horizon, dt_h, self._name)
        p = tuple(-self.demand_at(self.t_h + k * dt_h) for k in range(horizon))
        return Flexibility(dt_h, p, p, None, None, (0.0,) * horizon)


class CurtailableLoad(_ProfileLoad):
    """A load that may shed up to ``max_curtail_fraction`` of its demand.

    Shedding costs ``value_of_lost_load_per_kwh`` per kWh not served.
    """

    __slots__ = ("max_curtail_fraction", "value_of_lost_load_per_kwh", "curtailed_kwh")

    def __init__(self, demand_kw, max_curtail_fraction: float = 1.0,
                 value_of_lost_load_per_kwh: float = 1.0, profile_dt_h: float = 1.0) -> None:
        super().__init__("curtailable_load", demand_kw, profile_dt_h)
        self.max_curtail_fraction = fraction("curtailable_load.max_curtail_fraction",
                                             max_curtail_fraction)
        self.value_of_lost_load_per_kwh = non_negative(
            "curtailable_load.value_of_lost_load_per_kwh", value_of_lost_load_per_kwh)
        self.curtailed_kwh = 0.0

    def step(self, setpoint_kw: float, dt_h: float) -> LoadState:
        """Consume ``-setpoint`` clamped to [(1 - max_curtail) * demand, demand]."""
        self._check_dt(dt_h)
        d = self.demand_at(self.t_h)
        lo = d * (1.0 - self.max_curtail_fraction)
        c = min(max(-setpoint_kw, lo), d)
        self.t_h += dt_h
        self.served_kwh += c * dt_h
        self.curtailed_kwh += (d - c) * dt_h
        return LoadState(-c, self.served_kwh, 0.0, 0.0)

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """From full demand to the shed floor, at the value of lost load."""
        check_horizon(horizon, dt_h, self._name)
        d = [self.demand_at(self.t_h + k * dt_h) for k in range(horizon)]
        f = self.max_curtail_fraction
        return Flexibility(dt_h, tuple(-x for x in d), tuple(-x * (1.0 - f) for x in d),
                           None, None, (self.value_of_lost_load_per_kwh,) * horizon)


def _deadline_bounds(remaining: float, p_max: float, t: float, dt: float,
                     start: float, end: float) -> tuple[float, float]:
    """(must-run, may-run) consumption in kW for the step [t, t + dt)."""
    overlap = min(t + dt, end) - max(t, start)
    if overlap <= 0.0 or remaining <= 0.0:
        return 0.0, 0.0
    hi = min(p_max * overlap, remaining) / dt
    left_after = max(end - max(t + dt, start), 0.0)
    lo = max(remaining - p_max * left_after, 0.0) / dt
    return min(lo, hi), hi


class ShiftableLoad:
    """Must consume ``energy_kwh`` between ``window_start_h`` and ``window_end_h``.

    At most ``p_max_kw``; when and how fast within the window is flexible.
    """

    __slots__ = ("energy_kwh", "p_max_kw", "window_start_h", "window_end_h", "t_h",
                 "served_kwh", "shortfall_kwh")

    def __init__(self, energy_kwh: float, p_max_kw: float, window_start_h: float,
                 window_end_h: float) -> None:
        self.energy_kwh = non_negative("shiftable_load.energy_kwh", energy_kwh)
        self.p_max_kw = positive("shiftable_load.p_max_kw", p_max_kw)
        self.window_start_h = non_negative("shiftable_load.window_start_h", window_start_h)
        self.window_end_h = finite("shiftable_load.window_end_h", window_end_h)
        ordered("shiftable_load.window_start_h", window_start_h,
                "shiftable_load.window_end_h", window_end_h)
        if self.energy_kwh > self.p_max_kw * (self.window_end_h - self.window_start_h) + 1e-9:
            raise ValueError(
                f"shiftable_load.energy_kwh ({energy_kwh!r}) exceeds p_max_kw * window length "
                f"({self.p_max_kw * (self.window_end_h - self.window_start_h)!r})")
        self.t_h = 0.0
        self.served_kwh = 0.0
        self.shortfall_kwh = 0.0

    @property
    def remaining_kwh(self) -> float:
        """Energy still to consume."""
        return max(self.energy_kwh - self.served_kwh, 0.0)

    def step(self, setpoint_kw: float, dt_h: float) -> LoadState:
        """Consume ``-setpoint`` within must-run and may-run bounds for ``dt_h`` hours."""
        if not dt_h > 0.0:
            raise ValueError(f"shiftable_load.dt_h must be > 0, got {dt_h!r}")
        lo, hi = _deadline_bounds(self.remaining_kwh, self.p_max_kw, self.t_h, dt_h,
                                  self.window_start_h, self.window_end_h)
        c = min(max(-setpoint_kw, lo), hi)
        self.t_h += dt_h
        self.served_kwh += c * dt_h
        if self.t_h >= self.window_end_h - 1e-9:
            self.shortfall_kwh = self.remaining_kwh
        return LoadState(-c, self.served_kwh, self.remaining_kwh, self.shortfall_kwh)

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """Power bounds per step and cumulative energy bounds from the window."""
        check_horizon(horizon, dt_h, "shiftable_load")
        return _deadline_flexibility(self.remaining_kwh, self.p_max_kw, self.t_h, horizon, dt_h,
                                     self.window_start_h, self.window_end_h)


def _deadline_flexibility(remaining: float, p_max: float, t0: float, horizon: int, dt: float,
                          start: float, end: float) -> Flexibility:
    p_min, p_max_l, e_min, e_max = [], [], [], []
    for k in range(horizon):
        t = t0 + k * dt
        on = min(t + dt, end) - max(t, start)
        p_min.append(-p_max * max(on, 0.0) / dt)
        p_max_l.append(0.0)
        elapsed = max(min(t + dt, end) - max(t0, start), 0.0)
        left = max(end - max(t + dt, start), 0.0)
        most = min(remaining, p_max * elapsed)
        least = max(remaining - p_max * left, 0.0)
        e_min.append(-most)
        e_max.append(-least)
    return Flexibility(dt, tuple(p_min), tuple(p_max_l), tuple(e_min), tuple(e_max),
                       (0.0,) * horizon)


class EVCharger:
    """An electric vehicle plugged in from ``arrival_h`` to ``departure_h``.

    It must hold ``target_energy_kwh`` in its battery at departure; the charger draws up
    to ``p_max_kw`` from the grid and stores ``eta_c`` of it. If the target cannot be
    reached in time (at full power from arrival), the charger does its best and reports
    the missing energy as ``shortfall_kwh`` at departure.
    """

    __slots__ = ("battery_kwh", "p_max_kw", "eta_c", "arrival_h", "departure_h",
                 "energy_kwh", "target_energy_kwh", "t_h", "drawn_kwh", "shortfall_kwh")

    def __init__(self, battery_kwh: float, p_max_kw: float, arrival_h: float,
                 departure_h: float, energy_at_arrival_kwh: float, target_energy_kwh: float,
                 eta_c: float = 0.92) -> None:
        self.battery_kwh = positive("ev.battery_kwh", battery_kwh)
        self.p_max_kw = positive("ev.p_max_kw", p_max_kw)
        self.eta_c = fraction("ev.eta_c", eta_c, open_low=True)
        self.arrival_h = non_negative("ev.arrival_h", arrival_h)
        self.departure_h = finite("ev.departure_h", departure_h)
        ordered("ev.arrival_h", arrival_h, "ev.departure_h", departure_h)
        self.energy_kwh = non_negative("ev.energy_at_arrival_kwh", energy_at_arrival_kwh)
        self.target_energy_kwh = non_negative("ev.target_energy_kwh", target_energy_kwh)
        for name, v in (("ev.energy_at_arrival_kwh", self.energy_kwh),
                        ("ev.target_energy_kwh", self.target_energy_kwh)):
            if v > self.battery_kwh:
                raise ValueError(f"{name} must be <= ev.battery_kwh ({battery_kwh!r}), got {v!r}")
        self.t_h = 0.0
        self.drawn_kwh = 0.0
        self.shortfall_kwh = 0.0

    @property
    def remaining_grid_kwh(self) -> float:
        """Grid energy still needed to reach the target."""
        return max(self.target_energy_kwh - self.energy_kwh, 0.0) / self.eta_c

    @property
    def plugged_in(self) -> bool:
        """Whether the vehicle is at the charger now."""
        return self.arrival_h <= self.t_h < self.departure_h

    def step(self, setpoint_kw: float, dt_h: float) -> LoadState:
        """Charge at ``-setpoint`` within must-run and may-run bounds for ``dt_h`` hours."""
        if not dt_h > 0.0:
            raise ValueError(f"ev.dt_h must be > 0, got {dt_h!r}")
        lo, hi = _deadline_bounds(self.remaining_grid_kwh, self.p_max_kw, self.t_h, dt_h,
                                  self.arrival_h, self.departure_h)
        c = min(max(-setpoint_kw, lo), hi)
        self.t_h += dt_h
        self.drawn_kwh += c * dt_h
        self.energy_kwh = min(self.energy_kwh + c * dt_h * self.eta_c, self.battery_kwh)
        if self.t_h >= self.departure_h - 1e-9:
            self.shortfall_kwh = max(self.target_energy_kwh - self.energy_kwh, 0.0)
            if self.shortfall_kwh < 1e-9:
                self.shortfall_kwh = 0.0
        return LoadState(-c, self.energy_kwh, self.remaining_grid_kwh * self.eta_c,
                         self.shortfall_kwh)

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """Power bounds while plugged in; cumulative grid-energy bounds to the deadline."""
        check_horizon(horizon, dt_h, "ev")
        return _deadline_flexibility(self.remaining_grid_kwh, self.p_max_kw, self.t_h, horizon,
                                     dt_h, self.arrival_h, self.departure_h)
