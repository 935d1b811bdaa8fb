"""``vpp bench merit-order``: the allocation of N bids, and a full-sort baseline timed in
interleaved pairs (:mod:`.paired`)."""

from __future__ import annotations

import time

import numpy as np
from vpp.coordination.merit_order.allocation import allocate
from vpp.runs.bench.paired import interleave


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
    result = allocate(site, quantity, price, target, sites, 0.05 * target, reserve_price)

    def ours() -> float:
        t = time.perf_counter()
        allocate(site, quantity, price, target, sites, 0.05 * target, reserve_price)
        return (time.perf_counter() - t) * 1e3

    def baseline() -> float:
        t = time.perf_counter()
        _full_sort(quantity, price, target)
        return (time.perf_counter() - t) * 1e3

    got = interleave(ours, baseline, repeats)
    return {
        "sites": sites,
        "dispatch_ms_p50": round(float(np.percentile(got.first, 50)), 3),
        "dispatch_ms_p99": round(float(np.percentile(got.first, 99)), 3),
        "full_sort_baseline_ms_p50": round(float(np.percentile(got.second, 50)), 3),
        # each allocation against the full sort timed beside it
        **got.summary("ratio_to_baseline"),
        "unserved_kw": result.unserved_kw,
    }
