"""The private model of an ADMM site and the aggregator's coupling, as plain values.

Sign convention: positive power is injection into the grid (discharge, generation),
negative is absorption (charge, consumption). kW, kWh, hours, EUR, EUR/MWh. Quadratic
cost coefficients are in EUR per kW^2 per hour (``w * p^2 * dt_h`` EUR). Every error
names the field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from vpp.physics.battery import BatteryParams


def _finite(name: str, value: float, low: float | None = None,
            high: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return value


def _profile(name: str, values: Sequence[float], horizon: int,
             low: float | None = None) -> tuple[float, ...]:
    if len(values) != horizon:
        raise ValueError(f"{name} must have {horizon} values (the horizon), got {len(values)}")
    return tuple(_finite(f"{name}[{t}]", v, low) for t, v in enumerate(values))


WEAR_EUR_KW2H = 1e-4
"""The quadratic wear (EUR per kW^2 per hour) on a battery's charge and discharge that a
battery is given when its owner names none (the scenario mapping of ``vpp.runs``): it
makes the local problem strictly convex, so a site's schedule is unique."""


@dataclass(frozen=True)
class AdmmGenerator:
    """A curtailable generator (PV, wind, CHP): injects ``0 <= g[t] <= available_kw[t]``.

    Fuel cost ``fuel_eur_mwh * g * dt / 1000 + fuel_quad * g^2 * dt``; curtailment of
    ``available - g`` costs ``curtail_eur_mwh`` per MWh plus ``curtail_quad`` quadratic.
    """

    available_kw: tuple[float, ...]
    fuel_eur_mwh: float = 0.0
    fuel_quad: float = 0.0
    curtail_eur_mwh: float = 0.0
    curtail_quad: float = 1e-4

    def check(self, horizon: int) -> None:
        """Validate against the site's horizon (errors name the field)."""
        _profile("generator.available_kw", self.available_kw, horizon, 0.0)
        _finite("generator.fuel_eur_mwh", self.fuel_eur_mwh)
        _finite("generator.fuel_quad", self.fuel_quad, 0.0)
        _finite("generator.curtail_eur_mwh", self.curtail_eur_mwh)
        _finite("generator.curtail_quad", self.curtail_quad, 0.0)


@dataclass(frozen=True)
class AdmmFlexibleLoad:
    """A load that may shift: ``l_min <= l[t] <= l_max``, the same total as ``baseline``.

    Consumption is positive here (it enters the site's net injection with a minus sign);
    discomfort costs ``discomfort_quad * (l - baseline)^2 * dt`` EUR.
    """

    baseline_kw: tuple[float, ...]
    min_kw: tuple[float, ...]
    max_kw: tuple[float, ...]
    discomfort_quad: float = 1e-3

    def check(self, horizon: int) -> None:
        """Validate against the site's horizon (errors name the field)."""
        base = _profile("load.baseline_kw", self.baseline_kw, horizon, 0.0)
        low = _profile("load.min_kw", self.min_kw, horizon, 0.0)
        high = _profile("load.max_kw", self.max_kw, horizon, 0.0)
        for t in range(horizon):
            if not low[t] <= high[t]:
                raise ValueError(f"load.min_kw[{t}] must be <= load.max_kw[{t}]")
        if not sum(low) - 1e-9 <= sum(base) <= sum(high) + 1e-9:
            raise ValueError("load.baseline_kw total must lie between the min_kw and max_kw totals")
        _finite("load.discomfort_quad", self.discomfort_quad, 0.0)


@dataclass(frozen=True)
class SiteModel:
    """One site's private model: its devices and its tariff on its net position.

    ``battery`` is the one battery description (:class:`vpp.physics.battery.BatteryParams`);
    ADMM reads its ratings, ``e_min_kwh`` .. ``e_final_min_kwh`` (the end of the horizon,
    ``soc_final_min``), ``degradation_eur_kwh`` (per kWh of throughput, charge plus
    discharge) and ``wear_eur_kw2h`` (on ``c^2 + d^2``); it ignores the physics-only fields.

    ``tariff_eur_mwh`` (one per step, or empty for none) is what the site is paid per MWh
    it injects (and pays per MWh it absorbs) outside the negotiation.
    """

    name: str
    horizon: int
    dt_h: float
    battery: BatteryParams | None = None
    generator: AdmmGenerator | None = None
    load: AdmmFlexibleLoad | None = None
    tariff_eur_mwh: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.horizon, int) or self.horizon < 1:
            raise ValueError(f"site {self.name}: horizon must be an int >= 1, got {self.horizon!r}")
        if not (math.isfinite(self.dt_h) and self.dt_h > 0):
            raise ValueError(f"site {self.name}: dt_h must be > 0, got {self.dt_h!r}")
        if self.battery is not None and not isinstance(self.battery, BatteryParams):
            raise ValueError(f"site {self.name}: battery must be a "
                             f"vpp.physics.battery.BatteryParams, got {type(self.battery).__name__}")
        if self.battery is None and self.generator is None and self.load is None:
            raise ValueError(f"site {self.name}: needs at least one of battery, generator, load")
        if self.generator is not None:
            self.generator.check(self.horizon)
        if self.load is not None:
            self.load.check(self.horizon)
        if self.tariff_eur_mwh:
            _profile("tariff_eur_mwh", self.tariff_eur_mwh, self.horizon)


@dataclass(frozen=True)
class TargetCoupling:
    """The portfolio's net injection must equal ``target_kw`` in every step."""

    target_kw: tuple[float, ...]

    def check(self, horizon: int) -> None:
        """Validate against the horizon (errors name the field)."""
        _profile("coupling.target_kw", self.target_kw, horizon)


@dataclass(frozen=True)
class MarketCoupling:
    """The portfolio sells its net injection at ``price_eur_mwh`` within its grid limits.

    ``-import_max_kw <= sum of schedules <= export_max_kw`` in every step.
    """

    price_eur_mwh: tuple[float, ...]
    import_max_kw: float
    export_max_kw: float

    def check(self, horizon: int) -> None:
        """Validate against the horizon (errors name the field)."""
        _profile("coupling.price_eur_mwh", self.price_eur_mwh, horizon)
        _finite("coupling.import_max_kw", self.import_max_kw, 0.0)
        _finite("coupling.export_max_kw", self.export_max_kw, 0.0)


Coupling = TargetCoupling | MarketCoupling
"""What the aggregator owns."""
