"""Photovoltaic plants with pvlib: weather to AC power, vectorised over the horizon.

The chain, step by step with pvlib's own functions: solar position; plane-of-array
irradiance (Hay-Davies transposition); a horizon shading profile that blocks the beam
and circumsolar part when the sun is behind an obstacle; the physical (Fresnel)
incidence-angle modifier; SAPM cell temperature; the CEC single-diode module model with
parameters from pvlib's bundled CEC library; annual degradation of DC power; the Sandia
inverter model with a bundled CEC inverter, which clips at the inverter's ``Paco``.
Output is AC power in kW (positive = injection); the inverter's night tare is not counted.

Weather: a DataFrame with tz-aware index and columns ``ghi``, ``dni``, ``dhi`` (W/m²),
``temp_air`` (°C), ``wind_speed`` (m/s), optionally ``pressure`` (Pa). Loaders below read
pvlib's bundled TMY3 files and the bundled PVGIS TMY; without weather a clear sky
(Ineichen, pvlib's bundled Linke turbidity) is used and the result says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vpp.physics._validate import finite, fraction, non_negative
from vpp.physics.datasets import DATA_DIR
from vpp.physics.source import VariableSource

if TYPE_CHECKING:
    import pandas as pd

PVGIS_FILE = DATA_DIR / "pvgis_tmy_45N_8E.csv"
WEATHER_COLUMNS = ("ghi", "dni", "dhi", "temp_air", "wind_speed")


@dataclass(frozen=True, slots=True)
class PVSystemSpec:
    """A fixed-tilt PV plant: location, orientation, module, inverter, ageing, shading.

    ``module`` is a column of pvlib's CEC module library and ``inverter`` of its CEC
    inverter library; ``inverter_count`` identical inverters each see
    ``strings_per_inverter`` strings of ``modules_per_string`` modules. ``horizon_profile``
    is a tuple of (azimuth°, elevation°) points of the obstacles around the plant.
    """

    latitude: float
    longitude: float
    altitude_m: float = 0.0
    surface_tilt: float = 30.0
    surface_azimuth: float = 180.0
    module: str = "Canadian_Solar_Inc__CS5P_220M"
    inverter: str = "ABB__PVI_3_0_OUTD_S_US__208V_"
    modules_per_string: int = 7
    strings_per_inverter: int = 2
    inverter_count: int = 1
    albedo: float = 0.25
    temperature_model: str = "open_rack_glass_glass"
    degradation_per_year: float = 0.0
    age_years: float = 0.0
    horizon_profile: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        lat = finite("pv.latitude", self.latitude)
        if abs(lat) > 90.0:
            raise ValueError(f"pv.latitude must be in [-90, 90], got {self.latitude!r}")
        lon = finite("pv.longitude", self.longitude)
        if abs(lon) > 180.0:
            raise ValueError(f"pv.longitude must be in [-180, 180], got {self.longitude!r}")
        finite("pv.altitude_m", self.altitude_m)
        tilt = finite("pv.surface_tilt", self.surface_tilt)
        if not 0.0 <= tilt <= 90.0:
            raise ValueError(f"pv.surface_tilt must be in [0, 90], got {self.surface_tilt!r}")
        az = finite("pv.surface_azimuth", self.surface_azimuth)
        if not 0.0 <= az <= 360.0:
            raise ValueError(
                f"pv.surface_azimuth must be in [0, 360], got {self.surface_azimuth!r}")
        for name in ("modules_per_string", "strings_per_inverter", "inverter_count"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"pv.{name} must be an int >= 1, got {v!r}")
        fraction("pv.albedo", self.albedo)
        fraction("pv.degradation_per_year", self.degradation_per_year)
        non_negative("pv.age_years", self.age_years)
        for i, point in enumerate(self.horizon_profile):
            if len(point) != 2:
                raise ValueError(f"pv.horizon_profile[{i}] must be (azimuth, elevation)")
            finite(f"pv.horizon_profile[{i}].azimuth", point[0])
            el = finite(f"pv.horizon_profile[{i}].elevation", point[1])
            if not 0.0 <= el <= 90.0:
                raise ValueError(
                    f"pv.horizon_profile[{i}].elevation must be in [0, 90], got {point[1]!r}")

    def module_parameters(self) -> "pd.Series":
        """The module's CEC parameters (raises naming ``pv.module`` if unknown)."""
        lib = _sam("CECMod")
        if self.module not in lib.columns:
            raise ValueError(f"pv.module {self.module!r} is not in pvlib's CEC module library")
        return lib[self.module]

    def inverter_parameters(self) -> "pd.Series":
        """The inverter's Sandia-model parameters (raises naming ``pv.inverter``)."""
        lib = _sam("cecinverter")
        if self.inverter not in lib.columns:
            raise ValueError(
                f"pv.inverter {self.inverter!r} is not in pvlib's CEC inverter library")
        return lib[self.inverter]

    def temperature_parameters(self) -> dict:
        """SAPM cell-temperature parameters for ``temperature_model``."""
        from pvlib.temperature import TEMPERATURE_MODEL_PARAMETERS

        table = TEMPERATURE_MODEL_PARAMETERS["sapm"]
        if self.temperature_model not in table:
            raise ValueError(f"pv.temperature_model must be one of {sorted(table)}, "
                             f"got {self.temperature_model!r}")
        return dict(table[self.temperature_model])

    @property
    def ac_rating_kw(self) -> float:
        """Inverter AC rating times the inverter count, kW."""
        return float(self.inverter_parameters()["Paco"]) * self.inverter_count / 1000.0


