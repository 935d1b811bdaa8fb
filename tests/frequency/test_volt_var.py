"""The Volt-VAR curve and the inverter's kVA limit (hand-worked values)."""

from __future__ import annotations

import math

import msgspec
import pytest

from vpp.coordination.voltage.volt_var import CATEGORY_B, VoltVarCurve, VoltVarSpec


def test_category_b_curve_sign_and_points():
    c = VoltVarCurve(CATEGORY_B, s_kva=10.0)
    assert c.q_fraction(0.90) == pytest.approx(0.44)        # low voltage: inject vars
    assert c.q_fraction(0.95) == pytest.approx(0.22)
    assert c.q_fraction(1.00) == 0.0                         # deadband 0.98..1.02
    assert c.q_fraction(1.05) == pytest.approx(-0.22)        # high voltage: absorb
    assert c.q_fraction(1.20) == pytest.approx(-0.44)


def test_kva_limit_gives_active_power_priority():
    c = VoltVarCurve(CATEGORY_B, s_kva=10.0)
    q, cut = c.reactive_kvar(1.10, p_kw=5.0)
    assert q == pytest.approx(-4.4) and not cut
    q, cut = c.reactive_kvar(1.10, p_kw=9.5)
    assert q == pytest.approx(-math.sqrt(100 - 90.25)) and cut
    assert math.hypot(q, 9.5) == pytest.approx(10.0)
    q, cut = c.reactive_kvar(1.10, p_kw=10.0)
    assert q == 0.0 and cut


def test_bad_curve_is_refused():
    with pytest.raises(msgspec.ValidationError, match="v_pu must increase"):
        msgspec.convert({"v_pu": [0.9, 0.9, 1.0, 1.1]}, VoltVarSpec)
