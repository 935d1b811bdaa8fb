"""``vpp bench cvar``: the two-stage CVaR LP on S bootstrapped scenarios of T hours.

The site: a 2 MWh / 500 kW battery (both efficiencies 0.95), renewables with a 400 kW peak
and a 300 kW mean load shaped like DE-LU 2019 on the chosen days, a 600 kW grid connection
both ways (``--grid-limit-kw``; 0 for none). The forecasts are the real prices and profiles
of the planning days; the scenarios lay real day-before forecast errors of 2019 over them
(bootstrap). ``solve_s`` is the median wall time of the whole solve (cvxpy build plus
HiGHS, the library already loaded), ``build_s`` and ``lp_s`` its parts; the baselines in
the same run are the rule-based plan (its cost and time) and the risk-neutral LP (its
expected cost and CVaR).
"""

from __future__ import annotations

import time

import numpy as np
from vpp.coordination.planning.cvar import solve_stochastic
from vpp.coordination.planning.history import load_history
from vpp.coordination.planning.model import StochasticProblem
from vpp.coordination.planning.rules import rule_based_plan
from vpp.coordination.planning.scenarios import generate_scenarios
from vpp.physics.battery import BatteryParams


def build_problem(scenarios: int, horizon: int, start_day: int = 62, seed: int = 0,
                  risk_level: float = 0.05, risk_weight: float = 0.5,
                  grid_limit_kw: float | None = 600.0) -> StochasticProblem:
    """The bench's site facing ``scenarios`` scenarios of ``horizon`` hours (``grid_limit_kw``
    both ways; None: no limit, and so no recourse variables in the LP)."""
    h = load_history()
    first = 1 + 24 * start_day                     # 00:00 UTC of the day
    if first + horizon > h.hours:
        raise ValueError(f"horizon {horizon} h from day {start_day} runs past the 2019 data")
    span = slice(first, first + horizon)
    ren = h.renewable_mw[span] / h.renewable_mw.max() * 400.0
    load = h.load_mw[span] / h.load_mw.mean() * 300.0
    sc = generate_scenarios(h.price_eur_mwh[span], ren, load, count=scenarios,
                            method="bootstrap", seed=seed, renewable_capacity_kw=400.0)
    return StochasticProblem(BatteryParams(2000.0, 500.0, 500.0), sc,
                             import_max_kw=grid_limit_kw, export_max_kw=grid_limit_kw,
                             risk_level=risk_level,
                             risk_weight=risk_weight)


def run(scenarios: int = 100, horizon: int = 24, repeats: int = 3, seed: int = 0,
        risk_weight: float = 0.5, grid_limit_kw: float | None = 600.0) -> dict:
    """Solve the bench problem ``repeats`` times; report the median and the baselines."""
    import cvxpy  # noqa: F401  (loading the library is not part of a solve's time)
    from vpp.coordination.planning.highs import quiet_highs

    quiet_highs()
    problem = build_problem(scenarios, horizon, seed=seed, risk_weight=risk_weight,
                            grid_limit_kw=grid_limit_kw)
    times, plans = [], []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        plans.append(solve_stochastic(problem))
        times.append(time.perf_counter() - t0)
    plan = plans[int(np.argsort(times)[len(times) // 2])]
    t0 = time.perf_counter()
    rules = rule_based_plan(problem)
    rules_s = time.perf_counter() - t0
    neutral = solve_stochastic(problem, risk_weight=0.0)
    return {
        "scenarios": scenarios,
        "horizon": horizon,
        "solve_s": round(float(np.median(times)), 4),
        "expected_cost": round(plan.expected_cost_eur, 2),
        "cvar": round(plan.cvar_eur, 2),
        "status": plan.status,
        "build_s": round(plan.build_s, 4),
        "lp_s": round(plan.solve_s, 4),
        "risk_level": problem.risk_level,
        "risk_weight": problem.risk_weight,
        "grid_limit_kw": grid_limit_kw,
        "battery_cost": round(plan.battery_cost_eur, 2),
        "risk_neutral_expected_cost": round(neutral.expected_cost_eur, 2),
        "risk_neutral_cvar": round(neutral.cvar_eur, 2),
        "rules_expected_cost": round(rules.expected_cost_eur, 2),
        "rules_cvar": round(rules.cvar_eur, 2),
        "rules_s": round(rules_s, 4),
        "currency": "EUR",
        "scenario_method": problem.scenarios.method,
    }
