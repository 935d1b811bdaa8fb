"""``vpp bench merit-order``: the allocation of N bids, and a full-sort baseline."""

from __future__ import annotations

import time

import numpy as np

from vpp.coordination.merit_order.allocation import allocate


def _full_sort(quantity: np.ndarray, price: np.ndarray, target: float) -> np.ndarray:
    """The textbook allocation, for the baseline: sort everything, cumulate, clip."""
    order = np.argsort(price, kind="stable")
    q = quantity[order]
    award = np.empty_like(q)
    award[order] = np.clip(target - (np.cumsum(q) - q), 0.0, q)
    return award


def run(sites: int = 100_000, repeats: int = 30, seed: int = 0) -> dict:
    """p50 and p99 milliseconds to allocate a target and reserve over ``sites`` bids."""
    rng = np.random.default_rng(seed)
    site = np.arange(sites)
    quantity = rng.uniform(1.0, 500.0, sites)
    price = np.round(rng.normal(60.0, 25.0, sites), 2)
    reserve_price = rng.uniform(0.0, 20.0, sites)
    target = 0.6 * quantity.sum()
    times, base = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        result = allocate(site, quantity, price, target, sites, 0.05 * target, reserve_price)
        times.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        _full_sort(quantity, price, target)
        base.append((time.perf_counter() - t) * 1e3)
    p50 = float(np.percentile(times, 50))
    base50 = float(np.percentile(base, 50))
    return {
        "sites": sites,
        "dispatch_ms_p50": round(p50, 3),
        "dispatch_ms_p99": round(float(np.percentile(times, 99)), 3),
        "full_sort_baseline_ms_p50": round(base50, 3),
        "ratio_to_baseline": round(p50 / base50, 3),
        "unserved_kw": result.unserved_kw,
    }
