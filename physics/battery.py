"""Battery energy storage: the one battery description, and the physics model of it.

:class:`BatteryParams` describes a battery once, for every layer: this module's
:class:`Battery` simulates it, ADMM's site model (``vpp.coordination.admm``) and the
planning LPs (``vpp.coordination.planning``) take the same record as their battery and read
the fields they need (the derived energy bounds ``e_min_kwh`` ... and the per-kWh
``degradation_eur_kwh`` are properties, so they cannot disagree with the fields).

Sign convention: positive power is discharge (injection into the grid), negative is
charge. Units: kW, kWh, hours. Charging at ``P < 0`` for ``dt`` stores
``eta_c * |P| * dt``; discharging at ``P > 0`` draws ``P * dt / eta_d`` from the store,
so a battery never creates energy. The step uses plain floats only.

Ageing (optional, :class:`~physics.degradation.BlastDegradation`) shrinks the usable
capacity and, through the relative resistance ``r``, scales the conversion losses
(``1 - eta``) by ``r``; the thermal model (optional) turns those losses into heat and
derates power near its temperature limits.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import NamedTuple

from vpp.physics._validate import finite, fraction, non_negative, ordered, positive
from vpp.physics.battery_thermal import ThermalModel, ThermalParams
from vpp.physics.degradation import (
    DEFAULT_MODEL,
    BlastDegradation,
    degradation_cost_per_kwh,
)
from vpp.physics.flexibility import Flexibility, check_horizon

_tuple_new = tuple.__new__


@dataclass(frozen=True, slots=True)
class DegradationParams:
    """How a battery ages and what its ageing costs.

    ``model``: a BLAST-Lite model class name; ``update_interval_h``: simulated hours
    between model updates; ``capex_per_kwh``: replacement value per kWh of capacity;
    ``eol_capacity_fraction``: capacity fraction at end of life.
    """

    model: str = DEFAULT_MODEL
    update_interval_h: float = 24.0
    degradation_scalar: float = 1.0
    capex_per_kwh: float = 300.0
    eol_capacity_fraction: float = 0.8


@dataclass(frozen=True, slots=True)
class BatteryParams:
    """One battery, as physics, ADMM and planning all see it (validated once).

    Fractions (``soc_*``) are of the usable capacity (the current one, once ageing shrinks
    it). Ratings: ``capacity_kwh``, ``p_charge_max_kw`` and ``p_discharge_max_kw`` (both
    >= 0, at the terminals), ``eta_c`` and ``eta_d`` (charging stores ``eta_c * P * dt``,
    discharging draws ``P * dt / eta_d``), the state-of-charge window ``soc_min`` ..
    ``soc_max`` and the initial ``soc_init``. Physics only: ``c_rate_max`` (per hour),
    ``thermal``, ``degradation`` (a BLAST-Lite ageing model) and ``ambient_c``.

    Keyword-only, for the layers that plan over a horizon:

    - ``soc_final_min``: the least state of charge at the end of a plan's horizon (None:
      ``soc_init``, so a plan cannot sell energy it did not buy);
    - ``degradation_eur_mwh``: a flat cost per MWh of throughput, charge plus discharge,
      paid by the ADMM and planning problems and bid by the physics model's flexibility;
      with an ageing model (``degradation``) the cost is BLAST-Lite's instead
      (:attr:`Battery.degradation_cost_per_kwh`), so the two are not given together;
    - ``wear_eur_kw2h``: a quadratic wear cost, ``wear * (c^2 + d^2) * dt`` EUR, paid by
      ADMM's local problem (the planning LPs are linear and leave it out);
    - ``name``: how error messages name the battery (``battery.soc_min must ...``).
    """

    capacity_kwh: float
    p_charge_max_kw: float
    p_discharge_max_kw: float
    eta_c: float = 0.95
    eta_d: float = 0.95
    soc_min: float = 0.1
    soc_max: float = 0.9
    soc_init: float = 0.5
    c_rate_max: float | None = None
    thermal: ThermalParams | None = None
    degradation: DegradationParams | None = None
    ambient_c: float = 25.0
    _: KW_ONLY
    soc_final_min: float | None = None
    degradation_eur_mwh: float = 0.0
    wear_eur_kw2h: float = 0.0
    name: str = field(default="battery", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"battery.name must be a non-empty string, got {self.name!r}")
        n = self.name
        positive(f"{n}.capacity_kwh", self.capacity_kwh)
        non_negative(f"{n}.p_charge_max_kw", self.p_charge_max_kw)
        non_negative(f"{n}.p_discharge_max_kw", self.p_discharge_max_kw)
        fraction(f"{n}.eta_c", self.eta_c, open_low=True)
        fraction(f"{n}.eta_d", self.eta_d, open_low=True)
        fraction(f"{n}.soc_min", self.soc_min)
        fraction(f"{n}.soc_max", self.soc_max)
        fraction(f"{n}.soc_init", self.soc_init)
        ordered(f"{n}.soc_min", self.soc_min, f"{n}.soc_max", self.soc_max)
        if not self.soc_min <= self.soc_init <= self.soc_max:
            raise ValueError(
                f"{n}.soc_init must be in [soc_min, soc_max] = "
                f"[{self.soc_min!r}, {self.soc_max!r}], got {self.soc_init!r}"
            )
        if self.soc_final_min is not None:
            fraction(f"{n}.soc_final_min", self.soc_final_min)
            if not self.soc_min <= self.soc_final_min <= self.soc_max:
                raise ValueError(
                    f"{n}.soc_final_min must be in [soc_min, soc_max] = "
                    f"[{self.soc_min!r}, {self.soc_max!r}], got {self.soc_final_min!r}"
                )
        if self.c_rate_max is not None:
            positive(f"{n}.c_rate_max", self.c_rate_max)
        finite(f"{n}.ambient_c", self.ambient_c)
        non_negative(f"{n}.degradation_eur_mwh", self.degradation_eur_mwh)
        non_negative(f"{n}.wear_eur_kw2h", self.wear_eur_kw2h)
        if self.degradation is not None:
            d = self.degradation
            non_negative(f"{n}.degradation.capex_per_kwh", d.capex_per_kwh)
            fraction(f"{n}.degradation.eol_capacity_fraction", d.eol_capacity_fraction)
            if self.degradation_eur_mwh > 0.0:
                raise ValueError(
                    f"{n}.degradation_eur_mwh must be 0 with an ageing model ({n}.degradation): "
                    f"the throughput cost is then BLAST-Lite's, got {self.degradation_eur_mwh!r}"
                )

    # -- derived views (properties: they follow the fields) ---------------------------
    @property
    def e_min_kwh(self) -> float:
        """The least stored energy (kWh), ``soc_min * capacity_kwh``."""
        return self.soc_min * self.capacity_kwh

    @property
    def e_max_kwh(self) -> float:
        """The most stored energy (kWh), ``soc_max * capacity_kwh``."""
        return self.soc_max * self.capacity_kwh

    @property
    def e_init_kwh(self) -> float:
        """The stored energy at the start (kWh), ``soc_init * capacity_kwh``."""
        return self.soc_init * self.capacity_kwh

    @property
    def e_final_min_kwh(self) -> float:
        """The least stored energy at the end of a plan's horizon (kWh)."""
        soc = self.soc_init if self.soc_final_min is None else self.soc_final_min
        return soc * self.capacity_kwh

    @property
    def degradation_eur_kwh(self) -> float:
        """The flat throughput cost per kWh (EUR/kWh), ``degradation_eur_mwh / 1000``."""
        return self.degradation_eur_mwh / 1000.0


