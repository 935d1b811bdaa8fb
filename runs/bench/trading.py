"""``vpp bench trading``: the exact schedule (24 hours, and the 8,760 hours of DE-LU 2019)
against independent solves of the same battery (an LP where prices are positive, a MILP on a
day with negative prices), and a backtest of three strategies over DE-LU 2019 (days per
second)."""

from __future__ import annotations

import math
import time

import numpy as np

README_PRICES = [0.06, 0.05, 0.04, 0.08, 0.12, 0.15, 0.18, 0.20, 0.22, 0.15, 0.10, 0.08] * 2
"""The reference library's README prices ($/kWh) for one day."""
CAPACITY_KWH = 1000.0
ROUND_TRIP = 0.92


def independent_lp(prices, capacity: float, round_trip: float, power: float,
                   soc_min: float = 0.1, soc_max: float = 0.9, soc0: float = 0.5) -> float:
    """The same battery written independently for scipy's linprog (HiGHS): variables
    ``[c, d, e_0..e_n]``, one energy-balance equality per hour, dense matrices."""
    from scipy.optimize import linprog

    p = np.asarray(prices, dtype=float)
    n = p.size
    eta = math.sqrt(round_trip)
    cost = np.concatenate([p, -p, np.zeros(n + 1)])
    a_eq = np.zeros((n + 1, 3 * n + 1))
    b_eq = np.zeros(n + 1)
    a_eq[0, 2 * n] = 1.0
    b_eq[0] = soc0 * capacity
    for t in range(n):             # e_{t+1} - e_t - eta c_t + d_t / eta = 0
        a_eq[t + 1, 2 * n + t + 1] = 1.0
        a_eq[t + 1, 2 * n + t] = -1.0
        a_eq[t + 1, t] = -eta
        a_eq[t + 1, n + t] = 1.0 / eta
    bounds = [(0.0, power)] * (2 * n) + [(soc_min * capacity, soc_max * capacity)] * n + [
        (soc0 * capacity, soc_max * capacity)]
    res = linprog(cost, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog: {res.message}")
    return float(-res.fun)


def independent_milp(prices, capacity: float, round_trip: float, power: float,
                     soc_min: float = 0.1, soc_max: float = 0.9, soc0: float = 0.5) -> float:
    """The battery that never charges and discharges at once, written independently for
    scipy's ``milp``: a binary direction in every hour, dense matrices."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    p = np.asarray(prices, dtype=float)
    n = p.size
    eta = math.sqrt(round_trip)
    a = np.zeros((3 * n, 4 * n))          # x = [c, d, e, u]
    low, high = np.zeros(3 * n), np.zeros(3 * n)
    for t in range(n):
        a[t, 2 * n + t], a[t, t], a[t, n + t] = 1.0, -eta, 1.0 / eta
        if t:
            a[t, 2 * n + t - 1] = -1.0
        low[t] = high[t] = soc0 * capacity if t == 0 else 0.0
        a[n + t, t], a[n + t, 3 * n + t] = 1.0, -power
        a[2 * n + t, n + t], a[2 * n + t, 3 * n + t] = 1.0, power
        low[n + t] = low[2 * n + t] = -np.inf
        high[2 * n + t] = power
    lower = np.concatenate([np.zeros(2 * n), np.full(n, soc_min * capacity), np.zeros(n)])
    upper = np.concatenate([np.full(2 * n, power), np.full(n, soc_max * capacity), np.ones(n)])
    lower[3 * n - 1] = soc0 * capacity
    res = milp(np.concatenate([p, -p, np.zeros(2 * n)]),
               constraints=LinearConstraint(a, low, high), bounds=Bounds(lower, upper),
               integrality=np.concatenate([np.zeros(3 * n), np.ones(n)]),
               options={"mip_rel_gap": 1e-10})
    if res.status != 0:
        raise RuntimeError(f"milp: {res.message}")
    return float(-res.fun)


def _median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return round(float(np.median(times)), 3)


def exact_schedule(repeats: int = 200, year_repeats: int = 3) -> dict:
    """The exclusive (exact) schedule: 24 hours by the LP path (README prices), a DE-LU 2019
    day whose negative prices need the MILP path, and the whole year (8,760 hours); the
    LP relaxation of the year alone as the baseline measured in the same run."""
    from vpp.markets.data import load_de_lu_2019
    from vpp.markets.trading.schedule import optimize_trading_schedule

    year = np.asarray(load_de_lu_2019().price_eur_mwh, dtype=float)
    # hours 24-47 of the data (from 2019-01-01 23:00 UTC): four negative hours, where the
    # LP alone would charge and discharge at once
    day = year[24:48]
    cap, rt = 1.0, 0.9
    negative = optimize_trading_schedule(day, cap, rt)
    milp_profit = independent_milp(day, cap, rt, cap / 4)
    negative_ms = _median_ms(lambda: optimize_trading_schedule(day, cap, rt), repeats)
    exact = optimize_trading_schedule(year, cap, rt)
    year_s = [0.0] * max(year_repeats, 1)
    year_cpu_s = [0.0] * len(year_s)
    for i in range(len(year_s)):
        t0, c0 = time.perf_counter(), time.process_time()
        optimize_trading_schedule(year, cap, rt)
        year_s[i] = time.perf_counter() - t0
        year_cpu_s[i] = time.process_time() - c0
    t0 = time.perf_counter()
    relaxed = optimize_trading_schedule(year, cap, rt, exclusive=False)
    relaxed_s = time.perf_counter() - t0
    return {
        "schedule_negative_day_ms": negative_ms,
        "schedule_negative_day_method": negative.method,
        "schedule_negative_day_profit": round(negative.profit, 6),
        "milp_negative_day_profit": round(milp_profit, 6),
        "milp_gap": abs(negative.profit - milp_profit),
        "milp_baseline": "scipy milp (HiGHS), a binary in every hour, dense, built once",
        "schedule_8760_s": round(float(np.median(year_s)), 3),
        "schedule_8760_cpu_s": round(float(np.median(year_cpu_s)), 3),
        "schedule_8760_method": exact.method,
        "schedule_8760_binaries": exact.binary_periods,
        "schedule_8760_profit": round(exact.profit, 3),
        "lp_relaxation_8760_s": round(relaxed_s, 3),
        "lp_relaxation_8760_profit": round(relaxed.profit, 3),
        "lp_relaxation_8760_simultaneous_hours": relaxed.simultaneous_periods,
    }


def run(days: int = 365, repeats: int = 200, seed: int = 0) -> dict:
    """Schedule time (median over ``repeats``) and profit; the LP baseline; the backtest."""
    from vpp.markets.trading.backtest import run_backtest
    from vpp.markets.trading.engine import create_trading_engine
    from vpp.markets.trading.market_data import de_lu_2019_market_data
    from vpp.markets.trading.schedule import optimize_trading_schedule

    schedule = optimize_trading_schedule(README_PRICES, CAPACITY_KWH, ROUND_TRIP)
    times = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        optimize_trading_schedule(README_PRICES, CAPACITY_KWH, ROUND_TRIP)
        times.append((time.perf_counter() - t0) * 1e3)
    import scipy.optimize  # noqa: F401  (imported before timing)

    t0 = time.perf_counter()
    lp_profit = independent_lp(README_PRICES, CAPACITY_KWH, ROUND_TRIP, CAPACITY_KWH / 4)
    lp_ms = (time.perf_counter() - t0) * 1e3

    data = de_lu_2019_market_data(seed, days=days)
    names = ("arbitrage", "mean_reversion", "ml")
    t0 = time.perf_counter()
    engines = [create_trading_engine(n, hours=data.hours) for n in names]
    result = run_backtest(data, engines)
    wall = time.perf_counter() - t0
    ml = result.traders[2].forecast
    exact = exact_schedule(repeats, year_repeats=1 if repeats < 10 else 3)
    return {
        "schedule_ms": round(float(np.median(times)), 3),
        "schedule_ms_p99": round(float(np.percentile(times, 99)), 3),
        "schedule_method": schedule.method,
        "schedule_profit": round(schedule.profit, 6),
        "lp_profit": round(lp_profit, 6),
        "lp_gap": abs(schedule.profit - lp_profit),
        "lp_baseline": "scipy linprog (HiGHS), SoC variables, dense, built and solved once",
        "lp_ms": round(lp_ms, 3),
        **exact,
        "backtest_days": data.hours // 24,
        "backtest_strategies": list(names),
        "backtest_s": round(wall, 3),
        "backtest_days_per_s": round(data.hours / 24 / wall, 3),
        "backtest_profit_eur": {t.name: round(t.performance.profit_eur, 2)
                                for t in result.traders},
        "ml_forecast_mae_eur_mwh": round(ml.get("model_mae_eur_mwh", float("nan")), 3),
        "persistence_mae_eur_mwh": round(ml.get("persistence_mae_eur_mwh", float("nan")), 3),
    }
