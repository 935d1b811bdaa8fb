"""``vpp bench mpc``: receding-horizon control of a battery on a real DE-LU price week.

A 2 MWh / 500 kW battery (efficiencies 0.95, 2 EUR/MWh wear) is controlled for N hourly
steps from 4 March 2019: each step the price forecast is updated, the window LP (built
once with cvxpy parameters) is re-solved with HiGHS and its first step is applied to the
physics battery, paid at the real price. The baseline in the same run is perfect
foresight: one LP over all N steps with the real prices. ``step_ms_p50`` is the median
time of one MPC step (forecast into parameters plus solve).
"""

from __future__ import annotations

import numpy as np
from vpp.coordination.planning.history import load_history
from vpp.coordination.planning.mpc import day_ahead_forecast, noisy_forecast, run_mpc
from vpp.physics.battery import BatteryParams

FORECASTS = ("noisy", "day-ahead")


def run(steps: int = 168, horizon: int = 36, forecast: str = "noisy", sigma: float = 10.0,
        start_day: int = 62, seed: int = 0) -> dict:
    """Close the loop for ``steps`` hours; compare with perfect foresight."""
    if forecast not in FORECASTS:
        raise ValueError(f"forecast must be one of {', '.join(FORECASTS)}, got {forecast!r}")
    h = load_history()
    first = 1 + 24 * start_day
    if steps < 1 or first + steps > h.hours:
        raise ValueError(f"steps must be in 1..{h.hours - first}, got {steps}")
    prices = h.price_eur_mwh[first:first + steps]
    make = (noisy_forecast(prices, sigma, seed) if forecast == "noisy"
            else day_ahead_forecast(prices))
    storage = BatteryParams(2000.0, 500.0, 500.0, degradation_eur_mwh=2.0)
    result = run_mpc(prices, storage, horizon, forecast=make)
    return {
        "steps": steps,
        "step_ms_p50": round(float(np.percentile(result.step_ms, 50)), 3),
        "closed_loop_cost": round(result.closed_loop_cost_eur, 2),
        "perfect_foresight_cost": round(result.perfect_foresight_cost_eur, 2),
        "gap": round(result.gap, 5),
        "step_ms_p99": round(float(np.percentile(result.step_ms, 99)), 3),
        "horizon": horizon,
        "forecast": forecast if forecast != "noisy" else f"noisy (sigma {sigma} EUR/MWh at 24 h)",
        "final_energy_kwh": round(result.final_energy_kwh, 3),
        "perfect_final_energy_kwh": round(result.perfect_final_energy_kwh, 3),
        "start": str(h.timestamp_utc[first]),
        "currency": "EUR",
    }
