"""Model predictive control of a battery: plan over a receding horizon, apply one step.

:class:`MpcController` builds the horizon LP once with cvxpy parameters (DPP: price
forecast, initial energy, per-step power limits and energy floor) and re-solves it each
step with HiGHS. :func:`run_mpc` closes the loop on a real price series: each step the
forecast is updated, the plan's first step is sent to a :class:`vpp.physics.battery.Battery`
(which enforces its own limits), and the delivered power is paid at the real price. The
perfect-foresight cost is the same LP over the whole series with the real prices.

Near the end of the series the window runs past it: there the power limits are zero and
the end-of-horizon energy floor sits at the series' last step, so the closed loop ends
with at least the energy the perfect-foresight plan must keep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
from vpp.coordination.planning.cvar import PlanningError, solve_stochastic
from vpp.coordination.planning.highs import quiet_highs
from vpp.coordination.planning.model import StochasticProblem
from vpp.coordination.planning.scenarios import deterministic
from vpp.physics.battery import Battery, BatteryParams

Forecast = Callable[[int, int], np.ndarray]
"""``forecast(step, horizon)``: the prices (EUR/MWh) expected for steps ``step .. step +
horizon - 1`` as known at ``step``."""


class MpcController:
    """The horizon LP of one battery, built once and re-solved warm each step.

    Args:
        storage: the battery's ratings (its end-of-horizon minimum applies at the end).
        horizon: the number of steps planned each time.
        dt_h: the step length in hours.
        solver: the cvxpy solver (HiGHS by default).
    """

    def __init__(self, storage: BatteryParams, horizon: int, dt_h: float = 1.0,
                 solver: str = "HIGHS") -> None:
        if not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
        self.storage, self.horizon, self.dt_h, self.solver = storage, horizon, dt_h, solver
        st, k = storage, dt_h / 1000.0
        self.price = cp.Parameter(horizon, name="price_forecast_eur_mwh")
        self.e0 = cp.Parameter(nonneg=True, name="e0_kwh")
        self.c_max = cp.Parameter(horizon, nonneg=True, name="charge_max_kw")
        self.d_max = cp.Parameter(horizon, nonneg=True, name="discharge_max_kw")
        self.floor = cp.Parameter(horizon, nonneg=True, name="energy_floor_kwh")
        self.c = cp.Variable(horizon, nonneg=True, name="charge_kw")
        self.d = cp.Variable(horizon, nonneg=True, name="discharge_kw")
        energy = self.e0 + cp.cumsum(st.eta_c * dt_h * self.c - (dt_h / st.eta_d) * self.d)
        cost = k * (self.price @ (self.c - self.d)
                    + st.degradation_eur_mwh * cp.sum(self.c + self.d))
        self.problem = cp.Problem(cp.Minimize(cost), [
            self.c <= self.c_max, self.d <= self.d_max, energy <= st.e_max_kwh,
            energy >= self.floor])
        quiet_highs()

    def plan(self, forecast_eur_mwh: Sequence[float], e0_kwh: float,
             steps_left: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Charge and discharge (kW) over the window from stored energy ``e0_kwh``.

        ``steps_left`` (default: the whole window) is how many steps remain before the
        end of the run; the window's steps after it are idle and the end-of-horizon
        minimum applies at its last step.
        """
        st, h = self.storage, self.horizon
        f = np.asarray(forecast_eur_mwh, dtype=float)
        if f.shape != (h,) or not np.isfinite(f).all():
            raise ValueError(f"forecast_eur_mwh must be {h} finite values, got shape {f.shape}")
        live = h if steps_left is None else max(1, min(h, int(steps_left)))
        on = np.arange(h) < live
        self.price.value = f
        self.e0.value = max(float(e0_kwh), 0.0)
        self.c_max.value = np.where(on, st.p_charge_max_kw, 0.0)
        self.d_max.value = np.where(on, st.p_discharge_max_kw, 0.0)
        floor = np.full(h, st.e_min_kwh)
        floor[live - 1:] = max(st.e_final_min_kwh, st.e_min_kwh)
        # never ask for more than the start energy can reach (the floor must stay feasible)
        reach = self.e0.value + st.eta_c * dt_cumsum(self.c_max.value, self.dt_h)
        self.floor.value = np.minimum(floor, np.maximum(reach, 0.0))
        self.problem.solve(solver=self.solver)
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise PlanningError(f"the MPC window LP is {self.problem.status}")
        return np.maximum(self.c.value, 0.0), np.maximum(self.d.value, 0.0)


