"""How each device spec of a scenario becomes a priced site device: the physics model
(``physics/``) wrapped with its bid prices (:class:`vpp.agents.dispatch.devices.SiteDevice`).
The specs and their checks are :mod:`vpp.runs.scenario.devices`.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from datetime import datetime
from typing import TYPE_CHECKING

from vpp.agents.dispatch.devices import SiteDevice
from vpp.runs.scenario.devices import (
    TMY3_PREFIX,
    BatterySpec,
    CurtailableLoadSpec,
    DeviceSpec,
    FlexibleSpec,
    LoadSpec,
    PVSpec,
    WindSpec,
    battery_params,
    check_weather,
    plain_model,
)

if TYPE_CHECKING:
    from vpp.runs.scenario import Scenario


def build_device(spec: DeviceSpec, times: list[datetime], dt_h: float) -> SiteDevice:
    """The priced site device of ``spec`` for a run whose steps start at ``times``.

    Raises:
        ValueError: from the model, naming the field, when a value is out of range.
    """
    if isinstance(spec, BatterySpec):
        from vpp.physics.battery import Battery

        model = Battery(battery_params(spec))
        cost = spec.cost_eur_mwh
        if cost is None:
            cost = model.degradation_cost_per_kwh * 1e3
        return SiteDevice(spec.name, model, cost, spec.absorb_price_eur_mwh)
    if isinstance(spec, (PVSpec, WindSpec)):
        if isinstance(spec, PVSpec):
            check_weather(spec.weather)
        profile = (_pv_profile(spec, tuple(times)) if isinstance(spec, PVSpec)
                   else _wind_profile(spec, tuple(times)))
        if isinstance(spec, PVSpec):
            from vpp.physics.pv import PVPlant as Plant
        else:
            from vpp.physics.wind import WindPlant as Plant
        model = Plant(profile, dt_h, spec.cost_eur_mwh / 1e3)
        return SiteDevice(spec.name, model, spec.cost_eur_mwh)
    model = plain_model(spec, len(times), dt_h)
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
    from vpp.runs.stages import announce

    announce("solar model (pvlib)")
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
    else:  # tmy3:FILE, checked by check_weather
        weather, _ = pv.load_tmy3(spec.weather[len(TMY3_PREFIX):])
    with _quiet():
        ac = pv.simulate(system, weather).ac_kw
    ac.index = ac.index.tz_convert("UTC")
    wanted = _typical_year_index(times, ac.index)
    return ac.reindex(wanted, method="ffill").bfill().fillna(0.0).tolist()


@functools.lru_cache(maxsize=16)
def _wind_profile(spec: WindSpec, times: tuple[datetime, ...]) -> list[float]:
    from vpp.runs.stages import announce

    announce("wind model (windpowerlib)")
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
