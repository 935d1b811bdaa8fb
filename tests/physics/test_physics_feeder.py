"""Feeder voltages rise with PV injection at the end of a CIGRE feeder and fall with load."""

import pytest

from vpp.physics.feeder import Feeder


@pytest.fixture(scope="module")
def lv():
    return Feeder({"house_end": "Bus R18", "house_mid": "Bus R5", "shop": "Bus C12"},
                  network="cigre_lv", base_load_scale=0.3)


def test_voltage_rises_with_pv_and_falls_with_load(lv):
    base = lv.voltages({})
    pv = lv.voltages({"house_end": (30.0, 0.0)})
    more_pv = lv.voltages({"house_end": (60.0, 0.0)})
    load = lv.voltages({"house_end": (-30.0, 0.0)})
    v0, v1, v2, v3 = (r.site_vm_pu["house_end"] for r in (base, pv, more_pv, load))
    assert v3 < v0 < v1 < v2
    assert v2 - v0 > 0.01                 # tens of kW at the feeder's end move it by >1 %
    # The end of the feeder moves more than the middle.
    assert (more_pv.site_vm_pu["house_end"] - base.site_vm_pu["house_end"]
            > more_pv.site_vm_pu["house_mid"] - base.site_vm_pu["house_mid"] > 0.0)
    # The commercial feeder hangs off its own transformer and barely notices.
    assert abs(more_pv.site_vm_pu["shop"] - base.site_vm_pu["shop"]) < 0.002


def test_reactive_absorption_lowers_voltage(lv):
    p_only = lv.voltages({"house_end": (40.0, 0.0)})
    absorbing = lv.voltages({"house_end": (40.0, -20.0)})
    assert absorbing.site_vm_pu["house_end"] < p_only.site_vm_pu["house_end"]


def test_mv_feeder_and_errors():
    mv = Feeder({"farm": "Bus 11"}, network="cigre_mv", base_load_scale=0.5)
    v0 = mv.voltages({}).site_vm_pu["farm"]
    v1 = mv.voltages({"farm": (3000.0, 0.0)}).site_vm_pu["farm"]
    assert v1 > v0
    with pytest.raises(ValueError, match=r"feeder\.sites\['x'\]"):
        Feeder({"x": "Bus R99"})
    with pytest.raises(ValueError, match=r"feeder\.network"):
        Feeder({"x": "Bus 1"}, network="ieee13")
    with pytest.raises(ValueError, match=r"feeder\.injections"):
        mv.voltages({"nobody": (1.0, 0.0)})
