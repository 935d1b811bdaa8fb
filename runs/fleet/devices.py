"""Device types of the scenario file, and how each becomes a priced site device.

Each ``type:`` in a site's ``devices`` list is one spec below; :func:`build_device` makes the
physics model (``physics/``) and wraps it with its bid prices (``vpp.agents.dispatch.devices.SiteDevice``).
Units: kW, kWh, hours from the scenario's start, EUR/MWh.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec
from vpp.agents.dispatch.devices import SiteDevice

if TYPE_CHECKING:
    from vpp.runs.scenario import Scenario

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


def _per_step(values: float | list[float], steps: int) -> list[float]:
    return [float(values)] * steps if isinstance(values, (int, float)) else list(values)


def _battery_params(spec: BatterySpec):
    from vpp.physics.battery import BatteryParams, DegradationParams
    from vpp.physics.battery_thermal import ThermalParams

    return BatteryParams(
        spec.capacity_kwh, spec.p_charge_kw, spec.p_discharge_kw, spec.eta_c, spec.eta_d,
        spec.soc_min, spec.soc_max, spec.state_of_charge, spec.c_rate_max,
        ThermalParams() if spec.thermal else None,
        DegradationParams() if spec.degradation else None)


def _plain_model(spec: DeviceSpec, steps: int, dt_h: float):
    """The physics model of every kind but PV, wind and battery (cheap to make: no weather,
    no ageing model); its constructor checks the values, naming each."""
    from vpp.physics import loads
    from vpp.physics.flexible import FlexibleDevice

    if isinstance(spec, FlexibleSpec):
        return FlexibleDevice(spec.name, spec.p_min_kw, spec.p_max_kw, spec.cost_eur_mwh / 1e3,
                              spec.availability)
    if isinstance(spec, LoadSpec):
        return loads.FixedLoad(_per_step(spec.demand_kw, steps), dt_h)
    if isinstance(spec, CurtailableLoadSpec):
        return loads.CurtailableLoad(_per_step(spec.demand_kw, steps), spec.max_curtail_fraction,
                                     spec.cost_eur_mwh / 1e3, dt_h)
    if isinstance(spec, ShiftableLoadSpec):
        return loads.ShiftableLoad(spec.energy_kwh, spec.p_max_kw, spec.window_start_h,
                                   spec.window_end_h)
    assert isinstance(spec, EVSpec)
    return loads.EVCharger(spec.battery_kwh, spec.p_max_kw, spec.arrival_h, spec.departure_h,
                           spec.energy_at_arrival_kwh, spec.target_energy_kwh, spec.eta_c)


TMY3_PREFIX = "tmy3:"


def _check_weather(weather: str) -> None:
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
        _check_weather(spec.weather)
    elif isinstance(spec, BatterySpec):
        _battery_params(spec)
    elif not isinstance(spec, WindSpec):
        _plain_model(spec, steps, dt_h)


def build_device(spec: DeviceSpec, times: list[datetime], dt_h: float) -> SiteDevice:
    """The priced site device of ``spec`` for a run whose steps start at ``times``.

    Raises:
        ValueError: from the model, naming the field, when a value is out of range.
    """
    if isinstance(spec, BatterySpec):
        from vpp.physics.battery import Battery

        model = Battery(_battery_params(spec))
        cost = spec.cost_eur_mwh
        if cost is None:
            cost = model.degradation_cost_per_kwh * 1e3
        return SiteDevice(spec.name, model, cost, spec.absorb_price_eur_mwh)
    if isinstance(spec, (PVSpec, WindSpec)):
        if isinstance(spec, PVSpec):
            _check_weather(spec.weather)
        profile = (_pv_profile(spec, tuple(times)) if isinstance(spec, PVSpec)
                   else _wind_profile(spec, tuple(times)))
        if isinstance(spec, PVSpec):
            from vpp.physics.pv import PVPlant as Plant
        else:
            from vpp.physics.wind import WindPlant as Plant
        model = Plant(profile, dt_h, spec.cost_eur_mwh / 1e3)
        return SiteDevice(spec.name, model, spec.cost_eur_mwh)
    model = _plain_model(spec, len(times), dt_h)
    if isinstance(spec, FlexibleSpec):
        return SiteDevice(spec.name, model, spec.cost_eur_mwh, spec.absorb_price_eur_mwh)
    if isinstance(spec, LoadSpec):
        return SiteDevice(spec.name, model, 0.0, baseline="lowest")
    if isinstance(spec, CurtailableLoadSpec):
        return SiteDevice(spec.name, model, spec.cost_eur_mwh, baseline="lowest")
    return SiteDevice(spec.name, model, 0.0, spec.absorb_price_eur_mwh)


@contextlib.contextmanager
def _quiet():
    """Silence the libraries' known-harmless warnings (pvlib divides by zero at night;
    windpowerlib's pandas downcasting notice)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _typical_year_index(times: tuple[datetime, ...], index):
    """The scenario's instants moved onto the calendar year of a typical-year ``index``
    (29 February reads 28 February)."""
    import pandas as pd

    year = index[len(index) // 2].year
    out = []
    for t in times:
        t = pd.Timestamp(t).tz_convert("UTC")
        if t.month == 2 and t.day == 29:
            t = t.replace(day=28)
        out.append(t.replace(year=year))
    return pd.DatetimeIndex(out)


@functools.lru_cache(maxsize=16)
def _pv_profile(spec: PVSpec, times: tuple[datetime, ...]) -> list[float]:
    import pandas as pd
    from vpp.physics import pv

    system = pv.PVSystemSpec(spec.latitude, spec.longitude, surface_tilt=spec.surface_tilt,
                             surface_azimuth=spec.surface_azimuth,
                             modules_per_string=spec.modules_per_string,
                             strings_per_inverter=spec.strings_per_inverter,
                             inverter_count=spec.inverter_count)
    if spec.weather == "clear-sky":
        with _quiet():
            return pv.simulate(system, times=pd.DatetimeIndex(times)).ac_kw.tolist()
    if spec.weather == "pvgis":
        weather, _ = pv.load_pvgis_tmy()
    else:  # tmy3:FILE, checked by _check_weather
        weather, _ = pv.load_tmy3(spec.weather[len(TMY3_PREFIX):])
    with _quiet():
        ac = pv.simulate(system, weather).ac_kw
    ac.index = ac.index.tz_convert("UTC")
    wanted = _typical_year_index(times, ac.index)
    return ac.reindex(wanted, method="ffill").bfill().fillna(0.0).tolist()


@functools.lru_cache(maxsize=16)
def _wind_profile(spec: WindSpec, times: tuple[datetime, ...]) -> list[float]:
    from vpp.physics import wind

    weather = wind.load_example_weather()
    farm = wind.WindFarmSpec(spec.turbine_type, spec.hub_height_m, spec.number_of_turbines,
                             "dena_mean" if spec.number_of_turbines > 1 else None)
    with _quiet():
        power = wind.simulate(farm, weather).power_kw
    power.index = power.index.tz_convert("UTC")
    wanted = _typical_year_index(times, power.index)
    return power.reindex(wanted, method="ffill").bfill().fillna(0.0).tolist()


def build_devices(scenario: Scenario, i: int, times, where: str) -> list:
    """The devices of one site of ``scenario.sites[i]`` over the step ``times``; a bad value
    is a ScenarioError naming ``$.sites[i].devices[j]``."""
    from vpp.runs.scenario import ScenarioError

    devices = []
    for j, dev in enumerate(scenario.sites[i].devices):
        try:
            devices.append(build_device(dev, times, scenario.dt_h))
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc} - at `$.sites[{i}].devices[{j}]`") from None
    return devices