class BatteryState(NamedTuple):
    """What one step did: delivered power and the battery's state after it."""

    power_kw: float
    energy_kwh: float
    soc: float
    temperature_c: float
    capacity_kwh: float
    derate: float
    limited: bool


class Battery:
    """A battery with separate charge/discharge efficiency, limits, heat and ageing."""

    __slots__ = ("params", "energy_kwh", "t_h", "energy_charged_kwh", "energy_discharged_kwh",
                 "_cap0", "_cap", "_pch", "_pdis", "_eta_c", "_eta_d", "_smin", "_smax",
                 "_crate", "_thermal", "_deg", "_ambient", "_cost")

    def __init__(self, params: BatteryParams) -> None:
        self.params = params
        self._cap0 = float(params.capacity_kwh)
        self._cap = self._cap0
        self.energy_kwh = params.soc_init * self._cap0
        self.t_h = 0.0
        self.energy_charged_kwh = 0.0      # drawn from the grid
        self.energy_discharged_kwh = 0.0   # delivered to the grid
        self._pch = float(params.p_charge_max_kw)
        self._pdis = float(params.p_discharge_max_kw)
        self._eta_c = float(params.eta_c)
        self._eta_d = float(params.eta_d)
        self._smin = float(params.soc_min)
        self._smax = float(params.soc_max)
        self._crate = None if params.c_rate_max is None else float(params.c_rate_max)
        self._thermal = None if params.thermal is None else ThermalModel(params.thermal)
        self._ambient = float(params.ambient_c)
        d = params.degradation
        if d is None:
            self._deg = None
            self._cost = params.degradation_eur_kwh
        else:
            self._deg = BlastDegradation(d.model, d.update_interval_h, d.degradation_scalar)
            self._cost = degradation_cost_per_kwh(d.capex_per_kwh, d.eol_capacity_fraction,
                                                  d.model)

    # -- read-only views -------------------------------------------------------------
    @property
    def capacity_kwh(self) -> float:
        """Usable capacity now (shrinks with ageing)."""
        return self._cap

    @property
    def soc(self) -> float:
        """State of charge, a fraction of the current capacity."""
        return self.energy_kwh / self._cap

    @property
    def temperature_c(self) -> float:
        """Cell temperature (ambient when there is no thermal model)."""
        return self._ambient if self._thermal is None else self._thermal.temperature_c

    @property
    def degradation(self) -> BlastDegradation | None:
        """The ageing state, or None when ageing is not modelled."""
        return self._deg

    @property
    def degradation_cost_per_kwh(self) -> float:
        """Marginal cost per kWh of throughput: BLAST-Lite's with an ageing model, else the
        description's flat ``degradation_eur_kwh`` (0 by default)."""
        return self._cost

    def _limits(self) -> tuple[float, float, float]:
        """Present (charge, discharge) power limits in kW and the derate factor."""
        pch = self._pch
        pdis = self._pdis
        if self._crate is not None:
            c = self._crate * self._cap
            pch = min(pch, c)
            pdis = min(pdis, c)
        derate = 1.0
        if self._thermal is not None:
            derate = self._thermal.derate()
            pdis *= derate
            pch *= self._thermal.charge_derate()
        return pch, pdis, derate

    # -- the device interface --------------------------------------------------------
    def step(self, setpoint_kw: float, dt_h: float) -> BatteryState:
        """Deliver as much of ``setpoint_kw`` as limits allow for ``dt_h`` hours."""
        if not dt_h > 0.0:
            raise ValueError(f"{self.params.name}.dt_h must be > 0, got {dt_h!r}")
        thermal = self._thermal
        if thermal is None and self._crate is None:  # (_limits without the call)
            pch, pdis, derate = self._pch, self._pdis, 1.0
        else:
            pch, pdis, derate = self._limits()
        e = self.energy_kwh
        cap = self._cap
        p = setpoint_kw
        if p > 0.0:
            eta_d = self._eta_d
            room = (e - self._smin * cap) * eta_d / dt_h
            p_lim = pdis if pdis < room else room
            if p_lim < 0.0:
                p_lim = 0.0
            if p > p_lim:
                p = p_lim
            e -= p * dt_h / eta_d
            heat = p * (1.0 / eta_d - 1.0)
            self.energy_discharged_kwh += p * dt_h
        elif p < 0.0:
            eta_c = self._eta_c
            room = (self._smax * cap - e) / (eta_c * dt_h)
            p_lim = pch if pch < room else room
            if p_lim < 0.0:
                p_lim = 0.0
            if -p > p_lim:
                p = -p_lim
            e -= p * dt_h * eta_c
            heat = -p * (1.0 - eta_c)
            self.energy_charged_kwh -= p * dt_h
        else:
            heat = 0.0
        self.energy_kwh = e
        self.t_h = t_h = self.t_h + dt_h
        if thermal is not None:
            temp = thermal.step(heat, dt_h)
        else:
            temp = self._ambient
        deg = self._deg
        if deg is not None and deg.record(t_h, e / cap, temp):
            self._apply_ageing()
        # (BatteryState's fields as its __new__ takes them, without that Python-level call:
        # a site runs every store at every step)
        e = self.energy_kwh  # (ageing may have cut it)
        return _tuple_new(BatteryState, (p, e, e / self._cap, temp, self._cap, derate,
                                         p != setpoint_kw))

    def _apply_ageing(self) -> None:
        deg = self._deg
        q = deg.capacity_fraction
        r = deg.resistance_fraction
        # Floor at a millionth of the rating so the state of charge stays defined.
        self._cap = self._cap0 * max(q, 1e-6)
        # Energy above the new maximum is lost, never created.
        if self.energy_kwh > self._cap:
            self.energy_kwh = self._cap
        # Conversion losses grow with resistance.
        self._eta_c = max(1.0 - (1.0 - self.params.eta_c) * r, 1e-6)
        self._eta_d = max(1.0 - (1.0 - self.params.eta_d) * r, 1e-6)

    def limits_now(self, dt_h: float) -> tuple[float, float, float, float]:
        """The bounds of ``flexibility(1, dt_h)`` as numbers: (p_min_kw, p_max_kw,
        e_min_kwh, e_max_kwh) (what a site asks of every store at every step)."""
        if not dt_h > 0.0:
            check_horizon(1, dt_h, self.params.name)
        if self._thermal is None and self._crate is None:  # (_limits without the call)
            pch, pdis = self._pch, self._pdis
        else:
            pch, pdis, _ = self._limits()
        e, cap = self.energy_kwh, self._cap
        # max(x, 0.0) written out as the builtin computes it (0.0 only when 0.0 > x)
        up = e - self._smin * cap
        dn = self._smax * cap - e
        return (-pch, pdis, -((0.0 if 0.0 > dn else dn) / self._eta_c),
                (0.0 if 0.0 > up else up) * self._eta_d)

    def flexibility(self, horizon: int, dt_h: float) -> Flexibility:
        """Power bounds (present limits), cumulative energy bounds from SOC, ageing cost.

        The energy bounds are on the cumulative energy delivered to the grid: at most the
        stored energy above ``soc_min`` times ``eta_d``; at least minus the room below
        ``soc_max`` divided by ``eta_c``. They are exact for one-directional schedules.
        """
        check_horizon(horizon, dt_h, self.params.name)
        pch, pdis, _ = self._limits()
        e, cap = self.energy_kwh, self._cap
        e_up = max(e - self._smin * cap, 0.0) * self._eta_d
        e_dn = max(self._smax * cap - e, 0.0) / self._eta_c
        # positional: a site asks this of every store at every step
        return Flexibility(dt_h, (-pch,) * horizon, (pdis,) * horizon, (-e_dn,) * horizon,
                           (e_up,) * horizon, (self._cost,) * horizon)
