"""The rule-based plan: charge in the cheapest hours, discharge in the dearest.

No solver: a greedy over (charge step, discharge step) pairs on the expected price, best
margin first. A pair moves ``y`` kW delivered at the dear step for ``y / (eta_c * eta_d)``
kW bought at the cheap one, and is taken only when it pays after both efficiencies and the
degradation cost::

    price[j] - price[i] / (eta_c * eta_d) - degradation * (1 + 1 / (eta_c * eta_d)) > 0

Power is capped per step so that the grid limits hold in every scenario without
curtailment or shedding: charge at most ``import_max + min_s (R - L)``, discharge at most
``export_max - max_s (R - L)`` (never below zero). Each move is sized so that these power
caps and the stored-energy limits hold at every step
(a pair leaves the energy after both steps unchanged, so the end-of-horizon minimum holds
too). Before pairing, the plan buys what the end-of-horizon minimum needs beyond the
initial energy in the cheapest steps, or sells what the initial energy has beyond it in
the dearest steps when that pays. The result is feasible by construction and checked.
"""

from __future__ import annotations

import numpy as np
from vpp.coordination.planning.cvar import Plan, PlanningError, score
from vpp.coordination.planning.model import (
    StochasticProblem,
    energy_path,
    schedule_violation,
)

_EPS = 1e-9


def _power_caps(problem: StochasticProblem) -> tuple[np.ndarray, np.ndarray]:
    """Per-step charge and discharge caps (kW) that keep the grid limits in every scenario."""
    st, sc = problem.storage, problem.scenarios
    net = sc.renewable_kw - sc.load_kw
    charge = np.full(sc.horizon, st.p_charge_max_kw)
    discharge = np.full(sc.horizon, st.p_discharge_max_kw)
    if problem.import_max_kw is not None:
        charge = np.clip(problem.import_max_kw + net.min(axis=0), 0.0, charge)
    if problem.export_max_kw is not None:
        discharge = np.clip(problem.export_max_kw - net.max(axis=0), 0.0, discharge)
    return charge, discharge


def _charge_for_end(problem: StochasticProblem, price: np.ndarray, c: np.ndarray,
                    d: np.ndarray, c_cap: np.ndarray) -> None:
    st, dt = problem.storage, problem.dt_h
    need = st.e_final_min_kwh - st.e_init_kwh            # kWh to store
    for t in np.argsort(price, kind="stable"):
        if need <= _EPS:
            break
        e = energy_path(st, c, d, dt)
        room = (st.e_max_kwh - e[t + 1:].max()) / (st.eta_c * dt)
        x = min(c_cap[t] - c[t], room, need / (st.eta_c * dt))
        if x > _EPS:
            c[t] += x
            need -= st.eta_c * x * dt
    if need > 1e-6:
        raise PlanningError(f"the rules cannot reach the end-of-horizon energy: "
                            f"{need:.3f} kWh short")


def _sell_surplus(problem: StochasticProblem, price: np.ndarray, c: np.ndarray,
                  d: np.ndarray, d_cap: np.ndarray) -> None:
    st, dt = problem.storage, problem.dt_h
    floor = max(st.e_final_min_kwh, st.e_min_kwh)
    for t in np.argsort(-price, kind="stable"):
        if price[t] - st.degradation_eur_mwh <= 0.0 or c[t] > 0.0:
            continue
        e = energy_path(st, c, d, dt)
        room = (e[t + 1:].min() - floor) * st.eta_d / dt
        y = min(d_cap[t] - d[t], room)
        if y > _EPS:
            d[t] += y


def rule_based_plan(problem: StochasticProblem) -> Plan:
    """The greedy plan of the module docstring, scored over the problem's scenarios (its
    CVaR at the problem's risk level)."""
    st, dt = problem.storage, problem.dt_h
    price = problem.scenarios.expected_price()
    horizon = len(price)
    c, d = np.zeros(horizon), np.zeros(horizon)
    c_cap, d_cap = _power_caps(problem)
    if st.e_final_min_kwh > st.e_init_kwh:
        _charge_for_end(problem, price, c, d, c_cap)
    rt = st.eta_c * st.eta_d
    deg = st.degradation_eur_mwh
    margin = price[None, :] - price[:, None] / rt - deg * (1.0 + 1.0 / rt)   # [i charge, j dis]
    np.fill_diagonal(margin, -np.inf)
    order = np.argsort(-margin, axis=None, kind="stable")
    for flat in order:
        i, j = divmod(int(flat), horizon)
        if margin[i, j] <= 0.0:
            break
        if d[i] > 0.0 or c[j] > 0.0:
            continue
        e = energy_path(st, c, d, dt)
        if i < j:
            room_e = (st.e_max_kwh - e[i + 1:j + 1].max()) * st.eta_d / dt
        else:
            room_e = (e[j + 1:i + 1].min() - st.e_min_kwh) * st.eta_d / dt
        y = min(d_cap[j] - d[j], (c_cap[i] - c[i]) * rt, room_e)
        if y > _EPS:
            d[j] += y
            c[i] += y / rt
    if st.e_final_min_kwh < st.e_init_kwh:
        _sell_surplus(problem, price, c, d, d_cap)
    bad = schedule_violation(st, c, d, dt, tol_kwh=1e-6 * st.capacity_kwh + 1e-6)
    if bad is not None:
        raise PlanningError(f"the rule-based plan is not feasible: {bad}")
    return score(problem, c, d, method="rules", status="feasible",
                 risk_level=problem.risk_level, risk_weight=problem.risk_weight)
