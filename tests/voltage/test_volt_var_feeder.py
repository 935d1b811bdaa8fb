"""Volt-VAR on the pandapower CIGRE LV feeder: PV at the end of the residential feeder
lifts voltages above 1.05 pu without it and not with it; the kVA limit is respected and,
when it binds, leaves less support; at low voltage the inverters inject (the sign)."""

from __future__ import annotations

import math

import pytest

from vpp.coordination.voltage.support import solve_volt_var
from vpp.coordination.voltage.volt_var import CATEGORY_B, VoltVarCurve
from vpp.physics.feeder import Feeder

SITES = {"pv11": "Bus R11", "pv15": "Bus R15", "pv16": "Bus R16", "pv17": "Bus R17",
         "pv18": "Bus R18"}
BAND = (0.95, 1.05)


def residential(result) -> list[float]:
    v = result.bus_vm_pu
    return [float(v[b]) for b in v.index if b.startswith("Bus R")]


@pytest.fixture(scope="module")
def noon():
    """Midday: light load (10 %), 50 kW of PV at each of five houses at the feeder's end."""
    return Feeder(SITES, network="cigre_lv", base_load_scale=0.1)


def test_volt_var_keeps_voltages_in_the_band_they_leave_without_it(noon):
    p = {s: 50.0 for s in SITES}
    without = noon.voltages({s: (50.0, 0.0) for s in SITES})
    assert max(residential(without)) > BAND[1]
    result = solve_volt_var(noon, p, {s: VoltVarCurve(CATEGORY_B, 70.0) for s in SITES})
    assert result.converged and result.iterations < 20
    assert BAND[0] <= min(residential(result.feeder)) and max(residential(result.feeder)) <= BAND[1]
    # every inverter absorbs (high voltage), the far end more than the middle
    assert all(q < 0.0 for q in result.q_kvar.values())
    assert abs(result.q_kvar["pv15"]) > abs(result.q_kvar["pv11"])
    # settled: each inverter sits on its curve at its own bus voltage
    for site, q in result.q_kvar.items():
        v = result.feeder.site_vm_pu[site]
        assert q == pytest.approx(VoltVarCurve(CATEGORY_B, 70.0).q_fraction(v) * 70.0, abs=0.05)


def test_the_kva_limit_binds_and_leaves_less_support(noon):
    p = {s: 50.0 for s in SITES}
    roomy = solve_volt_var(noon, p, {s: VoltVarCurve(CATEGORY_B, 70.0) for s in SITES})
    tight = solve_volt_var(noon, p, {s: VoltVarCurve(CATEGORY_B, 51.0) for s in SITES})
    assert tight.converged and any(tight.kva_limited.values())
    for q in tight.q_kvar.values():
        assert math.hypot(50.0, q) <= 51.0 + 1e-9
    assert tight.feeder.max_vm_pu > roomy.feeder.max_vm_pu


def test_low_voltage_makes_inverters_inject():
    evening = Feeder(SITES, network="cigre_lv", base_load_scale=1.5)
    without = evening.voltages({})
    result = solve_volt_var(evening, {}, {s: VoltVarCurve(CATEGORY_B, 40.0) for s in SITES})
    assert all(q > 0.0 for q in result.q_kvar.values())
    assert min(residential(result.feeder)) > min(residential(without)) + 0.01
    # with no active power the whole rating is available: 0.44 x 40 kVA at the far end
    assert result.q_kvar["pv18"] == pytest.approx(0.44 * 40.0, abs=0.05)