@functools.lru_cache(maxsize=4)
def _sam(name: str) -> "pd.DataFrame":
    import pvlib

    return pvlib.pvsystem.retrieve_sam(name)


@dataclass(frozen=True, slots=True)
class PVResult:
    """AC power (kW) per weather timestamp, plus intermediate series and provenance."""

    ac_kw: "pd.Series"
    dc_kw: "pd.Series"
    poa_global: "pd.Series"
    cell_temperature_c: "pd.Series"
    clipped: "pd.Series"
    weather_source: str

    def energy_kwh(self) -> float:
        """Energy over the whole result (kWh), from the sampling interval of the index."""
        import numpy as np

        if len(self.ac_kw) < 2:
            raise ValueError("pv result needs at least two timestamps to integrate energy")
        dt_h = float(np.median(np.diff(self.ac_kw.index.asi8))) / 3.6e12
        return float(self.ac_kw.sum()) * dt_h


def simulate(spec: PVSystemSpec, weather: "pd.DataFrame | None" = None,
             times: "pd.DatetimeIndex | None" = None) -> PVResult:
    """AC power of ``spec`` for ``weather`` (or a clear sky over ``times``)."""
    import numpy as np
    import pandas as pd
    import pvlib

    location = pvlib.location.Location(spec.latitude, spec.longitude,
                                       altitude=spec.altitude_m)
    if weather is None:
        if times is None:
            raise ValueError("pv.simulate needs weather or times (for a clear sky)")
        weather = clear_sky_weather(spec, times)
        source = "clear-sky (Ineichen); no weather given"
    else:
        missing = [c for c in WEATHER_COLUMNS if c not in weather.columns]
        if missing:
            raise ValueError(f"pv.weather is missing columns {missing}")
        source = str(weather.attrs.get("source", "weather given"))
    idx = weather.index
    kwargs = {"temperature": weather["temp_air"]}
    if "pressure" in weather.columns:
        kwargs["pressure"] = weather["pressure"]
    solpos = location.get_solarposition(idx, **kwargs)
    zen, azi = solpos["apparent_zenith"], solpos["azimuth"]
    airmass = location.get_airmass(solar_position=solpos)["airmass_relative"]
    poa = pvlib.irradiance.get_total_irradiance(
        spec.surface_tilt, spec.surface_azimuth, zen, azi,
        weather["dni"], weather["ghi"], weather["dhi"],
        dni_extra=pvlib.irradiance.get_extra_radiation(idx), airmass=airmass,
        albedo=spec.albedo, model="haydavies")
    direct = poa["poa_direct"]
    if spec.horizon_profile:
        pts = sorted(spec.horizon_profile)
        az = np.array([p[0] for p in pts]) % 360.0
        el = np.array([p[1] for p in pts])
        horizon = np.interp(azi.to_numpy() % 360.0, az, el, period=360.0)
        shaded = (90.0 - solpos["elevation"].to_numpy()) > (90.0 - horizon)
        direct = direct.where(~shaded, 0.0)
    aoi = pvlib.irradiance.aoi(spec.surface_tilt, spec.surface_azimuth, zen, azi)
    iam = pvlib.iam.physical(aoi)
    effective = direct * iam + poa["poa_diffuse"]
    temps = spec.temperature_parameters()
    t_cell = pvlib.temperature.sapm_cell(poa["poa_global"], weather["temp_air"],
                                         weather["wind_speed"], **temps)
    m = spec.module_parameters()
    il, i0, rs, rsh, nnsvth = pvlib.pvsystem.calcparams_cec(
        effective, t_cell, m["alpha_sc"], m["a_ref"], m["I_L_ref"], m["I_o_ref"],
        m["R_sh_ref"], m["R_s"], m["Adjust"])
    diode = pvlib.pvsystem.singlediode(il, i0, rs, rsh, nnsvth, method="lambertw")
    v_dc = diode["v_mp"] * spec.modules_per_string
    p_dc = diode["p_mp"] * spec.modules_per_string * spec.strings_per_inverter
    if spec.degradation_per_year > 0.0:
        years = spec.age_years + (idx - idx[0]).total_seconds().to_numpy() / (365.25 * 86400)
        p_dc = p_dc * (1.0 - spec.degradation_per_year) ** years
    inv = spec.inverter_parameters()
    ac_w = pvlib.inverter.sandia(v_dc, p_dc, inv).clip(lower=0.0).fillna(0.0)
    clipped = pd.Series(np.asarray(ac_w) >= float(inv["Paco"]) * (1 - 1e-9), index=idx)
    n = spec.inverter_count
    return PVResult(ac_w * n / 1000.0, p_dc.fillna(0.0) * n / 1000.0, poa["poa_global"],
                    t_cell, clipped, source)


