"""``limits_now(dt_h)``, a device's per-step bounds as numbers, equals the bounds of its
``flexibility(1, dt_h)`` in every state a run takes it through (a site's offer uses it),
and it refuses a bad step length as ``flexibility`` does."""

from __future__ import annotations

import pytest
from vpp.agents.dispatch.devices import SiteDevice
from vpp.physics.battery import Battery, BatteryParams
from vpp.physics.battery_thermal import ThermalParams
from vpp.physics.flexible import FlexibleDevice


def _bounds(model, dt_h):
    _, p_min, p_max, e_min, e_max, _ = model.flexibility(1, dt_h)
    return (p_min[0], p_max[0], None if e_min is None else e_min[0],
            None if e_max is None else e_max[0])


def _devices():
    thermal = ThermalParams(thermal_capacity_kj_per_k=600.0, thermal_resistance_k_per_kw=5.0,
                            t_ambient_c=25.0, t_init_c=30.0, derate_start_c=31.0, t_max_c=40.0)
    return [
        Battery(BatteryParams(200.0, 50.0, 40.0, eta_c=0.93, eta_d=0.91, soc_min=0.1,
                              soc_max=0.95, soc_init=0.3, c_rate_max=0.2, thermal=thermal)),
        Battery(BatteryParams(10.0, 100.0, 100.0, soc_init=0.9)),
        FlexibleDevice("gen", -20.0, 150.0, 0.05, availability=[1.0, 0.4, 0.0, 0.75]),
    ]


@pytest.mark.parametrize("index", range(3))
def test_limits_now_equals_flexibility_over_a_run(index):
    model = _devices()[index]
    setpoints = [60.0, -80.0, 35.0, 200.0, -5.0, 0.0, 120.0, -150.0] * 3
    seen = set()
    for k, setpoint in enumerate(setpoints):
        dt_h = 0.25 if k % 3 else 0.5
        got = model.limits_now(dt_h)
        assert got == _bounds(model, dt_h), k
        seen.add(got)
        model.step(setpoint, dt_h)
    assert len(seen) > 3  # the state moved the bounds


def test_a_site_device_offers_the_same_with_and_without_limits_now():
    class Plain:  # the same model seen through flexibility only
        def __init__(self, inner):
            self.inner = inner

        def flexibility(self, horizon, dt_h):
            return self.inner.flexibility(horizon, dt_h)

    for model in _devices():
        fast, plain = SiteDevice("d", model, 50.0, -3.0), SiteDevice("d", Plain(model), 50.0, -3.0)
        reserved = SiteDevice("r", model, 50.0, reserved_up_kw=10.0, reserved_energy_kwh=2.5)
        plain_reserved = SiteDevice("r", Plain(model), 50.0, reserved_up_kw=10.0,
                                    reserved_energy_kwh=2.5)
        for setpoint in (30.0, -60.0, 80.0, 0.0):
            assert fast.offer(0.25) == plain.offer(0.25)
            assert reserved.offer(0.25) == plain_reserved.offer(0.25)
            model.step(setpoint, 0.25)


@pytest.mark.parametrize("index", range(3))
def test_limits_now_refuses_a_bad_step_length(index):
    with pytest.raises(ValueError, match="dt_h must be > 0"):
        _devices()[index].limits_now(0.0)
