"""Device types of the scenario file: each ``type:`` in a site's ``devices`` list is one
spec below, and :func:`check_device` checks its values as its physics model will (the one
check of ``vpp validate`` and ``vpp run``). Building the priced site devices from these specs
is :mod:`vpp.runs.fleet.devices`. Units: kW, kWh, hours from the scenario's start, EUR/MWh.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import msgspec

_Strict = dict(forbid_unknown_fields=True, kw_only=True, tag_field="type", frozen=True)
Kw = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Efficiency = Annotated[float, msgspec.Meta(gt=0, le=1)]


class FlexibleSpec(msgspec.Struct, tag="flexible", **_Strict):
    """A device between ``p_min_kw`` (<= 0) and ``p_max_kw`` (>= 0) at a marginal cost."""

    name: str
    p_max_kw: Kw
    p_min_kw: Annotated[float, msgspec.Meta(le=0)] = 0.0
    cost_eur_mwh: float
    absorb_price_eur_mwh: float = 0.0
    availability: Fraction | list[Fraction] = 1.0


class BatterySpec(msgspec.Struct, tag="battery", **_Strict):
    """A battery (``vpp.physics.battery``): both efficiencies, SoC window, optional heat and
    BLAST-Lite ageing. Without ``cost_eur_mwh`` it bids its ageing cost per MWh."""

    name: str
    capacity_kwh: Annotated[float, msgspec.Meta(gt=0)]
    p_charge_kw: Kw
    p_discharge_kw: Kw
    state_of_charge: Fraction = 0.5
    soc_min: Fraction = 0.0
    soc_max: Fraction = 1.0
    eta_c: Efficiency = 0.95
    eta_d: Efficiency = 0.95
    c_rate_max: Annotated[float, msgspec.Meta(gt=0)] | None = None
    thermal: bool = False
    degradation: bool = False
    cost_eur_mwh: float | None = None
    absorb_price_eur_mwh: float = 0.0


class PVSpec(msgspec.Struct, tag="pv", **_Strict):
    """A PV plant (pvlib), curtailable to 0. ``weather``: ``clear-sky``, ``pvgis`` (the
    bundled 45N 8E typical year) or ``tmy3:FILE`` (a TMY3 file bundled with pvlib); a
    typical year is read at the scenario's month, day and hour."""

    name: str
    latitude: float = 45.0
    longitude: float = 8.0
    surface_tilt: float = 30.0
    surface_azimuth: float = 180.0
    modules_per_string: Annotated[int, msgspec.Meta(ge=1)] = 7
    strings_per_inverter: Annotated[int, msgspec.Meta(ge=1)] = 2
    inverter_count: Annotated[int, msgspec.Meta(ge=1)] = 1
    weather: str = "clear-sky"
    cost_eur_mwh: float = 0.0


class WindSpec(msgspec.Struct, tag="wind", **_Strict):
    """A wind farm (windpowerlib, its turbine library), curtailable to 0, on the bundled
    2010 example weather read at the scenario's month, day and hour."""

    name: str
    turbine_type: str = "E-126/4200"
    hub_height_m: Annotated[float, msgspec.Meta(gt=0)] = 135.0
    number_of_turbines: Annotated[int, msgspec.Meta(ge=1)] = 1
    cost_eur_mwh: float = 0.0


class LoadSpec(msgspec.Struct, tag="load", **_Strict):
    """A fixed load: it consumes ``demand_kw`` (one value, or one per step) whatever happens."""

    name: str
    demand_kw: Kw | list[Kw]


class CurtailableLoadSpec(msgspec.Struct, tag="curtailable-load", **_Strict):
    """A load that may shed up to ``max_curtail_fraction`` of its demand, paid
    ``cost_eur_mwh`` per MWh shed (its value of lost load)."""

    name: str
    demand_kw: Kw | list[Kw]
    max_curtail_fraction: Fraction = 1.0
    cost_eur_mwh: float = 300.0


class ShiftableLoadSpec(msgspec.Struct, tag="shiftable-load", **_Strict):
    """``energy_kwh`` to consume between ``window_start_h`` and ``window_end_h`` (hours from
    the start), at most ``p_max_kw``; it bids extra consumption at ``absorb_price_eur_mwh``."""

    name: str
    energy_kwh: Kw
    p_max_kw: Annotated[float, msgspec.Meta(gt=0)]
    window_start_h: Kw
    window_end_h: Kw
    absorb_price_eur_mwh: float = 0.0


