"""The ``distributed-schedule`` problem kind: share a target *schedule* among sites by ADMM.

When the quick-start's ``total_power`` is a list (one target per step), the sites negotiate
whole schedules with the aggregator by the swarm's ADMM exchange
(``vpp.coordination.admm.driver.negotiate``: each round the aggregator sends the price and the
mean imbalance, each site answers the schedule that minimizes its own cost plus the
proximal term; stop on primal and dual residuals). Each site is a curtailable generator
with its available power and marginal cost (``vpp.coordination.admm.model.AdmmGenerator``). A
target outside what the sites can deliver cannot be met exactly, so it is refused before
negotiating; the fallback then allocates each step by merit order and reports the
unserved power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from vpp.coordination.admm.model import AdmmGenerator, SiteModel, TargetCoupling
from vpp.coordination.merit_order.allocation import allocate
from vpp.coordination.planning.distributed import SiteOffer
from vpp.coordination.planning.results import (
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    ProblemKind,
    register_kind,
)


@dataclass(frozen=True)
class DistributedScheduleProblem:
    """Serve ``target_kw`` (one value per step of ``dt_h`` hours) from ``sites``."""

    sites: tuple[SiteOffer, ...]
    target_kw: tuple[float, ...]
    dt_h: float = 1.0
    kind: str = "distributed-schedule"

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError("distributed.sites must not be empty")
        ids = [s.site_id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError("distributed.sites: site_id values must be unique")
        if not self.target_kw:
            raise ValueError("distributed.target_kw must not be empty")
        for t, v in enumerate(self.target_kw):
            if not math.isfinite(v):
                raise ValueError(f"distributed.target_kw[{t}] must be finite, got {v!r}")
        if not (math.isfinite(self.dt_h) and self.dt_h > 0):
            raise ValueError(f"distributed.dt_h must be > 0, got {self.dt_h}")

    @property
    def horizon(self) -> int:
        """The number of steps."""
        return len(self.target_kw)

    def reachable(self) -> str | None:
        """Why the target cannot be met exactly, or None."""
        total = sum(s.available_kw for s in self.sites)
        for t, v in enumerate(self.target_kw):
            if v < 0 or v > total + 1e-9:
                return f"target_kw[{t}] = {v} is outside [0, {total}] kW, what the sites offer"
        return None


class AdmmNegotiationPlugin(OptimizationPlugin):
    """The aggregator-site ADMM exchange as a plug-in (``vpp.coordination.admm``)."""

    def __init__(self) -> None:
        super().__init__("admm_negotiation", "1.0")

    def validate_problem(self, problem: object) -> bool:
        """Schedule problems only."""
        return isinstance(problem, DistributedScheduleProblem)

    def solve(self, problem: DistributedScheduleProblem,
              timeout_ms: int | None = None) -> OptimizationResult:
        """Negotiate; ``objective_value`` is the sites' total cost (EUR)."""
        why = problem.reachable()
        if why is not None:
            return OptimizationResult(status=OptimizationStatus.INFEASIBLE,
                                      objective_value=float("inf"), method=self.name,
                                      metadata={"error": why})
        # the driver loads cvxpy (its reference solve): imported here, off the realtime path
        from vpp.coordination.admm.driver import negotiate

        t = problem.horizon
        models = [SiteModel(s.site_id, t, problem.dt_h,
                            generator=AdmmGenerator((s.available_kw,) * t,
                                                    fuel_eur_mwh=s.marginal_cost_eur_mwh,
                                                    curtail_quad=0.0))
                  for s in problem.sites]
        result, _, _ = negotiate(models, TargetCoupling(problem.target_kw))
        if not result.converged:
            return OptimizationResult(status=OptimizationStatus.FAILED,
                                      objective_value=float("inf"), method=self.name,
                                      metadata={"error": f"ADMM did not converge: {result.reason}"})
        total = np.sum(list(result.schedules_kw.values()), axis=0)
        return OptimizationResult(
            status=OptimizationStatus.SUCCESS, objective_value=result.cost_eur,
            solution={"target_power": {k: v.tolist() for k, v in result.schedules_kw.items()},
                      "served_kw": total.tolist(),
                      "price_eur_mwh": np.asarray(result.price_eur_mwh).tolist()},
            metadata={"iterations": result.iterations, "reason": result.reason,
                      "primal_residual": result.primal_residual,
                      "dual_residual": result.dual_residual},
            method=self.name)


def _fallback(problem: DistributedScheduleProblem, reason: str) -> OptimizationResult:
    """Each step by merit order from the declared offers (not negotiated)."""
    ids = [s.site_id for s in problem.sites]
    avail = np.array([s.available_kw for s in problem.sites])
    price = np.array([s.marginal_cost_eur_mwh for s in problem.sites])
    power = {i: [] for i in ids}
    served, unserved, cost = [], [], 0.0
    for target in problem.target_kw:
        alloc = allocate(np.arange(len(ids)), avail, price, target, len(ids))
        for i, p in zip(ids, alloc.site_power_kw.tolist()):
            power[i].append(p)
        served.append(alloc.served_kw)
        unserved.append(alloc.unserved_kw)
        cost += alloc.cost_eur_per_h * problem.dt_h
    return OptimizationResult(
        status=OptimizationStatus.FALLBACK_USED, objective_value=cost,
        solution={"target_power": power, "served_kw": served, "unserved_kw": unserved},
        metadata={"fallback_cost": cost},
        method="central merit order per step from declared offers (not negotiated)",
        fallback_used=True, fallback_reason=reason)


def _check(problem: DistributedScheduleProblem, solution: dict) -> tuple[str | None, dict]:
    power = solution.get("target_power")
    if not isinstance(power, dict) or set(power) != {s.site_id for s in problem.sites}:
        return "the solution needs target_power for every site", {}
    try:
        x = np.array([power[s.site_id] for s in problem.sites], dtype=float)
    except (TypeError, ValueError):
        return "target_power must hold lists of numbers", {}
    if x.shape != (len(problem.sites), problem.horizon):
        return f"target_power must hold {problem.horizon} values per site", {}
    avail = np.array([s.available_kw for s in problem.sites])[:, None]
    tol = 1e-3 * max(1.0, float(avail.max()))
    if (x < -tol).any() or (x > avail + tol).any():
        return "target_power is outside [0, available_kw] for some site and step", {}
    gap = float(np.abs(x.sum(axis=0) - np.asarray(problem.target_kw)).max())
    if gap > max(1.0, 0.01 * float(np.abs(problem.target_kw).max())):
        return f"the schedules miss the target by up to {gap:.3f} kW", {}
    return None, {"checked_max_imbalance_kw": gap}


register_kind(ProblemKind("distributed-schedule", AdmmNegotiationPlugin, _fallback, _check))
