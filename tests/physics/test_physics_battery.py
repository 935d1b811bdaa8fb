"""Battery: no energy is created, limits hold, heat derates, parameters are checked."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.physics.battery import Battery, BatteryParams
from vpp.physics.battery_thermal import ThermalParams
from vpp.physics.flexibility import Device, Flexibility

setpoints = st.lists(st.floats(min_value=-200.0, max_value=200.0, allow_nan=False),
                     min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(setpoints, st.floats(0.5, 1.0), st.floats(0.5, 1.0), st.sampled_from([0.25, 1.0, 1 / 60]),
       st.floats(0.0, 1.0))
def test_no_energy_is_created_and_limits_hold(seq, eta_c, eta_d, dt_h, soc_init):
    p = BatteryParams(capacity_kwh=100.0, p_charge_max_kw=40.0, p_discharge_max_kw=60.0,
                      eta_c=eta_c, eta_d=eta_d, soc_min=0.0, soc_max=1.0, soc_init=soc_init,
                      c_rate_max=0.5)
    b = Battery(p)
    e0 = b.energy_kwh
    e_in = e_out = 0.0
    for sp in seq:
        s = b.step(sp, dt_h)
        assert -40.0 * (1 + 1e-12) <= s.power_kw <= 50.0 * (1 + 1e-12)  # c-rate 0.5 -> 50 kW
        assert -1e-9 <= s.soc <= 1.0 + 1e-9
        if sp >= 0:
            assert 0.0 <= s.power_kw <= sp + 1e-12
        else:
            assert sp - 1e-12 <= s.power_kw <= 0.0
        if s.power_kw > 0:
            e_out += s.power_kw * dt_h
        else:
            e_in -= s.power_kw * dt_h
    assert e_out <= e_in * eta_c * eta_d + e0 * eta_d + 1e-9
    assert e_out <= e_in * eta_c * eta_d + e0 + 1e-9
    # Stored energy balances exactly.
    assert math.isclose(b.energy_kwh, e0 + e_in * eta_c - e_out / eta_d, abs_tol=1e-7)


def test_round_trip_efficiency_exact():
    b = Battery(BatteryParams(10.0, 5.0, 5.0, eta_c=0.9, eta_d=0.8, soc_min=0.0, soc_max=1.0,
                              soc_init=0.0))
    b.step(-5.0, 1.0)
    assert b.energy_kwh == pytest.approx(4.5)
    out = 0.0
    for _ in range(10):
        out += b.step(5.0, 1.0).power_kw
    assert out == pytest.approx(4.5 * 0.8)
    assert b.soc == pytest.approx(0.0, abs=1e-12)


def test_soc_limits_clip_setpoint_and_report_it():
    b = Battery(BatteryParams(10.0, 100.0, 100.0, eta_c=1.0, eta_d=1.0, soc_min=0.2,
                              soc_max=0.8, soc_init=0.5))
    s = b.step(100.0, 1.0)
    assert s.power_kw == pytest.approx(3.0) and s.limited and s.soc == pytest.approx(0.2)
    s = b.step(-100.0, 1.0)
    assert s.power_kw == pytest.approx(-6.0) and s.soc == pytest.approx(0.8)


def test_thermal_heats_from_losses_and_derates():
    th = ThermalParams(thermal_capacity_kj_per_k=6000.0, thermal_resistance_k_per_kw=5.0,
                       t_ambient_c=40.0, t_init_c=40.0, derate_start_c=45.0, t_max_c=55.0)
    b = Battery(BatteryParams(1000.0, 500.0, 500.0, eta_c=0.9, eta_d=0.9, soc_min=0.0,
                              soc_max=1.0, soc_init=1.0, thermal=th))
    states = [b.step(500.0, 1 / 60) for _ in range(240)]
    # Steady state would be 40 + 5 K/kW * 55.6 kW: far above t_max, so derating kicks in.
    assert states[-1].temperature_c > 45.0
    assert states[-1].derate < 1.0
    assert states[-1].power_kw < 500.0
    assert all(s.temperature_c <= 55.0 + 0.5 for s in states)
    # Settles where heat balances: losses (1/eta_d - 1) * P = (T - T_amb) / R, T < 55.
    p_end = states[-1].power_kw
    assert p_end == pytest.approx((states[-1].temperature_c - 40.0) / 5.0 / (1 / 0.9 - 1), rel=0.05)


def test_flexibility_bounds_and_interface():
    b = Battery(BatteryParams(100.0, 20.0, 30.0, eta_c=0.9, eta_d=0.8, soc_min=0.1,
                              soc_max=0.9, soc_init=0.5))
    assert isinstance(b, Device)
    f = b.flexibility(4, 0.5)
    assert isinstance(f, Flexibility) and f.horizon == 4
    assert f.p_min_kw == (-20.0,) * 4 and f.p_max_kw == (30.0,) * 4
    assert f.e_max_kwh[0] == pytest.approx(40.0 * 0.8)
    assert f.e_min_kwh[0] == pytest.approx(-40.0 / 0.9)


@pytest.mark.parametrize("field,kwargs", [
    ("battery.eta_c", {"eta_c": 1.2}),
    ("battery.eta_d", {"eta_d": 0.0}),
    ("battery.soc_min", {"soc_min": 0.95}),
    ("battery.capacity_kwh", {"capacity_kwh": -1.0}),
    ("battery.soc_init", {"soc_init": 0.99}),
    ("battery.c_rate_max", {"c_rate_max": 0.0}),
])
def test_bad_parameters_name_the_field(field, kwargs):
    base = dict(capacity_kwh=10.0, p_charge_max_kw=5.0, p_discharge_max_kw=5.0)
    base.update(kwargs)
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        BatteryParams(**base)


def test_bad_time_step_names_the_field():
    b = Battery(BatteryParams(10.0, 5.0, 5.0))
    with pytest.raises(ValueError, match="battery.dt_h"):
        b.step(1.0, 0.0)
    with pytest.raises(ValueError, match="battery.horizon"):
        b.flexibility(0, 1.0)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(min_value=-80.0, max_value=80.0, allow_nan=False),
                min_size=10, max_size=120))
def test_no_energy_is_created_with_heat_and_fast_ageing(seq):
    from vpp.physics.battery import DegradationParams

    p = BatteryParams(capacity_kwh=100.0, p_charge_max_kw=50.0, p_discharge_max_kw=50.0,
                      eta_c=0.93, eta_d=0.96, soc_min=0.05, soc_max=0.95, soc_init=0.6,
                      thermal=ThermalParams(thermal_capacity_kj_per_k=500.0),
                      degradation=DegradationParams(update_interval_h=12.0,
                                                    degradation_scalar=300.0))
    b = Battery(p)
    e0 = b.energy_kwh
    e_in = e_out = 0.0
    for sp in seq:
        s = b.step(sp, 1.0)
        assert 0.05 - 1e-9 <= s.soc <= 0.95 + 1e-9 or s.capacity_kwh < 100.0
        e_out += max(s.power_kw, 0.0)
        e_in += max(-s.power_kw, 0.0)
    assert b.capacity_kwh <= 100.0
    assert e_out <= e_in * 0.93 * 0.96 + e0 + 1e-9
    assert b.energy_kwh <= b.capacity_kwh + 1e-9
