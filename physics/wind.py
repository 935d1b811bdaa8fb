"""Wind farms with windpowerlib: real turbine power curves, density, wakes, turbulence.

The chain, with windpowerlib's own functions and data: the turbine's power curve from
windpowerlib's bundled OpenEnergy-Platform turbine library; hub-height wind speed by
the logarithmic profile from the measured height closest to the hub; hub temperature
by a linear gradient; air density by the barometric formula; the farm power curve
aggregated by windpowerlib (``WindFarm.assign_power_curve``) with a wind-farm
efficiency (wake) curve and power-curve smoothing for turbulence (Gaussian, turbulence
intensity estimated from the roughness length); power from that curve with density
correction; and a cut-out above which the farm produces nothing.

Weather: windpowerlib's two-level columns ``(variable, height_m)`` with ``wind_speed``
(m/s), ``temperature`` (K), ``pressure`` (Pa) and ``roughness_length`` (m).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vpp.physics._validate import non_negative, positive
from vpp.physics.datasets import DATA_DIR
from vpp.physics.source import VariableSource

if TYPE_CHECKING:
    import pandas as pd

EXAMPLE_WEATHER = DATA_DIR / "windpowerlib_example_weather_2010.csv"
KELMARSH_CF = DATA_DIR / "kelmarsh_t2_2019_hourly_cf.csv"
WAKE_CURVES = ("dena_mean", "knorr_mean", "dena_extreme1", "dena_extreme2",
               "knorr_extreme1", "knorr_extreme2", "knorr_extreme3")


@dataclass(frozen=True, slots=True)
class WindFarmSpec:
    """A farm of ``number_of_turbines`` identical turbines of windpowerlib ``turbine_type``.

    ``wake_efficiency_curve``: one of windpowerlib's wind-farm efficiency curves, or None
    for no wake losses (always None for a single turbine). ``smoothing``: smooth the
    power curve for turbulence. ``cut_out_m_s``: hub wind speed above which output is 0
    (None = the highest speed at which the turbine's own curve is positive).
    """

    turbine_type: str = "E-126/4200"
    hub_height_m: float = 135.0
    number_of_turbines: int = 1
    wake_efficiency_curve: str | None = "dena_mean"
    smoothing: bool = True
    density_correction: bool = True
    cut_out_m_s: float | None = None

    def __post_init__(self) -> None:
        positive("wind.hub_height_m", self.hub_height_m)
        if not isinstance(self.number_of_turbines, int) or self.number_of_turbines < 1:
            raise ValueError(
                f"wind.number_of_turbines must be an int >= 1, got {self.number_of_turbines!r}")
        if self.wake_efficiency_curve is not None and self.wake_efficiency_curve not in WAKE_CURVES:
            raise ValueError(f"wind.wake_efficiency_curve must be one of {WAKE_CURVES} or None, "
                             f"got {self.wake_efficiency_curve!r}")
        if self.cut_out_m_s is not None:
            positive("wind.cut_out_m_s", self.cut_out_m_s)

    def turbine(self):
        """The windpowerlib ``WindTurbine`` (raises naming ``wind.turbine_type``)."""
        from windpowerlib import WindTurbine
        from windpowerlib.data import get_turbine_types

        types = get_turbine_types(print_out=False)
        known = types[types["has_power_curve"]]["turbine_type"].tolist()
        if self.turbine_type not in known:
            raise ValueError(f"wind.turbine_type {self.turbine_type!r} has no power curve in "
                             "windpowerlib's turbine library")
        return WindTurbine(hub_height=self.hub_height_m, turbine_type=self.turbine_type)

    def farm(self):
        """The windpowerlib ``WindFarm`` with this spec's efficiency curve."""
        import pandas as pd
        from windpowerlib import WindFarm
        from windpowerlib.wake_losses import get_wind_efficiency_curve

        fleet = pd.DataFrame({"wind_turbine": [self.turbine()],
                              "number_of_turbines": [self.number_of_turbines]})
        eff = None
        if self.wake_efficiency_curve is not None and self.number_of_turbines > 1:
            eff = get_wind_efficiency_curve(self.wake_efficiency_curve)
            # The dena curves repeat one row exactly (9.5328 m/s); windpowerlib 0.2.2
            # aligns the curve on wind speed, which pandas >= 2 refuses for duplicates.
            # Dropping an identical row changes nothing else.
            eff = eff.drop_duplicates().reset_index(drop=True)
        return WindFarm(fleet, efficiency=eff)


@dataclass(frozen=True, slots=True)
class WindResult:
    """Farm power (kW) per timestamp, hub conditions, and the farm's rating."""

    power_kw: "pd.Series"
    wind_speed_hub: "pd.Series"
    density_hub: "pd.Series"
    nominal_power_kw: float

    def energy_kwh(self) -> float:
        """Energy over the result (hourly data: the sum of kW)."""
        import numpy as np

        dt_h = float(np.median(np.diff(self.power_kw.index.asi8))) / 3.6e12
        return float(self.power_kw.sum()) * dt_h

    def capacity_factor(self) -> float:
        """Mean power over nominal power."""
        return float(self.power_kw.mean()) / self.nominal_power_kw


def _closest(weather: "pd.DataFrame", variable: str, height: float):
    heights = list(weather[variable].columns)
    if not heights:
        raise ValueError(f"wind.weather has no {variable!r} column")
    h = min(heights, key=lambda x: abs(float(x) - height))
    return weather[variable][h], float(h)


def simulate(spec: WindFarmSpec, weather: "pd.DataFrame") -> WindResult:
    """Farm power for ``weather`` (windpowerlib's two-level column layout)."""
    import numpy as np
    from windpowerlib import density, power_output, temperature, wind_speed

    for var in ("wind_speed", "temperature", "pressure", "roughness_length"):
        if var not in weather.columns.get_level_values(0):
            raise ValueError(f"wind.weather is missing the {var!r} variable")
    hub = spec.hub_height_m
    turbine = spec.turbine()
    z0 = weather["roughness_length"].iloc[:, 0]
    v, h_v = _closest(weather, "wind_speed", hub)
    v_hub = v if h_v == hub else wind_speed.logarithmic_profile(v, h_v, hub, z0)
    t, h_t = _closest(weather, "temperature", hub)
    t_hub = t if h_t == hub else temperature.linear_gradient(t, h_t, hub)
    p, h_p = _closest(weather, "pressure", hub)
    rho_hub = density.barometric(p, h_p, hub, t_hub)

    if spec.number_of_turbines == 1 and not spec.smoothing:
        curve = turbine.power_curve
    else:
        farm = spec.farm()
        wake = "wind_farm_efficiency" if farm.efficiency is not None else None
        farm.assign_power_curve(
            wake_losses_model=wake, smoothing=spec.smoothing,
            standard_deviation_method="turbulence_intensity",
            smoothing_order="wind_farm_power_curves",
            roughness_length=float(z0.mean()))
        curve = farm.power_curve
    power_w = power_output.power_curve(v_hub, curve["wind_speed"], curve["value"],
                                       density=rho_hub,
                                       density_correction=spec.density_correction)
    own = turbine.power_curve
    cut_out = spec.cut_out_m_s
    if cut_out is None:
        cut_out = float(own["wind_speed"][own["value"] > 0].max())
    power_w = power_w.where(np.asarray(v_hub) <= cut_out, 0.0).fillna(0.0)
    nominal_kw = float(turbine.nominal_power) * spec.number_of_turbines / 1000.0
    return WindResult(power_w / 1000.0, v_hub, rho_hub, nominal_kw)


def load_example_weather(path: Path = EXAMPLE_WEATHER) -> "pd.DataFrame":
    """windpowerlib's example weather for 2010 (bundled copy; origin undocumented)."""
    import pandas as pd

    df = pd.read_csv(path, index_col=0, header=[0, 1])
    df.index = pd.to_datetime(df.index, utc=True).tz_convert("Europe/Berlin")
    df.columns = pd.MultiIndex.from_tuples([(var, int(h)) for var, h in df.columns])
    return df


def load_kelmarsh_capacity_factor(path: Path = KELMARSH_CF) -> "pd.Series":
    """Measured hourly capacity factor of Kelmarsh turbine 2 (Senvion MM92), 2019."""
    import pandas as pd

    return pd.read_csv(path, index_col=0)["Power"]


def kelmarsh_comparison(weather: "pd.DataFrame | None" = None) -> dict[str, float]:
    """Modelled capacity factor of a Senvion MM92 (78.5 m hub) beside Kelmarsh's measured.

    Reported, not tuned: the weather (windpowerlib's 2010 example, a German site) is not
    Kelmarsh's, so the two only show the model is in the right range.
    """
    weather = load_example_weather() if weather is None else weather
    res = simulate(WindFarmSpec("MM92/2050", 78.5, 1, None, smoothing=True), weather)
    measured = load_kelmarsh_capacity_factor()
    return {"model_capacity_factor": res.capacity_factor(),
            "measured_capacity_factor": float(measured.mean()),
            "model_hours": float(len(res.power_kw)), "measured_hours": float(len(measured))}


class WindPlant(VariableSource):
    """A wind farm as a device: curtailable down to 0 from its available power (kW)."""

    __slots__ = ()

    def __init__(self, available_kw, profile_dt_h: float = 1.0, cost_per_kwh: float = 0.0):
        non_negative("wind.cost_per_kwh", cost_per_kwh)
        super().__init__(available_kw, profile_dt_h, cost_per_kwh, name="wind")
