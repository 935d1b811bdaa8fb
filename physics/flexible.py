"""The simplest honest devices: power limits, a marginal cost, availability, stored energy.

These are what a site dispatches until the detailed models (pvlib, windpowerlib,
BLAST-Lite) stand behind the same two methods: ``limits(step, dt_h)`` gives the live power
range for a step and ``apply(step, power_kw, dt_h)`` carries out a set-point and returns
the power delivered. Positive power is injection, negative is absorption; kW, kWh, hours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _check(name: str, field: str, value: float, low: float | None = None,
           high: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}.{field} must be a finite number, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name}.{field} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name}.{field} must be <= {high}, got {value}")
    return value


class FlexibleDevice:
    """A device that can move between ``p_min_kw`` (<= 0) and ``p_max_kw`` (>= 0).

    A generator has ``p_min_kw = 0``; a flexible load that can both reduce and raise its
    consumption has both sides. ``availability`` scales both limits per step (a list is
    cycled; a number applies to every step), e.g. a forced outage is 0.

    Args:
        name: unique within the site.
        p_min_kw: the most it can absorb, as a negative number (or 0).
        p_max_kw: the most it can inject (or 0).
        cost_eur_mwh: marginal cost of injection.
        absorb_price_eur_mwh: the price it asks per MWh it absorbs.
        availability: a fraction in [0, 1], or one per step.
    """

    kind = "flexible"

    def __init__(self, name: str, p_min_kw: float, p_max_kw: float, cost_eur_mwh: float,
                 absorb_price_eur_mwh: float = 0.0,
                 availability: float | Sequence[float] = 1.0) -> None:
        self.name = name
        self.p_min_kw = _check(name, "p_min_kw", p_min_kw, high=0.0)
        self.p_max_kw = _check(name, "p_max_kw", p_max_kw, low=0.0)
        self.cost_eur_mwh = _check(name, "cost_eur_mwh", cost_eur_mwh)
        self.absorb_price_eur_mwh = _check(name, "absorb_price_eur_mwh", absorb_price_eur_mwh)
        if isinstance(availability, (int, float)):
            self.availability = [_check(name, "availability", availability, 0.0, 1.0)]
        else:
            self.availability = [_check(name, f"availability[{i}]", a, 0.0, 1.0)
                                 for i, a in enumerate(availability)]
            if not self.availability:
                raise ValueError(f"{name}.availability must not be empty")
        self.energy_out_kwh = 0.0
        self.energy_in_kwh = 0.0

    def available(self, step: int) -> float:
        """The availability factor of ``step``."""
        return self.availability[step % len(self.availability)]

    def limits(self, step: int, dt_h: float) -> tuple[float, float]:
        """The (lowest, highest) power this step."""
        a = self.available(step)
        return self.p_min_kw * a, self.p_max_kw * a

    def apply(self, step: int, power_kw: float, dt_h: float) -> float:
        """Run at ``power_kw`` (clipped to the limits) for ``dt_h``; return what was run."""
        low, high = self.limits(step, dt_h)
        power = min(max(power_kw, low), high)
        if power >= 0:
            self.energy_out_kwh += power * dt_h
        else:
            self.energy_in_kwh -= power * dt_h
        return power


class StorageDevice:
    """A store of energy with separate charge and discharge efficiencies.

    Charging at P kW for dt hours stores ``eta_c * P * dt``; discharging at P draws
    ``P * dt / eta_d`` from the store. The live limits come from the state of charge, so a
    full store offers no absorption and an empty one no injection.

    Args:
        name: unique within the site.
        capacity_kwh: usable energy capacity.
        p_charge_kw: the highest charging power (>= 0).
        p_discharge_kw: the highest discharging power (>= 0).
        state_of_charge: the initial state of charge, a fraction of capacity.
        eta_c: charging efficiency in (0, 1].
        eta_d: discharging efficiency in (0, 1].
        cost_eur_mwh: the price asked per MWh injected (wear and the value of the energy).
        absorb_price_eur_mwh: the price asked per MWh absorbed.
    """

    kind = "storage"

    def __init__(self, name: str, capacity_kwh: float, p_charge_kw: float,
                 p_discharge_kw: float, state_of_charge: float = 0.5, eta_c: float = 0.95,
                 eta_d: float = 0.95, cost_eur_mwh: float = 30.0,
                 absorb_price_eur_mwh: float = 0.0) -> None:
        self.name = name
        self.capacity_kwh = _check(name, "capacity_kwh", capacity_kwh, low=0.0)
        self.p_charge_kw = _check(name, "p_charge_kw", p_charge_kw, low=0.0)
        self.p_discharge_kw = _check(name, "p_discharge_kw", p_discharge_kw, low=0.0)
        soc = _check(name, "state_of_charge", state_of_charge, 0.0, 1.0)
        self.eta_c = _check(name, "eta_c", eta_c, 1e-6, 1.0)
        self.eta_d = _check(name, "eta_d", eta_d, 1e-6, 1.0)
        self.cost_eur_mwh = _check(name, "cost_eur_mwh", cost_eur_mwh)
        self.absorb_price_eur_mwh = _check(name, "absorb_price_eur_mwh", absorb_price_eur_mwh)
        self.energy_kwh = soc * self.capacity_kwh
        self.energy_out_kwh = 0.0
        self.energy_in_kwh = 0.0

    @property
    def state_of_charge(self) -> float:
        """Stored energy as a fraction of capacity."""
        return self.energy_kwh / self.capacity_kwh if self.capacity_kwh else 0.0

    def limits(self, step: int, dt_h: float) -> tuple[float, float]:
        """The (lowest, highest) power that the power rating and stored energy allow."""
        high = min(self.p_discharge_kw, self.energy_kwh * self.eta_d / dt_h)
        low = -min(self.p_charge_kw, (self.capacity_kwh - self.energy_kwh) / (self.eta_c * dt_h))
        return low, high

    def apply(self, step: int, power_kw: float, dt_h: float) -> float:
        """Charge or discharge at ``power_kw`` (clipped to the limits); return what was run."""
        low, high = self.limits(step, dt_h)
        power = min(max(power_kw, low), high)
        if power >= 0:
            self.energy_kwh -= power * dt_h / self.eta_d
            self.energy_out_kwh += power * dt_h
        else:
            self.energy_kwh -= power * dt_h * self.eta_c
            self.energy_in_kwh -= power * dt_h
        self.energy_kwh = min(max(self.energy_kwh, 0.0), self.capacity_kwh)
        return power
