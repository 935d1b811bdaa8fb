"""Battery ageing follows BLAST-Lite for the same profile; the cost is derived from it."""

import numpy as np
import pytest

from vpp.physics.battery import Battery, BatteryParams, DegradationParams
from vpp.physics.degradation import (
    BlastDegradation,
    cycle_fade_per_efc,
    degradation_cost_per_kwh,
)


def _daily_cycles(battery, days):
    t, soc, temp = [0.0], [battery.soc], [battery.temperature_c]
    for k in range(days * 24):
        sp = 20.0 if (k % 24) < 8 else (-20.0 if (k % 24) < 16 else 0.0)
        s = battery.step(sp, 1.0)
        t.append(battery.t_h * 3600.0)
        soc.append(s.soc)
        temp.append(s.temperature_c)
    return np.array(t), np.array(soc), np.array(temp)


def test_capacity_fades_at_blast_lite_rate_for_same_profile():
    import blast.models

    days = 120
    params = BatteryParams(200.0, 25.0, 25.0, eta_c=0.95, eta_d=0.95, soc_min=0.05,
                           soc_max=0.95, soc_init=0.9, ambient_c=30.0,
                           degradation=DegradationParams(update_interval_h=24.0))
    b = Battery(params)
    t, soc, temp = _daily_cycles(b, days)
    b.degradation.update()
    fade = 1.0 - b.capacity_kwh / 200.0

    profile = {"Time_s": t, "SOC": soc, "Temperature_C": temp}
    # BLAST-Lite's own life simulation with its breakpoints on our 24-h update grid
    # (it places them strictly after max_time_diff_s, hence one second less).
    ref = getattr(blast.models, params.degradation.model)()
    ref.simulate_battery_life(profile, breakpoints_max_time_diff_s=86400 - 1)
    fade_ref = 1.0 - float(ref.outputs["q"][-1])
    assert fade > 0.015                       # about 2.6 % over four months at 30 °C
    assert fade == pytest.approx(fade_ref, rel=0.01)
    assert b.degradation.resistance_fraction > 1.05
    assert b.degradation.resistance_fraction == pytest.approx(float(ref.outputs["r"][-1]),
                                                              rel=0.005)
    # With BLAST-Lite's default breakpoints (every 25 h here) the chunks differ a little.
    ref_default = getattr(blast.models, params.degradation.model)()
    ref_default.simulate_battery_life(profile)
    assert fade == pytest.approx(1.0 - float(ref_default.outputs["q"][-1]), rel=0.05)
    # Cycling makes it fade faster than resting at the same temperature.
    rest = Battery(BatteryParams(200.0, 25.0, 25.0, soc_init=0.5, ambient_c=30.0,
                                 degradation=DegradationParams()))
    for _ in range(days * 24):
        rest.step(0.0, 1.0)
    rest.degradation.update()
    assert rest.capacity_kwh > b.capacity_kwh


def test_degradation_cost_follows_cycle_fade():
    fade = cycle_fade_per_efc()
    assert 1e-5 < fade < 1e-3
    cost = degradation_cost_per_kwh(300.0, 0.8)
    assert cost == pytest.approx(300.0 * fade / (2 * 0.2))
    b = Battery(BatteryParams(10.0, 5.0, 5.0, degradation=DegradationParams(capex_per_kwh=300.0)))
    f = b.flexibility(3, 1.0)
    assert f.cost_per_kwh == (pytest.approx(cost),) * 3


def test_unknown_model_names_the_field():
    with pytest.raises(ValueError, match="battery.degradation.model"):
        BlastDegradation("NoSuchCell")
