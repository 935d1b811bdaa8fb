"""Shared helpers of the planning tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog
from vpp.physics.battery import BatteryParams



def battery_lp_cost(storage: BatteryParams, price: np.ndarray, dt_h: float = 1.0) -> float:
    """One battery's arbitrage as a plain LP in scipy (HiGHS), built independently of the
    planning code: the deterministic optimum the stochastic plan must reach."""
    t = len(price)
    k = dt_h / 1000.0
    cum = np.tril(np.ones((t, t)))
    delta = np.hstack([storage.eta_c * dt_h * cum, -dt_h / storage.eta_d * cum])  # e - e0
    e0 = storage.e_init_kwh
    a_ub = np.vstack([delta, -delta, -delta[-1:]])
    b_ub = np.concatenate([np.full(t, storage.e_max_kwh - e0), np.full(t, e0 - storage.e_min_kwh),
                           [e0 - storage.e_final_min_kwh]])
    cost = k * np.concatenate([price + storage.degradation_eur_mwh,
                               -price + storage.degradation_eur_mwh])
    bounds = [(0, storage.p_charge_max_kw)] * t + [(0, storage.p_discharge_max_kw)] * t
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun)


@pytest.fixture
def lp_cost():
    """The independent LP of :func:`battery_lp_cost`."""
    return battery_lp_cost