def clear_sky_weather(spec: PVSystemSpec, times: "pd.DatetimeIndex",
                      temp_air: float = 20.0, wind_speed: float = 1.0) -> "pd.DataFrame":
    """Clear-sky irradiance (Ineichen) with constant temperature and wind."""
    import pvlib

    location = pvlib.location.Location(spec.latitude, spec.longitude, altitude=spec.altitude_m)
    cs = location.get_clearsky(times, model="ineichen")
    cs["temp_air"] = float(temp_air)
    cs["wind_speed"] = float(wind_speed)
    cs.attrs["source"] = "clear-sky (Ineichen)"
    return cs


def load_tmy3(name: str = "723170TYA.CSV", year: int = 1990) -> tuple["pd.DataFrame", dict]:
    """A TMY3 file bundled with pvlib, as weather plus its metadata (lat, lon, altitude)."""
    import pvlib

    folder = Path(pvlib.__file__).with_name("data")
    path = folder / name
    if path.resolve().parent != folder.resolve() or not path.is_file():
        raise ValueError(f"pv.tmy3 file {name!r} is not bundled with pvlib")
    data, meta = pvlib.iotools.read_tmy3(str(path), coerce_year=year, map_variables=True)
    weather = data[list(WEATHER_COLUMNS)].copy()
    weather["pressure"] = data["pressure"] * 100.0  # TMY3 gives mbar
    weather.attrs["source"] = f"NREL TMY3 {name} (bundled with pvlib)"
    return weather, dict(meta)


def load_pvgis_tmy(path: Path = PVGIS_FILE) -> tuple["pd.DataFrame", dict]:
    """The bundled PVGIS TMY for 45°N 8°E (PVGIS © European Union), as weather + metadata."""
    import pandas as pd
    import pvlib

    raw = pd.read_csv(path)
    idx = pd.to_datetime(raw["time(UTC)"], format="%Y%m%d:%H%M", utc=True)
    weather = pd.DataFrame({
        "ghi": raw["G(h)"].to_numpy(), "dni": raw["Gb(n)"].clip(lower=0.0).to_numpy(),
        "dhi": raw["Gd(h)"].to_numpy(), "temp_air": raw["T2m"].to_numpy(),
        "wind_speed": raw["WS10m"].to_numpy(), "pressure": raw["SP"].to_numpy(),
    }, index=pd.DatetimeIndex(idx, name="time"))
    # TMY months come from different years: put them all on one year for a clean index.
    weather.index = weather.index.map(lambda t: t.replace(year=1990))
    weather = weather.sort_index()
    weather.attrs["source"] = "PVGIS TMY 45N 8E (PVGIS (c) European Union)"
    alt = float(pvlib.location.lookup_altitude(45.0, 8.0))
    return weather, {"latitude": 45.0, "longitude": 8.0, "altitude": alt}


class PVPlant(VariableSource):
    """A PV plant as a device: curtailable down to 0 from its available AC power (kW)."""

    __slots__ = ()

    def __init__(self, available_kw, profile_dt_h: float = 1.0, cost_per_kwh: float = 0.0):
        super().__init__(available_kw, profile_dt_h, cost_per_kwh, name="pv")
