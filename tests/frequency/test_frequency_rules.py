"""The frequency rules: sign, deadband, knee, limits, SoC, stages with delays and
hysteresis, curtailment, presets on 50 and 60 Hz (hand-worked values)."""

from __future__ import annotations

import msgspec
import pytest

from vpp.coordination.frequency import presets
from vpp.coordination.frequency.curves import DroopCurve
from vpp.coordination.frequency.rule import SiteFrequencyRule, store_limits
from vpp.coordination.frequency.specs import DroopSpec, SheddingSpec


def dc_rule(kw: float = 100.0) -> SiteFrequencyRule:
    return SiteFrequencyRule(f0_hz=50.0, service=presets.service("gb-dc", 50.0),
                             contracted_kw=kw)


@pytest.mark.parametrize("f0", [50.0, 60.0])
def test_sign_below_inject_above_absorb_on_50_and_60_hz(f0):
    rule = SiteFrequencyRule(f0_hz=f0, service=DroopSpec(f0_hz=f0, deadband_hz=0.02,
                                                         full_hz=0.5), contracted_kw=10.0)
    for dev in (0.03, 0.1, 0.3, 0.5, 2.0):
        assert rule.decide(0.0, f0 - dev) > 0.0
        assert rule.decide(0.0, f0 + dev) < 0.0
    assert rule.decide(0.0, f0 - 0.02) == 0.0 == rule.decide(0.0, f0 + 0.02)
    # a 50 Hz rule on 50 Hz is quiet, and a healthy 60 Hz grid is not an emergency
    assert rule.decide(0.0, f0) == 0.0


def test_gb_dynamic_containment_curve_hand_values():
    curve = DroopCurve(presets.service("gb-dc", 50.0))
    assert curve.fraction(50.015) == 0.0 and curve.fraction(49.985) == 0.0
    assert curve.fraction(49.8) == pytest.approx(0.05)           # the knee
    assert curve.fraction(49.9) == pytest.approx(0.085 * 0.05 / 0.185)
    assert curve.fraction(49.65) == pytest.approx(0.05 + 0.15 * 0.95 / 0.3)
    assert curve.fraction(49.5) == pytest.approx(1.0)
    assert curve.fraction(48.0) == 1.0
    assert curve.fraction(50.35) == pytest.approx(-(0.05 + 0.15 * 0.95 / 0.3))
    assert curve.fraction(51.0) == -1.0


def test_ce_fcr_is_a_line_through_nominal_to_200_mhz():
    curve = DroopCurve(presets.service("ce-fcr", 50.0))
    assert curve.fraction(49.99) == 0.0                          # inside the insensitivity
    assert curve.fraction(49.895) == pytest.approx(0.105 / 0.2)
    assert curve.fraction(50.2) == pytest.approx(-1.0)
    edge = DroopCurve(presets.service("ce-fcr-deadband", 50.0))  # the other reading
    assert edge.fraction(49.895) == pytest.approx(0.5)


def test_one_sided_service_answers_only_its_side():
    low = DroopCurve(DroopSpec(f0_hz=50.0, deadband_hz=0.015, full_hz=0.5, sides="low"))
    assert low.fraction(49.5) == 1.0 and low.fraction(50.5) == 0.0


