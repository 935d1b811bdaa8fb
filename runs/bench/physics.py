"""``vpp bench physics``: the device models' speed."""

from __future__ import annotations

import statistics
import time

from vpp.runs.bench.paired import interleave


def _per_call_us(fn, n: int) -> float:
    samples = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t) / n * 1e6)
    return statistics.median(samples)


def run(pairs: int = 10) -> dict:
    """Battery step and grid-frequency step in microseconds; a year of hourly PV and wind
    in seconds, with the PV year of pvlib's own ModelChain on the same system as baseline
    (``pairs`` interleaved pairs: the ratio's median and spread); the modelled capacity factor of a Senvion MM92 beside the measured Kelmarsh turbine."""
    import warnings

    from vpp.physics import pv, wind
    from vpp.physics.battery import Battery, BatteryParams
    from vpp.physics.frequency import GridFrequency, GridParams, LossOfInfeed

    battery = Battery(BatteryParams(100.0, 50.0, 50.0))
    flip = [40.0]

    def battery_step() -> None:
        flip[0] = -flip[0]
        battery.step(flip[0], 0.25)

    grid = GridFrequency(GridParams(events=(LossOfInfeed(1.0, 1000.0),)))
    battery_us = _per_call_us(battery_step, 20_000)
    grid_us = _per_call_us(lambda: grid.step(0.0, 0.01), 20_000)

    weather, meta = pv.load_tmy3()
    spec = pv.PVSystemSpec(meta["latitude"], meta["longitude"], meta["altitude"])
    ours = pv.simulate(spec, weather)
    _modelchain_year(spec, weather)                          # warm up both

    def pv_year() -> float:
        t = time.perf_counter()
        pv.simulate(spec, weather)
        return time.perf_counter() - t

    # each PV year against pvlib's ModelChain timed beside it (:mod:`.paired`)
    pv_pairs = interleave(pv_year, lambda: _modelchain_year(spec, weather), pairs)
    wind_weather = wind.load_example_weather()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        t = time.perf_counter()
        wind.simulate(wind.WindFarmSpec(), wind_weather)
        wind_s = time.perf_counter() - t
        kelmarsh = wind.kelmarsh_comparison(wind_weather)
    return {"battery_step_us": round(battery_us, 2), "pv_year_s": round(statistics.median(pv_pairs.first), 3),
            "wind_year_s": round(wind_s, 3), "grid_step_us": round(grid_us, 2),
            "pv_modelchain_year_s": round(statistics.median(pv_pairs.second), 3),
            **pv_pairs.summary("pv_ratio_to_modelchain", digits=2),
            "pv_year_mwh": round(ours.energy_kwh() / 1e3, 3),
            # reported, not tuned: the weather is a German 2010 site, not Kelmarsh's
            "wind_mm92_model_cf": round(kelmarsh["model_capacity_factor"], 3),
            "wind_kelmarsh_measured_cf": round(kelmarsh["measured_capacity_factor"], 3)}


def _modelchain_year(spec, weather) -> float:
    """Seconds for pvlib's ModelChain on the same system and weather."""
    import pvlib

    system = pvlib.pvsystem.PVSystem(
        surface_tilt=spec.surface_tilt, surface_azimuth=spec.surface_azimuth,
        module_parameters=spec.module_parameters(), inverter_parameters=spec.inverter_parameters(),
        temperature_model_parameters=spec.temperature_parameters(),
        modules_per_string=spec.modules_per_string, strings_per_inverter=spec.strings_per_inverter)
    location = pvlib.location.Location(spec.latitude, spec.longitude, altitude=spec.altitude_m)
    chain = pvlib.modelchain.ModelChain(system, location, aoi_model="physical",
                                        spectral_model="no_loss")
    t = time.perf_counter()
    chain.run_model(weather)
    return time.perf_counter() - t
