"""The two readings of a droop's deadband, by hand: a line through nominal with the
deadband as an insensitivity (the usual FCR characteristic), or a ramp from the deadband's
edge (GB Dynamic Containment's own shape)."""

from __future__ import annotations

import pytest

from vpp.coordination.frequency import presets
from vpp.coordination.frequency.curves import DroopCurve
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.coordination.frequency.specs import DroopSpec


def _kw(service, f_hz, contracted_kw=1000.0):
    rule = SiteFrequencyRule(f0_hz=50.0, service=service, contracted_kw=contracted_kw)
    return rule.decide(0.0, f_hz)


def test_ce_fcr_gives_75_kw_of_1000_at_15_mhz_and_the_edge_reading_26():
    # through nominal: 15 mHz / 200 mHz * 1,000 kW = 75 kW
    assert _kw(presets.service("ce-fcr", 50.0), 49.985) == pytest.approx(75.0)
    # from the deadband's edge: (15 - 10) / (200 - 10) * 1,000 kW = 26.3 kW
    assert _kw(presets.service("ce-fcr-deadband", 50.0), 49.985) == pytest.approx(
        5.0 / 190.0 * 1000.0)
    # over-frequency absorbs, symmetrically
    assert _kw(presets.service("ce-fcr", 50.0), 50.1) == pytest.approx(-500.0)
    assert _kw(presets.service("ce-fcr-deadband", 50.0), 50.1) == pytest.approx(
        -90.0 / 190.0 * 1000.0)


@pytest.mark.parametrize("deviation_mhz, through_nominal, from_edge", [
    (0.0, 0.0, 0.0),
    (10.0, 0.0, 0.0),                     # on the deadband's edge: still inside
    (10.5, 52.5, 5.0 / 1900.0 * 1000.0),  # just past it: a step of 5 % in the first reading
    (100.0, 500.0, 900.0 / 1900.0 * 1000.0),
    (200.0, 1000.0, 1000.0),
    (350.0, 1000.0, 1000.0),
])
def test_both_readings_by_hand(deviation_mhz, through_nominal, from_edge):
    f = 50.0 - deviation_mhz / 1000.0
    nominal = DroopSpec(f0_hz=50.0, deadband_hz=0.010, full_hz=0.200, ramp_from="nominal")
    edge = DroopSpec(f0_hz=50.0, deadband_hz=0.010, full_hz=0.200, ramp_from="deadband")
    assert DroopCurve(nominal).fraction(f) * 1000.0 == pytest.approx(through_nominal)
    assert DroopCurve(edge).fraction(f) * 1000.0 == pytest.approx(from_edge)


def test_a_knee_in_either_reading():
    # GB DC's shape (0.015 Hz deadband, 5 % at 0.2 Hz, 100 % at 0.5 Hz) at 0.1 Hz low:
    # from the edge (the preset, as NGESO specifies): 0.05 * (0.1 - 0.015) / (0.2 - 0.015)
    dc = DroopCurve(presets.service("gb-dc", 50.0))
    assert dc.spec.ramp_from == "deadband"
    assert dc.fraction(49.9) == pytest.approx(0.05 * 0.085 / 0.185)
    # through nominal: 0.05 * 0.1 / 0.2; beyond the knee the same line to 100 % at 0.5 Hz
    nominal = DroopCurve(DroopSpec(f0_hz=50.0, deadband_hz=0.015, knee_hz=0.2,
                                   knee_fraction=0.05, full_hz=0.5, ramp_from="nominal"))
    assert nominal.fraction(49.9) == pytest.approx(0.025)
    assert nominal.fraction(49.985) == 0.0
    assert nominal.fraction(49.65) == pytest.approx(dc.fraction(49.65))


def test_the_field_is_checked_by_name():
    import msgspec

    with pytest.raises(msgspec.ValidationError, match="ramp_from"):
        msgspec.convert({"type": "droop", "f0_hz": 50.0, "deadband_hz": 0.01,
                         "full_hz": 0.2, "ramp_from": "edge"}, DroopSpec)
