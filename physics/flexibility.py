"""The one interface every device offers: ``step`` and ``flexibility``.

Sign convention everywhere in ``physics``: positive power is discharge or injection
into the grid, negative power is charging or consumption. Units: kW, kWh, hours.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable


class Flexibility(NamedTuple):
    """Power and energy bounds and marginal costs of one device over a horizon.

    All sequences have one entry per step of length ``dt_h``.

    - ``p_min_kw`` / ``p_max_kw``: the power the device can deliver in each step
      (positive = injection/discharge, negative = consumption/charge).
    - ``e_min_kwh`` / ``e_max_kwh``: bounds on the *cumulative* energy the device
      injects from the start of the horizon to the end of each step (negative when it
      consumes). A battery's bounds come from its state-of-charge limits; a shiftable
      load's from its window and energy requirement. ``None`` when unconstrained.
    - ``cost_per_kwh``: marginal cost of moving one kWh through the device in each step
      (degradation for a battery, value of lost load for curtailment, 0 for free PV).
    """

    dt_h: float
    p_min_kw: tuple[float, ...]
    p_max_kw: tuple[float, ...]
    e_min_kwh: tuple[float, ...] | None
    e_max_kwh: tuple[float, ...] | None
    cost_per_kwh: tuple[float, ...]

    @property
    def horizon(self) -> int:
        """Number of steps covered."""
        return len(self.p_min_kw)


@runtime_checkable
class Device(Protocol):
    """A device: receives a power setpoint, returns what it delivered and its state."""

    def step(self, setpoint_kw: float, dt_h: float) -> object:
        """Advance by ``dt_h`` hours trying to deliver ``setpoint_kw``; return the state."""
        ...

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """Bounds and costs for the next ``horizon`` steps of ``dt_h`` hours."""
        ...


# A device may also have ``limits_now(dt_h)``: the bounds of ``flexibility(1, dt_h)`` as
# four numbers (p_min_kw, p_max_kw, e_min_kwh or None, e_max_kwh or None), equal to
# them, for the per-step path of a site (``vpp.agents.dispatch.devices.SiteDevice.offer``).


def check_horizon(horizon: int, dt_h: float, owner: str) -> None:
    """Validate the arguments of ``flexibility`` (errors name the field)."""
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"{owner}.horizon must be an int >= 1, got {horizon!r}")
    if not (dt_h > 0.0):
        raise ValueError(f"{owner}.dt_h must be > 0, got {dt_h!r}")