class EVSpec(msgspec.Struct, tag="ev", **_Strict):
    """An electric vehicle charging between arrival and departure to a target energy."""

    name: str
    battery_kwh: Annotated[float, msgspec.Meta(gt=0)]
    p_max_kw: Annotated[float, msgspec.Meta(gt=0)]
    arrival_h: Kw
    departure_h: Kw
    energy_at_arrival_kwh: Kw
    target_energy_kwh: Kw
    eta_c: Efficiency = 0.92
    absorb_price_eur_mwh: float = 0.0


DeviceSpec = (FlexibleSpec | BatterySpec | PVSpec | WindSpec | LoadSpec | CurtailableLoadSpec
              | ShiftableLoadSpec | EVSpec)


def per_step(values: float | list[float], steps: int) -> list[float]:
    """One value per step: ``values`` repeated, or the list as given."""
    return [float(values)] * steps if isinstance(values, (int, float)) else list(values)


_FIELD_OF = {"soc_init": "state_of_charge"}
"""The scenario's name of a physics battery parameter, where they differ."""


def battery_params(spec: BatterySpec):
    """The physics battery parameters of ``spec`` (its constructor checks them; an error
    names the scenario's field, ``state_of_charge`` rather than physics' ``soc_init``)."""
    from vpp.physics.battery import BatteryParams, DegradationParams
    from vpp.physics.battery_thermal import ThermalParams

    try:
        return BatteryParams(
            spec.capacity_kwh, spec.p_charge_kw, spec.p_discharge_kw, spec.eta_c, spec.eta_d,
            spec.soc_min, spec.soc_max, spec.state_of_charge, spec.c_rate_max,
            ThermalParams() if spec.thermal else None,
            DegradationParams() if spec.degradation else None)
    except ValueError as exc:
        text = str(exc)
        for physics, field in _FIELD_OF.items():
            text = re.sub(rf"\b{physics}\b", field, text)
        raise ValueError(text) from None


def plain_model(spec: DeviceSpec, steps: int, dt_h: float):
    """The physics model of every kind but PV, wind and battery (cheap to make: no weather,
    no ageing model); its constructor checks the values, naming each."""
    from vpp.physics import loads
    from vpp.physics.flexible import FlexibleDevice

    if isinstance(spec, FlexibleSpec):
        return FlexibleDevice(spec.name, spec.p_min_kw, spec.p_max_kw, spec.cost_eur_mwh / 1e3,
                              spec.availability)
    if isinstance(spec, LoadSpec):
        return loads.FixedLoad(per_step(spec.demand_kw, steps), dt_h)
    if isinstance(spec, CurtailableLoadSpec):
        return loads.CurtailableLoad(per_step(spec.demand_kw, steps), spec.max_curtail_fraction,
                                     spec.cost_eur_mwh / 1e3, dt_h)
    if isinstance(spec, ShiftableLoadSpec):
        return loads.ShiftableLoad(spec.energy_kwh, spec.p_max_kw, spec.window_start_h,
                                   spec.window_end_h)
    assert isinstance(spec, EVSpec)
    return loads.EVCharger(spec.battery_kwh, spec.p_max_kw, spec.arrival_h, spec.departure_h,
                           spec.energy_at_arrival_kwh, spec.target_energy_kwh, spec.eta_c)


TMY3_PREFIX = "tmy3:"


def check_weather(weather: str) -> None:
    """``clear-sky``, ``pvgis`` or ``tmy3:FILE`` with FILE a file name in pvlib's bundled
    data (no folder: the name never leaves that folder). pvlib is not imported."""
    import importlib.util

    if weather in ("clear-sky", "pvgis"):
        return
    if not weather.startswith(TMY3_PREFIX):
        raise ValueError(f"weather must be clear-sky, pvgis or tmy3:FILE, got {weather[:80]!r}")
    name = weather[len(TMY3_PREFIX):]
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"weather: tmy3:FILE names a file bundled with pvlib, without a "
                         f"folder; got {weather[:80]!r}")
    found = importlib.util.find_spec("pvlib")
    folder = Path(found.origin).parent / "data" if found and found.origin else None
    if folder is None or not (folder / name).is_file():
        raise ValueError(f"weather: {name[:80]!r} is not a TMY3 file bundled with pvlib")


def check_device(spec: DeviceSpec, steps: int, dt_h: float) -> None:
    """The checks :func:`build_device` makes, without building weather profiles or ageing
    models (``vpp validate`` and ``vpp run`` share them: the scenario loader calls this).

    Raises:
        ValueError: naming the field, when a value is out of range or two are out of order
            (e.g. ``battery.soc_min`` above ``battery.soc_max``).
    """
    if isinstance(spec, PVSpec):
        check_weather(spec.weather)
    elif isinstance(spec, BatterySpec):
        battery_params(spec)
    elif not isinstance(spec, WindSpec):
        plain_model(spec, steps, dt_h)