def test_power_rating_and_state_of_charge_limit_the_response():
    rule = dc_rule(100.0)
    # 1 MWh store, 10 % SoC floor, holds 150 kWh above it: sustains 150 * 0.95 / 0.25 kW
    up, down = store_limits(energy_kwh=250.0, e_min_kwh=100.0, e_max_kwh=900.0, eta_c=0.95,
                            eta_d=0.95, p_discharge_kw=1000.0, p_charge_kw=80.0,
                            duration_h=rule.duration_h)
    assert up == pytest.approx(150.0 * 0.95 / 0.25) and down == 80.0
    rule.set_limits(40.0, 80.0)
    assert rule.decide(0.0, 49.0) == pytest.approx(40.0)         # capped up
    assert rule.decide(0.1, 51.0) == pytest.approx(-80.0)        # capped by the charge rating
    # an empty store gives nothing up but may still absorb
    up, down = store_limits(energy_kwh=100.0, e_min_kwh=100.0, e_max_kwh=900.0, eta_c=0.95,
                            eta_d=0.95, p_discharge_kw=500.0, p_charge_kw=500.0,
                            duration_h=0.25)
    rule.set_limits(up, down)
    assert rule.decide(0.2, 49.0) == 0.0
    assert rule.decide(0.3, 51.0) == pytest.approx(-100.0)
    # a full store gives nothing down
    up, down = store_limits(energy_kwh=900.0, e_min_kwh=100.0, e_max_kwh=900.0, eta_c=0.95,
                            eta_d=0.95, p_discharge_kw=500.0, p_charge_kw=500.0,
                            duration_h=0.25)
    rule.set_limits(up, down)
    assert rule.decide(0.4, 51.0) == 0.0 and rule.decide(0.5, 49.0) == pytest.approx(100.0)


def test_ercot_ffr_triggers_at_threshold_and_restores_with_hysteresis():
    rule = SiteFrequencyRule(f0_hz=60.0, service=presets.service("ercot-ffr", 60.0),
                             contracted_kw=50.0)
    assert rule.decide(0.0, 59.86) == 0.0
    assert rule.decide(0.1, 59.85) == 50.0                      # no intentional delay
    assert rule.decide(0.2, 59.95) == 50.0                      # above trigger, below restore
    assert rule.decide(0.3, 59.99) == 50.0                      # restore timer starts
    assert rule.decide(5.0, 59.97) == 50.0                      # dipped: the timer resets
    assert rule.decide(5.1, 59.98) == 50.0
    assert rule.decide(15.0, 60.0) == 50.0                      # 9.9 s above 59.98
    assert rule.decide(15.1, 60.0) == 0.0                       # 10 s: released
    assert [(e.kind, e.action, e.t_s) for e in rule.events] == [
        ("service", "trip", 0.1), ("service", "restore", 15.1)]
    assert rule.decide(15.2, 60.3) == 0.0                       # under-frequency service only


def test_ercot_ufls_stages_fire_after_their_delay_and_restore_with_hysteresis():
    rule = SiteFrequencyRule(f0_hz=60.0, shedding=presets.shedding("ercot-ufls", 60.0),
                             sheddable_kw=1000.0)
    assert rule.decide(0.0, 59.31) == 0.0
    assert rule.decide(0.1, 59.29) == 0.0                       # timer runs (0.1 s delay)
    assert rule.decide(0.15, 59.29) == 0.0
    assert rule.decide(0.2, 59.25) == pytest.approx(50.0)       # stage 1: 5 %
    assert rule.stages_tripped == [1]
    rule.decide(0.3, 58.45)
    assert rule.decide(0.4, 58.45) == pytest.approx(250.0)      # all 5 stages: 25 %
    assert rule.stages_tripped == [1, 2, 3, 4, 5]
    assert rule.decide(1.0, 59.5) == pytest.approx(250.0)       # recovered, below 59.8
    rule.decide(2.0, 59.85)
    assert rule.decide(11.9, 59.85) == pytest.approx(250.0)     # not yet 10 s
    assert rule.decide(12.0, 59.85) == 0.0
    trips = [(e.stage, e.t_s) for e in rule.events if e.action == "trip"]
    assert trips == [(1, 0.2), (2, 0.4), (3, 0.4), (4, 0.4), (5, 0.4)]


