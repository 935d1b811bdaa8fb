"""``vpp bench swarm --regions R``: the swarm bench's fleet under ``R`` regional
aggregators (the ``merit_hierarchy`` mode), every message over ZeroMQ and traced.

Besides the swarm bench's figures (wall time, messages, the paired overhead against a
direct allocation of as many bids) it checks the dispatch: every step, each site's bid and
its answers to its awards are recorded as the sites send them, the flat auction
(:class:`~vpp.coordination.merit_order.auction.MeritOrderAuction`) is run directly on those
bids with those answers, and ``flat_equal`` says whether every step's per-site set-points
and reserves equal the hierarchy's exactly. The check runs outside the timed steps.
"""

from __future__ import annotations

import gc
import resource
import tempfile
import time
from collections import defaultdict
from typing import Any

import numpy as np
from vpp.coordination.hierarchy.merit_driver import run_flat_step
from vpp.coordination.merit_order.allocation import allocate
from vpp.coordination.merit_order.messages import Accept, Award, Bid, Decline
from vpp.runs.bench.paired import interleave
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.runner import build_run
from vpp.runs.scenario import parse


class SiteTap:
    """What the local sites send in a step: each one's bid, and its answers in order."""

    def __init__(self, sites: list[Any]) -> None:
        self.bids: dict[str, Bid] = {}
        self.answers: dict[str, list[Accept | Decline]] = defaultdict(list)
        for site in sites:
            site.send = self._tapped(site, site.send)

    def _tapped(self, site: Any, send: Any) -> Any:
        address = site.address

        def send_and_record(receiver: str, body: Any, **kw: Any) -> None:
            if isinstance(body, Bid):
                self.bids[address] = body
            elif isinstance(body, (Accept, Decline)):
                self.answers[address].append(body)
            send(receiver, body, **kw)

        return send_and_record

    def clear(self) -> None:
        """Forget the step's records."""
        self.bids = {}
        self.answers = defaultdict(list)

    def replay(self) -> Any:
        """A flat auction's site answers: each site's k-th award answered as it answered
        its k-th award in the run (silent past its last answer)."""
        seen: dict[str, int] = defaultdict(int)
        answers = self.answers

        def answer(site: str, award: Award) -> Accept | Decline | None:
            k = seen[site]
            seen[site] = k + 1
            said = answers.get(site, [])
            if k >= len(said):
                return None
            if isinstance(said[k], Decline):
                return said[k]
            return Accept(award.step, award.power_kw, award.reserve_kw)

        return answer


def flat_equal(model: Any, tap: SiteTap, k: int) -> bool:
    """Step ``k``'s hierarchical dispatch equals the flat auction's on the recorded bids
    and answers (every site's set-point and reserve, exactly)."""
    scenario, root = model.scenario, model.aggregator
    got = root.outcomes[-1]
    flat = run_flat_step(
        root.sites, tap.bids, step=k, target_kw=model.targets[k], reserve_kw=model.reserves[k],
        window_start_s=k * model.window_s, window_s=model.window_s, answer=tap.replay(),
        deadline_ms=scenario.negotiation.deadline_ms,
        max_rounds=scenario.negotiation.max_rounds).outcome
    return (got.site_power_kw == flat.site_power_kw
            and got.site_reserve_kw == flat.site_reserve_kw
            and got.silent == flat.silent and got.declined == flat.declined)


def run(sites: int = 1000, steps: int = 96, regions: int = 10, seed: int = 0) -> dict:
    """The hierarchical swarm: wall seconds, messages, peak memory, drops, whether its
    dispatch equals the flat merit order of the same bids, and the swarm bench's paired
    overhead against a direct allocation."""
    if not 1 <= regions <= sites:
        raise ValueError(f"--regions must be between 1 and --sites ({sites}), got {regions}")
    data = bench_scenario(sites, steps, seed)
    data["topology"] = {"regions": regions}
    scenario = parse(data, "<bench>")
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

    equal, check_s = True, 0.0
    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as out:
        mode, model = build_run(scenario, out)
        try:
            if mode.name != "merit_hierarchy":
                raise RuntimeError(f"the bench scenario ran as {mode.name}, not through regions")
            tap = SiteTap(model.sites)
            ks = iter(range(steps))

            def step() -> float:
                nonlocal equal, check_s
                k = next(ks)
                tap.clear()
                t = time.perf_counter()
                model.step(k)
                took = time.perf_counter() - t
                t = time.perf_counter()
                equal = flat_equal(model, tap, k) and equal
                tap.clear()
                gc.collect()  # the check's garbage collected here, not in the next step
                check_s += time.perf_counter() - t
                return took

            direct()                                          # warm up
            got = interleave(step, direct, steps)
            hosts = model.fleet.hosts
            messages = sum(h.stats.sent for h in hosts)
            dropped = sum(h.stats.dropped_total for h in hosts)
        finally:
            model.close()
    wall, allocations = sum(got.first), sum(got.second)
    return {
        "sites": sites, "regions": regions, "steps": steps, "wall_s": round(wall, 3),
        "messages": messages, "messages_per_s": round(messages / wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dropped": dropped, "flat_equal": equal,
        "flat_check_s": round(check_s, 3),
        "direct_allocation_s": round(allocations, 4),
        "overhead_ratio": round(wall / allocations, 1),
        **got.summary("overhead_ratio", digits=1),
    }
