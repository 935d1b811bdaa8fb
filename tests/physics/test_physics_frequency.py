"""Grid frequency: RoCoF and settling formulas, and the sign of the VPP's effect."""


import pytest

from vpp.physics.frequency import GridFrequency, GridParams, LossOfInfeed


def _run(params, seconds, dt, vpp=lambda f: 0.0):
    g = GridFrequency(params)
    states = []
    p = 0.0
    for _ in range(int(round(seconds / dt))):
        s = g.step(p, dt)
        p = vpp(s.f_hz)
        states.append(s)
    return states


@pytest.mark.parametrize("f0", [50.0, 60.0])
def test_initial_rocof_matches_formula(f0):
    p = GridParams(f0_hz=f0, inertia_h_s=4.0, s_base_mw=20000.0,
                   events=(LossOfInfeed(1.0, 1000.0),))
    g = GridFrequency(p)
    for _ in range(100):
        s = g.step(0.0, 0.01)
    assert s.f_hz == pytest.approx(f0)
    s = g.step(0.0, 0.001)          # just after the event
    expected = -1000.0 * f0 / (2 * 4.0 * 20000.0)
    assert expected == pytest.approx(p.initial_rocof_hz_per_s(1000.0))
    assert s.rocof_hz_per_s == pytest.approx(expected, rel=0.01)
    # The first-step frequency drop agrees as a finite difference too.
    assert (s.f_hz - f0) / 0.001 == pytest.approx(expected, rel=0.01)


def test_settling_frequency_matches_droop():
    p = GridParams(f0_hz=50.0, inertia_h_s=5.0, s_base_mw=30000.0, damping_pu=1.0,
                   droop_pu=0.05, governor_time_constant_s=5.0, events=(LossOfInfeed(0.0, 1500.0),))
    states = _run(p, 120.0, 0.05)
    f_ss = 50.0 * (1 - 1500.0 / 30000.0 / (1.0 + 20.0))
    assert f_ss == pytest.approx(p.settling_frequency_hz(1500.0))
    assert states[-1].f_hz == pytest.approx(f_ss, abs=1e-4)
    nadir = min(s.f_hz for s in states)
    assert nadir < f_ss  # underdamped: the nadir lies below the settling frequency


def test_more_vpp_injection_raises_the_nadir_and_settling():
    p = GridParams(events=(LossOfInfeed(0.0, 1800.0),))
    base = _run(p, 60.0, 0.02)

    def droop_vpp(gain):
        return lambda f: -gain * (f - 50.0)  # MW: inject more when frequency is low

    with_vpp = _run(p, 60.0, 0.02, droop_vpp(1000.0))
    more_vpp = _run(p, 60.0, 0.02, droop_vpp(3000.0))
    n0, n1, n2 = (min(s.f_hz for s in r) for r in (base, with_vpp, more_vpp))
    assert n0 < n1 < n2 < 50.0
    # A constant VPP injection moves the settling frequency by the droop formula.
    const = _run(p, 150.0, 0.05, lambda f: 600.0)
    assert const[-1].f_hz == pytest.approx(p.settling_frequency_hz(1800.0, 600.0), abs=1e-4)
    assert const[-1].f_hz > base[-1].f_hz


def test_load_trip_raises_frequency():
    p = GridParams(f0_hz=60.0, events=(LossOfInfeed(0.0, -500.0),))
    states = _run(p, 5.0, 0.01)
    assert max(s.f_hz for s in states) > 60.0


def test_bad_parameters_name_the_field():
    with pytest.raises(ValueError, match=r"grid\.f0_hz"):
        GridParams(f0_hz=55.0)
    with pytest.raises(ValueError, match=r"grid\.inertia_h_s"):
        GridParams(inertia_h_s=0.0)
    with pytest.raises(ValueError, match=r"grid\.events\[0\]\.t_s"):
        GridParams(events=(LossOfInfeed(-1.0, 10.0),))
    with pytest.raises(ValueError, match=r"grid\.dt_s"):
        GridFrequency(GridParams()).step(0.0, -1.0)
