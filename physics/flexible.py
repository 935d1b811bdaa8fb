"""The simplest honest device: power limits, a marginal cost, availability per step.

It speaks the interface of every device (``vpp.physics.flexibility``): ``step`` carries out a
set-point and ``flexibility`` gives the bounds ahead. Positive power is injection, negative
is absorption; kW, kWh, hours. A generator has ``p_min_kw = 0``; a flexible load that can
both reduce and raise its consumption has both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from vpp.physics._validate import finite, fraction
from vpp.physics.flexibility import Flexibility, check_horizon

_tuple_new = tuple.__new__


class FlexibleState(NamedTuple):
    """What one step ran."""

    power_kw: float


class FlexibleDevice:
    """A device that can move between ``p_min_kw`` (<= 0) and ``p_max_kw`` (>= 0).

    ``availability`` scales both limits per step (a list is cycled; a number applies to
    every step); a forced outage is 0.

    Args:
        name: used in error messages.
        p_min_kw: the most it can absorb, as a negative number (or 0).
        p_max_kw: the most it can inject (or 0).
        cost_per_kwh: marginal cost of injection (EUR/kWh).
        availability: a fraction in [0, 1], or one per step.
    """

    __slots__ = ("name", "p_min_kw", "p_max_kw", "cost_per_kwh", "availability", "steps")

    def __init__(self, name: str, p_min_kw: float, p_max_kw: float, cost_per_kwh: float = 0.0,
                 availability: float | Sequence[float] = 1.0) -> None:
        self.name = name
        self.p_min_kw = finite(f"{name}.p_min_kw", p_min_kw)
        self.p_max_kw = finite(f"{name}.p_max_kw", p_max_kw)
        if self.p_min_kw > 0:
            raise ValueError(f"{name}.p_min_kw must be <= 0, got {p_min_kw!r}")
        if self.p_max_kw < 0:
            raise ValueError(f"{name}.p_max_kw must be >= 0, got {p_max_kw!r}")
        self.cost_per_kwh = finite(f"{name}.cost_per_kwh", cost_per_kwh)
        if isinstance(availability, (int, float)):
            self.availability = [fraction(f"{name}.availability", availability)]
        else:
            self.availability = [fraction(f"{name}.availability[{i}]", a)
                                 for i, a in enumerate(availability)]
            if not self.availability:
                raise ValueError(f"{name}.availability must not be empty")
        self.steps = 0

    def _available(self, k: int) -> float:
        return self.availability[k % len(self.availability)]

    def step(self, setpoint_kw: float, dt_h: float) -> FlexibleState:
        """Run at ``setpoint_kw``, clipped to this step's limits, for ``dt_h`` hours."""
        if not dt_h > 0.0:
            raise ValueError(f"{self.name}.dt_h must be > 0, got {dt_h!r}")
        a = self.availability[self.steps % len(self.availability)]
        # min(max(setpoint_kw, low), high), written out as the builtins compute them
        # (max(x, y) is y if y > x else x; min(x, y) is y if y < x else x)
        low, high = self.p_min_kw * a, self.p_max_kw * a
        power = low if low > setpoint_kw else setpoint_kw
        if high < power:
            power = high
        self.steps += 1
        return _tuple_new(FlexibleState, (power,))  # (without the Python-level __new__)

    def limits_now(self, dt_h: float) -> tuple[float, float, None, None]:
        """The bounds of ``flexibility(1, dt_h)`` as numbers: (p_min_kw, p_max_kw, None,
        None) (no energy bounds; what a site asks of every device at every step)."""
        if not dt_h > 0.0:
            check_horizon(1, dt_h, self.name)
        a = self.availability[self.steps % len(self.availability)]
        return self.p_min_kw * a, self.p_max_kw * a, None, None

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """The limits of the next ``horizon`` steps (no energy bounds)."""
        check_horizon(horizon, dt_h, self.name)
        if horizon == 1:  # the per-step path of a site
            a = self._available(self.steps)
            return Flexibility(dt_h, (self.p_min_kw * a,), (self.p_max_kw * a,), None, None,
                               (self.cost_per_kwh,))
        a = [self._available(self.steps + k) for k in range(horizon)]
        return Flexibility(dt_h, tuple(self.p_min_kw * x for x in a),
                           tuple(self.p_max_kw * x for x in a), None, None,
                           (self.cost_per_kwh,) * horizon)
