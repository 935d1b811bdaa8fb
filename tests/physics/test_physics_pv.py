"""PV: the chain agrees with a direct pvlib ModelChain run; clipping, shading, ageing."""


import pandas as pd
import pytest

from vpp.physics import pv


@pytest.fixture(scope="module")
def tmy():
    return pv.load_tmy3("723170TYA.CSV")


def _modelchain_energy_kwh(spec, weather):
    import pvlib
    from pvlib.modelchain import ModelChain

    system = pvlib.pvsystem.PVSystem(
        surface_tilt=spec.surface_tilt, surface_azimuth=spec.surface_azimuth,
        module_parameters=spec.module_parameters(),
        inverter_parameters=spec.inverter_parameters(),
        temperature_model_parameters=spec.temperature_parameters(),
        modules_per_string=spec.modules_per_string,
        strings_per_inverter=spec.strings_per_inverter, albedo=spec.albedo)
    loc = pvlib.location.Location(spec.latitude, spec.longitude, altitude=spec.altitude_m)
    mc = ModelChain(system, loc, aoi_model="physical", spectral_model="no_loss",
                    transposition_model="haydavies", temperature_model="sapm")
    mc.run_model(weather)
    return float(mc.results.ac.clip(lower=0.0).sum()) / 1000.0 * spec.inverter_count


@pytest.mark.parametrize("strings", [2, 3])
def test_annual_energy_matches_pvlib_modelchain(tmy, strings):
    weather, meta = tmy
    spec = pv.PVSystemSpec(meta["latitude"], meta["longitude"], meta["altitude"],
                           strings_per_inverter=strings)
    res = pv.simulate(spec, weather)
    assert len(res.ac_kw) == 8760
    ours = res.energy_kwh()
    ref = _modelchain_energy_kwh(spec, weather)
    assert ours == pytest.approx(ref, rel=0.01)
    # About 1,500 kWh per kWp a year in Greensboro, NC.
    kwp = 0.22 * 7 * strings
    assert 1300 < ours / kwp < 1700


def test_inverter_clips_at_its_rating(tmy):
    weather, meta = tmy
    spec = pv.PVSystemSpec(meta["latitude"], meta["longitude"], meta["altitude"],
                           strings_per_inverter=4)  # 6.2 kWp on a 3 kW inverter
    res = pv.simulate(spec, weather)
    paco_kw = float(spec.inverter_parameters()["Paco"]) / 1000.0
    assert res.ac_kw.max() == pytest.approx(paco_kw, rel=1e-6)
    assert res.clipped.sum() > 100
    assert (res.dc_kw[res.clipped] > paco_kw).all()


def test_pvgis_weather_shading_and_degradation():
    weather, meta = pv.load_pvgis_tmy()
    assert len(weather) == 8760 and weather["ghi"].mean() == pytest.approx(163.9, abs=0.1)
    base = pv.PVSystemSpec(meta["latitude"], meta["longitude"], meta["altitude"])
    e0 = pv.simulate(base, weather).energy_kwh()
    assert 1200 < e0 / 3.08 < 1700
    # A 20° wall across the southern sky blocks much of the winter beam.
    shaded = pv.PVSystemSpec(45.0, 8.0, meta["altitude"],
                             horizon_profile=((0.0, 0.0), (90.0, 0.0), (100.0, 20.0),
                                              (260.0, 20.0), (270.0, 0.0)))
    e_shaded = pv.simulate(shaded, weather).energy_kwh()
    assert 0.5 * e0 < e_shaded < 0.95 * e0
    aged = pv.PVSystemSpec(45.0, 8.0, meta["altitude"], degradation_per_year=0.01, age_years=10)
    e_aged = pv.simulate(aged, weather).energy_kwh()
    assert e_aged == pytest.approx(e0 * 0.99 ** 10.5, rel=0.01)


def test_clear_sky_when_no_weather():
    spec = pv.PVSystemSpec(45.0, 8.0, 200.0)
    times = pd.date_range("2020-06-21", periods=24, freq="1h", tz="Etc/GMT-1")
    res = pv.simulate(spec, times=times)
    assert "clear-sky" in res.weather_source
    assert res.ac_kw.iloc[0] == 0.0 and res.ac_kw.max() > 2.0


def test_plant_device_curtails():
    plant = pv.PVPlant([0.0, 2.0, 3.0], profile_dt_h=1.0)
    assert plant.step(5.0, 1.0).power_kw == 0.0
    s = plant.step(1.5, 1.0)
    assert s.power_kw == 1.5 and s.available_kw == 2.0
    f = plant.flexibility(2, 1.0)
    assert f.p_max_kw == (3.0, 0.0) and f.p_min_kw == (0.0, 0.0)
    assert plant.curtailed_kwh == pytest.approx(0.5)


def test_bad_spec_names_the_field():
    with pytest.raises(ValueError, match=r"pv\.surface_tilt"):
        pv.PVSystemSpec(45.0, 8.0, surface_tilt=120.0)
    with pytest.raises(ValueError, match=r"pv\.module"):
        pv.PVSystemSpec(45.0, 8.0, module="nope").module_parameters()
    with pytest.raises(ValueError, match=r"pv\.available_kw\[1\]"):
        pv.PVPlant([1.0, -1.0])
