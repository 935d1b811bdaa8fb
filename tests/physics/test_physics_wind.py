"""Wind: the chain agrees with windpowerlib's own model chains; cut-out, Kelmarsh report."""

import logging

import numpy as np
import pandas as pd
import pytest

from vpp.physics import wind


@pytest.fixture(scope="module")
def weather():
    return wind.load_example_weather()


def test_single_turbine_matches_windpowerlib_modelchain(weather):
    from windpowerlib import ModelChain, WindTurbine

    spec = wind.WindFarmSpec("E-126/4200", 135.0, 1, None, smoothing=False)
    ours = wind.simulate(spec, weather)
    turbine = WindTurbine(hub_height=135.0, turbine_type="E-126/4200")
    ref = ModelChain(turbine, density_correction=True).run_model(weather).power_output
    assert ours.energy_kwh() == pytest.approx(float(ref.sum()) / 1000.0, rel=0.01)
    # windpowerlib's own example gives about 11.6 GWh and a capacity factor of 0.315.
    assert ours.energy_kwh() == pytest.approx(11.6e6, rel=0.01)
    assert ours.capacity_factor() == pytest.approx(0.315, abs=0.005)


def test_wind_farm_matches_turbine_cluster_modelchain(weather):
    from windpowerlib import TurbineClusterModelChain, WindFarm, WindTurbine
    from windpowerlib.wake_losses import get_wind_efficiency_curve

    spec = wind.WindFarmSpec("E-126/4200", 135.0, 6, "dena_mean", smoothing=True)
    ours = wind.simulate(spec, weather)
    turbine = WindTurbine(hub_height=135.0, turbine_type="E-126/4200")
    eff = get_wind_efficiency_curve("dena_mean").drop_duplicates().reset_index(drop=True)
    farm = WindFarm(pd.DataFrame({"wind_turbine": [turbine], "number_of_turbines": [6]}),
                    efficiency=eff)
    ref = TurbineClusterModelChain(farm, wake_losses_model="wind_farm_efficiency",
                                   smoothing=True, density_correction=True).run_model(weather)
    assert ours.energy_kwh() == pytest.approx(float(ref.power_output.sum()) / 1000.0, rel=0.01)
    # Wakes cost energy: six turbines make less than six times one.
    single = wind.simulate(wind.WindFarmSpec("E-126/4200", 135.0, 1, None), weather)
    assert 0.85 * 6 * single.energy_kwh() < ours.energy_kwh() < 0.99 * 6 * single.energy_kwh()


def test_density_correction_and_cut_out():
    idx = pd.date_range("2010-01-01", periods=4, freq="1h", tz="UTC")
    cols = pd.MultiIndex.from_tuples([("wind_speed", 100), ("temperature", 100),
                                      ("pressure", 0), ("roughness_length", 0)])
    w = pd.DataFrame([[10.0, 288.15, 101325.0, 0.1], [10.0, 268.15, 101325.0, 0.1],
                      [24.0, 288.15, 101325.0, 0.1], [30.0, 288.15, 101325.0, 0.1]],
                     index=idx, columns=cols)
    res = wind.simulate(wind.WindFarmSpec("E-126/4200", 100.0, 1, None, smoothing=False), w)
    p = res.power_kw.to_numpy()
    assert p[1] > p[0] > 0.0                   # cold, dense air makes more power
    assert res.density_hub.iloc[1] > res.density_hub.iloc[0]
    assert p[2] > 0.0 and p[3] == 0.0          # above cut-out: nothing
    res = wind.simulate(wind.WindFarmSpec("E-126/4200", 100.0, 1, None, smoothing=False,
                                          cut_out_m_s=20.0), w)
    assert res.power_kw.iloc[2] == 0.0


def test_kelmarsh_capacity_factor_is_reported(weather, caplog):
    report = wind.kelmarsh_comparison(weather)
    logging.getLogger(__name__).info("Kelmarsh comparison: %s", report)
    assert report["measured_capacity_factor"] == pytest.approx(0.329, abs=0.001)
    assert 0.15 < report["model_capacity_factor"] < 0.45
    assert report["model_hours"] == report["measured_hours"] == 8760


def test_wind_plant_device_and_errors():
    plant = wind.WindPlant(np.array([100.0, 50.0]))
    assert plant.step(80.0, 1.0).power_kw == 80.0
    assert plant.flexibility(2, 1.0).p_max_kw == (50.0, 0.0)
    with pytest.raises(ValueError, match=r"wind\.turbine_type"):
        wind.WindFarmSpec("NoSuchTurbine").turbine()
    with pytest.raises(ValueError, match=r"wind\.wake_efficiency_curve"):
        wind.WindFarmSpec(wake_efficiency_curve="nope")
    with pytest.raises(ValueError, match=r"wind\.number_of_turbines"):
        wind.WindFarmSpec(number_of_turbines=0)