def dt_cumsum(power_kw: np.ndarray, dt_h: float) -> np.ndarray:
    """Cumulative energy (kWh) of a power profile."""
    return np.cumsum(power_kw) * dt_h


@dataclass(frozen=True)
class MpcResult:
    """A closed-loop run: costs in EUR (negative = earnings), powers in kW, times in ms."""

    closed_loop_cost_eur: float
    perfect_foresight_cost_eur: float
    power_kw: np.ndarray
    energy_kwh: np.ndarray
    step_ms: np.ndarray
    final_energy_kwh: float
    perfect_final_energy_kwh: float

    @property
    def gap(self) -> float:
        """Closed-loop earnings short of perfect foresight, as a fraction of the latter."""
        return ((self.closed_loop_cost_eur - self.perfect_foresight_cost_eur)
                / max(abs(self.perfect_foresight_cost_eur), 1e-9))


def day_ahead_forecast(prices_eur_mwh: Sequence[float], publish_hour: int = 12) -> Forecast:
    """What a trader knows of day-ahead prices: the series starts at 00:00 of a day; the
    next day's prices are published at ``publish_hour`` each day; beyond the known prices
    the forecast repeats the last known day (persistence)."""
    prices = np.asarray(prices_eur_mwh, dtype=float)

    def forecast(step: int, horizon: int) -> np.ndarray:
        day, hour = divmod(step, 24)
        known_end = 24 * (day + (2 if hour >= publish_hour else 1))
        known_end = min(known_end, len(prices))
        last_day = prices[max(known_end - 24, 0):known_end]
        out = np.empty(horizon)
        for k in range(horizon):
            t = step + k
            out[k] = prices[t] if t < known_end else last_day[(t - known_end) % len(last_day)]
        return out

    return forecast


def noisy_forecast(prices_eur_mwh: Sequence[float], sigma_eur_mwh: float,
                   seed: int = 0) -> Forecast:
    """The real prices plus a fresh Gaussian error each step whose standard deviation grows
    with lead time as ``sigma * sqrt(k / 24)`` (zero for the current step)."""
    prices = np.asarray(prices_eur_mwh, dtype=float)
    rng = np.random.default_rng(seed)

    def forecast(step: int, horizon: int) -> np.ndarray:
        idx = np.minimum(np.arange(step, step + horizon), len(prices) - 1)
        lead = np.arange(horizon)
        return prices[idx] + sigma_eur_mwh * np.sqrt(lead / 24.0) * rng.standard_normal(horizon)

    return forecast


def run_mpc(prices_eur_mwh: Sequence[float], storage: BatteryParams, horizon: int = 36, *,
            forecast: Forecast | None = None, dt_h: float = 1.0) -> MpcResult:
    """Close the loop over the real ``prices_eur_mwh`` (one per step) and compare with
    perfect foresight (see the module docstring). ``forecast`` defaults to
    :func:`day_ahead_forecast`."""
    prices = np.asarray(prices_eur_mwh, dtype=float)
    n = len(prices)
    if n < 1 or not np.isfinite(prices).all():
        raise ValueError("prices_eur_mwh must be at least one finite value")
    forecast = forecast or day_ahead_forecast(prices)
    controller = MpcController(storage, horizon, dt_h)
    battery = Battery(storage)          # the same description, simulated
    power, energy, step_ms = np.zeros(n), np.zeros(n + 1), np.zeros(n)
    energy[0] = battery.energy_kwh
    cost = 0.0
    for t in range(n):
        t0 = time.perf_counter()
        c, d = controller.plan(forecast(t, horizon), battery.energy_kwh, n - t)
        step_ms[t] = (time.perf_counter() - t0) * 1000.0
        state = battery.step(float(d[0] - c[0]), dt_h)
        power[t], energy[t + 1] = state.power_kw, state.energy_kwh
        cost += dt_h / 1000.0 * (-prices[t] * state.power_kw
                                 + storage.degradation_eur_mwh * abs(state.power_kw))
    perfect = solve_stochastic(StochasticProblem(storage, deterministic(prices, dt_h=dt_h)))
    return MpcResult(cost, perfect.expected_cost_eur, power, energy, step_ms,
                     float(energy[-1]), float(perfect.energy_kwh[-1]))
