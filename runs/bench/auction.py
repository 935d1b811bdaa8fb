"""``vpp bench auction``: the day-ahead clearing of N bid steps over 24 hours, and scipy's
HiGHS LP (welfare maximisation) on a smaller N as the baseline."""

from __future__ import annotations

import time

import numpy as np
from vpp.markets.day_ahead import clear_day_ahead
from vpp.runs.bench.paired import interleave

HOURS = 24


def bid_steps(bids: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random step curves: hour, is_buy, price (EUR/MWh, 0.01 grid), quantity (MW)."""
    rng = np.random.default_rng(seed)
    hour = rng.integers(0, HOURS, bids)
    is_buy = rng.random(bids) < 0.5
    price = np.round(np.where(is_buy, rng.normal(60.0, 30.0, bids),
                              rng.normal(50.0, 30.0, bids)).clip(-500.0, 4000.0), 2)
    quantity = np.round(rng.uniform(0.1, 50.0, bids), 1)
    return hour, is_buy, price, quantity


def welfare_lp(hour: np.ndarray, is_buy: np.ndarray, price: np.ndarray,
               quantity: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximise buyers' prices minus sellers' prices over accepted MWh, balance per hour.

    Returns the accepted MW per step and the traded volume (MWh) over all hours.
    """
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix

    n = hour.size
    hours, row = np.unique(hour, return_inverse=True)
    sign = np.where(is_buy, 1.0, -1.0)
    a_eq = csr_matrix((sign, (row, np.arange(n))), shape=(hours.size, n))
    res = linprog(-sign * price, A_eq=a_eq, b_eq=np.zeros(hours.size),
                  bounds=np.column_stack([np.zeros(n), quantity]), method="highs")
    if res.status != 0:
        raise RuntimeError(f"linprog: {res.message}")
    return res.x, float(res.x[is_buy].sum())


def run(bids: int = 100_000, repeats: int = 5, baseline_bids: int = 2_000,
        seed: int = 0, pairs: int = 10) -> dict:
    """Median clearing time of ``bids`` steps; against the LP baseline on ``baseline_bids``
    steps, ``pairs`` interleaved pairs (ours, the LP; :mod:`.paired`): the speed-up's
    median and spread over the pairs."""
    steps = bid_steps(bids, seed)
    times = []
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        result = clear_day_ahead(*steps)
        times.append((time.perf_counter() - t0) * 1e3)
    out = {"bids": bids, "clear_ms": round(float(np.median(times)), 3), "hours": HOURS,
           "volume_mwh": round(float(result.volume_mwh.sum()), 3)}
    n_base = min(bids, baseline_bids)
    if n_base:
        small = tuple(a[:n_base] for a in steps)
        ours = clear_day_ahead(*small)
        try:
            # imported before timing: the import is not part of the LP's time
            import scipy.optimize
            import scipy.sparse  # noqa: F401
        except ImportError:
            out["baseline"] = "scipy not installed: no baseline"
            return out
        _, lp_volume = welfare_lp(*small)

        def ours_ms() -> float:
            t0 = time.perf_counter()
            clear_day_ahead(*small)
            return (time.perf_counter() - t0) * 1e3

        def lp_ms() -> float:
            t0 = time.perf_counter()
            welfare_lp(*small)
            return (time.perf_counter() - t0) * 1e3

        got = interleave(lp_ms, ours_ms, max(pairs, 1))
        # the LP's volume may be any optimal one; ours trades the largest, so it is >=
        ours_volume = float(ours.volume_mwh.sum())
        out.update({
            "baseline": "scipy linprog (HiGHS) welfare LP",
            "baseline_bids": n_base,
            "baseline_ms": round(float(np.median(got.first)), 3),
            "clear_ms_same_bids": round(float(np.median(got.second)), 3),
            **got.summary("speedup_vs_baseline", digits=1),
            "baseline_volume_mwh": round(lp_volume, 3),
            "volume_mwh_same_bids": round(ours_volume, 3),
        })
    return out
