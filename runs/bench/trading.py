"""``vpp bench trading``: the 24-hour schedule LP against an independent LP (scipy) of the
same battery, and a backtest of three strategies over DE-LU 2019 (days per second)."""

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
    return {
        "schedule_ms": round(float(np.median(times)), 3),
        "schedule_ms_p99": round(float(np.percentile(times, 99)), 3),
        "schedule_profit": round(schedule.profit, 6),
        "lp_profit": round(lp_profit, 6),
        "lp_gap": abs(schedule.profit - lp_profit),
        "lp_baseline": "scipy linprog (HiGHS), SoC variables, dense, built and solved once",
        "lp_ms": round(lp_ms, 3),
        "backtest_days": data.hours // 24,
        "backtest_strategies": list(names),
        "backtest_s": round(wall, 3),
        "backtest_days_per_s": round(data.hours / 24 / wall, 3),
        "backtest_profit_eur": {t.name: round(t.performance.profit_eur, 2)
                                for t in result.traders},
        "ml_forecast_mae_eur_mwh": round(ml.get("model_mae_eur_mwh", float("nan")), 3),
        "persistence_mae_eur_mwh": round(ml.get("persistence_mae_eur_mwh", float("nan")), 3),
    }
