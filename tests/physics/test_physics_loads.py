"""Loads: fixed, curtailable, shiftable within its window, EV to its deadline."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.physics.flexibility import Device
from vpp.physics.loads import CurtailableLoad, EVCharger, FixedLoad, ShiftableLoad


def test_fixed_load_ignores_setpoint():
    load = FixedLoad([2.0, 3.0])
    assert isinstance(load, Device)
    assert load.step(10.0, 1.0).power_kw == -2.0
    assert load.step(-10.0, 1.0).power_kw == -3.0
    assert load.served_kwh == 5.0


def test_curtailable_load_sheds_within_its_limit():
    load = CurtailableLoad([10.0, 10.0], max_curtail_fraction=0.3, value_of_lost_load_per_kwh=2.0)
    assert load.step(0.0, 1.0).power_kw == pytest.approx(-7.0)
    assert load.step(-20.0, 1.0).power_kw == pytest.approx(-10.0)
    assert load.curtailed_kwh == pytest.approx(3.0)
    f = CurtailableLoad([10.0], 0.3, 2.0).flexibility(1, 1.0)
    assert f.p_min_kw == (-10.0,) and f.p_max_kw == (pytest.approx(-7.0),)
    assert f.cost_per_kwh == (2.0,)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-20.0, 20.0, allow_nan=False), min_size=24, max_size=24),
       st.floats(0.0, 30.0), st.integers(0, 10), st.integers(4, 12))
def test_shiftable_energy_delivered_within_window(setpoints, energy, start, length):
    p_max = 5.0
    energy = min(energy, p_max * length)
    load = ShiftableLoad(energy, p_max, float(start), float(start + length))
    for k, sp in enumerate(setpoints):
        s = load.step(sp, 1.0)
        inside = start <= k < start + length
        if not inside:
            assert s.power_kw == 0.0
        assert -p_max - 1e-9 <= s.power_kw <= 0.0
    assert load.served_kwh == pytest.approx(energy, abs=1e-6)
    assert load.shortfall_kwh == pytest.approx(0.0, abs=1e-6)


def test_shiftable_flexibility_energy_bounds():
    load = ShiftableLoad(6.0, 2.0, 1.0, 5.0)
    f = load.flexibility(6, 1.0)
    assert f.p_min_kw == (0.0, -2.0, -2.0, -2.0, -2.0, 0.0)
    # By the end of the window exactly 6 kWh must have been consumed.
    assert f.e_min_kwh[4] == pytest.approx(-6.0) and f.e_max_kwh[4] == pytest.approx(-6.0)
    # After the first window hour at most 2 kWh, at least 0.
    assert f.e_min_kwh[1] == pytest.approx(-2.0) and f.e_max_kwh[1] == pytest.approx(0.0)


def test_ev_meets_deadline_even_when_told_to_wait():
    ev = EVCharger(60.0, 11.0, arrival_h=18.0, departure_h=24.0 + 7.0,
                   energy_at_arrival_kwh=20.0, target_energy_kwh=50.0, eta_c=0.9)
    states = [ev.step(0.0, 0.25) for _ in range(4 * 31)]
    assert ev.energy_kwh == pytest.approx(50.0)
    assert ev.shortfall_kwh == 0.0
    assert ev.drawn_kwh == pytest.approx(30.0 / 0.9)
    assert all(s.power_kw == 0.0 for s in states[: 4 * 18])
    # Lazy setpoints push the charging to the last possible hours.
    charging = [k for k, s in enumerate(states) if s.power_kw < 0.0]
    assert charging[0] >= 4 * 27


def test_ev_reports_shortfall_when_deadline_is_impossible():
    ev = EVCharger(80.0, 7.0, arrival_h=0.0, departure_h=2.0, energy_at_arrival_kwh=10.0,
                   target_energy_kwh=40.0, eta_c=1.0)
    for _ in range(3):
        s = ev.step(-100.0, 1.0)
    assert ev.energy_kwh == pytest.approx(24.0)
    assert s.shortfall_kwh == pytest.approx(16.0)


@pytest.mark.parametrize("make,field", [
    (lambda: ShiftableLoad(10.0, 1.0, 5.0, 2.0), "shiftable_load.window_start_h"),
    (lambda: ShiftableLoad(100.0, 1.0, 0.0, 2.0), "shiftable_load.energy_kwh"),
    (lambda: EVCharger(50.0, 7.0, 0.0, 8.0, 10.0, 60.0), "ev.target_energy_kwh"),
    (lambda: EVCharger(50.0, 7.0, 0.0, 8.0, 10.0, 40.0, eta_c=1.5), "ev.eta_c"),
    (lambda: FixedLoad([1.0, -2.0]), r"fixed_load.demand_kw\[1\]"),
    (lambda: CurtailableLoad([1.0], max_curtail_fraction=2.0), "curtailable_load.max_curtail"),
])
def test_bad_parameters_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()