def test_a_short_dip_below_a_stage_does_not_trip_it():
    rule = SiteFrequencyRule(f0_hz=50.0, shedding=presets.shedding("de-ufls", 50.0),
                             sheddable_kw=800.0)
    rule.decide(0.0, 48.95)
    rule.decide(0.05, 48.95)
    assert rule.decide(0.1, 49.05) == 0.0                       # back above: timer reset
    assert rule.decide(0.15, 48.95) == 0.0
    assert rule.decide(0.25, 48.95) == pytest.approx(100.0)     # 12.5 % after 0.1 s
    assert rule.decide(0.5, 48.3) == pytest.approx(100.0)       # the others start timing
    assert rule.decide(0.6, 48.3) == pytest.approx(400.0)       # 4 x 12.5 %


def test_over_frequency_curtails_pv_and_holds_until_released():
    rule = SiteFrequencyRule(f0_hz=50.0, curtailment=presets.curtailment("lfsm-o-50", 50.0),
                             renewable_kw=200.0)
    assert rule.decide(0.0, 50.2) == 0.0
    assert rule.decide(0.1, 50.7) == pytest.approx(-0.4 * 0.5 * 200.0)
    rule.renewable_kw = 150.0                                   # less sun: frozen reference
    assert rule.decide(0.2, 50.45) == pytest.approx(-0.4 * 0.25 * 200.0)
    assert rule.decide(0.3, 50.1) == pytest.approx(-20.0)       # between release and start
    assert rule.decide(0.4, 50.04) == 0.0                       # released
    assert rule.decide(0.5, 49.0) == 0.0                        # not an under-frequency rule


def test_everything_together_adds_up():
    rule = SiteFrequencyRule(f0_hz=50.0, service=presets.service("gb-dc", 50.0),
                             contracted_kw=100.0, shedding=presets.shedding("de-ufls", 50.0),
                             sheddable_kw=400.0,
                             curtailment=presets.curtailment("lfsm-o-50", 50.0),
                             renewable_kw=100.0)
    rule.decide(0.0, 48.9)
    d = rule.decide(0.2, 48.9)
    assert rule.response_kw == 100.0 and rule.shed_kw == 50.0 and rule.curtailed_kw == 0.0
    assert d == 150.0 == rule.delta_kw


def test_presets_belong_to_their_nominal_frequency():
    with pytest.raises(ValueError, match="is for 50 Hz grids, the grid is 60 Hz"):
        presets.service("gb-dc", 60.0, "grid.sites[0].service")
    with pytest.raises(ValueError, match="unknown shedding preset 'xx'"):
        presets.shedding("xx", 50.0)
    with pytest.raises(ValueError, match="is for 60 Hz"):
        SiteFrequencyRule(f0_hz=50.0, shedding=presets.SHEDDING["ercot-ufls"],
                          sheddable_kw=1.0)


def test_bad_specs_name_the_field():
    with pytest.raises(msgspec.ValidationError, match="f0_hz must be 50 or 60"):
        msgspec.convert({"f0_hz": 55, "deadband_hz": 0.01, "full_hz": 0.2}, DroopSpec)
    with pytest.raises(msgspec.ValidationError, match=r"restore_hz .* must be above trip_hz"):
        msgspec.convert({"f0_hz": 50, "stages": [
            {"trip_hz": 49.0, "fraction": 0.1, "restore_hz": 48.0}]}, SheddingSpec)
    with pytest.raises(msgspec.ValidationError, match=r"\$\.stages\[0\]\.fraction"):
        msgspec.convert({"f0_hz": 50, "stages": [
            {"trip_hz": 49.0, "fraction": "a", "restore_hz": 49.8}]}, SheddingSpec)


def test_the_decision_path_imports_no_numpy_or_cvxpy():
    import subprocess
    import sys

    code = ("import sys, vpp.agents.frequency.site, vpp.agents.frequency.grid, "
            "vpp.coordination.frequency.rule, "
            "vpp.coordination.frequency.presets; "
            "print(sorted(m for m in ('numpy', 'cvxpy', 'pandas', 'scipy', 'pandapower') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
