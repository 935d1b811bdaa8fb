"""Every device offers the same two calls and returns well-formed Flexibility."""

import pytest

from vpp.physics.battery import Battery, BatteryParams
from vpp.physics.flexibility import Device, Flexibility
from vpp.physics.loads import CurtailableLoad, EVCharger, FixedLoad, ShiftableLoad
from vpp.physics.pv import PVPlant
from vpp.physics.wind import WindPlant

DEVICES = [
    lambda: Battery(BatteryParams(50.0, 20.0, 20.0)),
    lambda: PVPlant([0.0, 3.0, 5.0, 2.0]),
    lambda: WindPlant([100.0, 80.0, 0.0, 20.0]),
    lambda: FixedLoad([1.0, 2.0, 3.0, 4.0]),
    lambda: CurtailableLoad([4.0, 4.0, 4.0, 4.0], 0.5, 3.0),
    lambda: ShiftableLoad(4.0, 2.0, 1.0, 3.0),
    lambda: EVCharger(40.0, 7.0, 0.0, 4.0, 10.0, 20.0),
]


@pytest.mark.parametrize("make", DEVICES)
def test_device_interface(make):
    dev = make()
    assert isinstance(dev, Device)
    f = dev.flexibility(4, 1.0)
    assert isinstance(f, Flexibility) and f.horizon == 4 and f.dt_h == 1.0
    assert len(f.p_max_kw) == len(f.cost_per_kwh) == 4
    for lo, hi in zip(f.p_min_kw, f.p_max_kw):
        assert lo <= hi
    if f.e_min_kwh is not None:
        assert all(lo <= hi + 1e-12 for lo, hi in zip(f.e_min_kwh, f.e_max_kwh))
    # A setpoint inside the first step's bounds is delivered as asked.
    mid = 0.5 * (f.p_min_kw[0] + f.p_max_kw[0])
    s = dev.step(mid, 1.0)
    assert s.power_kw == pytest.approx(mid)
    with pytest.raises(ValueError, match=r"\.horizon"):
        dev.flexibility(0, 1.0)
