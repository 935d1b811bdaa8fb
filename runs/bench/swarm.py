"""``vpp bench swarm``: a whole local swarm, every message over ZeroMQ and traced."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
from vpp.coordination.merit_order.allocation import allocate
from vpp.runs.bench.paired import interleave
from vpp.runs.record.trace_level import choose_level
from vpp.runs.runner import build_run
from vpp.runs.scenario import parse


def bench_scenario(sites: int, steps: int, seed: int = 0) -> dict:
    """A generated scenario: ``sites`` sites with one generator and one store each."""
    rng = np.random.default_rng(seed)
    site_specs = []
    for i in range(sites):
        site_specs.append({"name": f"site-{i}", "devices": [
            {"type": "flexible", "name": "gen", "p_max_kw": float(rng.uniform(50, 200)),
             "cost_eur_mwh": float(rng.uniform(20, 150))},
            {"type": "battery", "name": "bess", "capacity_kwh": 200.0, "p_charge_kw": 50.0,
             "p_discharge_kw": 50.0, "cost_eur_mwh": float(rng.uniform(30, 80)),
             "absorb_price_eur_mwh": float(rng.uniform(-10, 10))},
        ]})
    shape = np.sin(np.linspace(0, 2 * np.pi, steps, endpoint=False))
    targets = (60.0 * sites * (0.6 + 0.5 * shape)).tolist()
    return {"name": f"bench-{sites}", "seed": seed,
            "start": datetime(2019, 1, 16, tzinfo=timezone.utc).isoformat(),
            "step_minutes": 15, "steps": steps, "target": {"values_kw": targets},
            "reserve_kw": 5.0 * sites, "sites": site_specs}


def direct_allocation(sites: int, seed: int) -> Callable[[], float]:
    """The swarm benches' baseline: a function that allocates, with no agents and no
    messages, as many bids as ``sites`` sites send a step (random, from ``seed``), and
    returns the seconds it took."""
    rng = np.random.default_rng(seed)
    q = np.concatenate([rng.uniform(50, 200, sites), np.full(sites, 50.0),
                        np.full(sites, -50.0)])
    p = rng.uniform(-10, 150, q.size)
    idx = np.tile(np.arange(sites), 3)
    target = float(q[q > 0].sum() * 0.4)

    def direct() -> float:
        t = time.perf_counter()
        allocate(idx, q, p, target, sites, 5.0 * sites)
        return time.perf_counter() - t

    return direct


def run(sites: int = 1000, steps: int = 96, seed: int = 0, trace: str | None = None) -> dict:
    """Wall seconds for the whole run, messages sent, and the messaging overhead against
    the same allocations computed directly (no agents, no messages).

    The overhead is measured in pairs, one per step: the swarm's step, then one direct
    allocation of as many bids, alternating which goes first (:mod:`.paired`);
    ``overhead_ratio_median`` is the median over the steps of step time / allocation time,
    with its spread; ``overhead_ratio`` is the whole run's wall time over all the steps'
    allocations."""
    scenario = parse(bench_scenario(sites, steps, seed), "<bench>")
    level = choose_level(trace, scenario)[0].text
    # the baseline: an allocation of the same number of bids with no messaging at all
    direct = direct_allocation(sites, seed)

    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as out:
        _, model = build_run(scenario, out, trace=level)
        try:
            ks = iter(range(steps))

            def step() -> float:
                t = time.perf_counter()
                model.step(next(ks))
                return time.perf_counter() - t

            direct()                                          # warm up
            got = interleave(step, direct, steps)
            hosts = model.fleet.hosts
            messages = sum(h.stats.sent for h in hosts)
            dropped = sum(h.stats.dropped_total for h in hosts)
        finally:
            model.close()
    wall, allocations = sum(got.first), sum(got.second)
    return {
        "sites": sites, "steps": steps, "trace": level, "wall_s": round(wall, 3),
        "messages": messages,
        "messages_per_s": round(messages / wall, 1),
        "dropped": dropped,
        "direct_allocation_s": round(allocations, 4),
        "overhead_ratio": round(wall / allocations, 1),
        **got.summary("overhead_ratio", digits=1),
    }
