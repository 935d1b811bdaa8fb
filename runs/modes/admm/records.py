"""An ADMM run's records: a finished negotiation's account, one delivered step's row, and
the run's totals (whatever the placement)."""

from __future__ import annotations

import logging
import math
import time

from vpp.coordination.admm.outcome import AdmmResult
from vpp.runs.scenario import Scenario

log = logging.getLogger(__name__)


def negotiation_outcome(aggregator, k: int, horizon: int, started: float,
                        ) -> tuple[tuple[int, int, AdmmResult, float], float]:
    """A finished negotiation of ``aggregator`` (begun at step ``k``, ``started`` by
    ``time.perf_counter``): its record ``(k, horizon, result, seconds)`` and the
    tolerance its summed plan meets the coupling to, sqrt(N) * eps_pri (kW, 2-norm over
    the steps; 0 unless it converged). A negotiation that did not converge is logged."""
    result = aggregator.results[-1]
    if not result.converged:
        log.warning("ADMM negotiation at step %d did not converge: %s", k, result.reason)
    last = aggregator.negotiation.records[-1] if result.converged else None
    tolerance = math.sqrt(max(last.active, 1)) * last.eps_pri if last is not None else 0.0
    return (k, horizon, result, time.perf_counter() - started), tolerance


def step_record(target: float, planned: float, served: float, deviation: float,
                cost: float, price: float, iterations: int, *, tolerance_kw: float,
                sale_price: float | None, dt_h: float) -> dict:
    """One delivered step of an ADMM run, as ``steps.csv`` has it: what was unserved (none
    when the delivery met the target to the negotiation's primal tolerance) and the cost,
    the portfolio's sales at ``sale_price`` (EUR/MWh, a market coupling) counted as
    revenue."""
    if sale_price is not None:  # the portfolio's sales are revenue: a negative cost
        cost -= sale_price * served * dt_h / 1000.0
    unserved = (max(abs(target) - abs(served), 0.0) if served * target >= 0
                else abs(target))
    if abs(served - target) <= tolerance_kw:
        unserved = 0.0  # met to the negotiation's primal tolerance
    return {"target_kw": target, "planned_kw": planned, "served_kw": served,
            "unserved_kw": unserved, "plan_deviation_kw": deviation,
            "price_eur_mwh": price, "cost_eur": cost, "iterations": iterations}


def admm_totals(scenario: Scenario, records: list[dict],
                negotiations: list[tuple[int, int, AdmmResult, float]], gaps: list[float], *,
                market: bool, seed: int, sites: int) -> dict:
    """The totals of an ADMM run (one process or site processes): energies, gaps, cost,
    and each negotiation's outcome, from the step ``records`` and the ``negotiations``
    (first step, horizon, result, wall seconds); ``gaps`` are the last step's battery
    energy gaps to the plan (kWh, absolute). A negotiation whose target the sites cannot
    meet says ``infeasible`` and, per step of its window, the energy it plans to leave
    unserved (``unserved_kwh_by_step``); ``infeasible`` on the whole run is any of them."""
    dt_h = scenario.dt_h
    recs = records
    dropped: dict[str, str] = {}
    out = []
    for k, horizon, result, seconds in negotiations:
        out.append({
            "step": k, "horizon": horizon, "converged": result.converged,
            "reason": result.reason, "iterations": result.iterations,
            "cost_eur": result.cost_eur, "primal_residual": result.primal_residual,
            "dual_residual": result.dual_residual, "dropped": dict(result.dropped),
            "relaxation_dropped_at": result.relaxation_dropped_at, "wall_s": seconds,
            "infeasible": result.infeasible,
            "unserved_kwh_by_step": (None if result.unserved_kwh is None
                                     else [float(v) for v in result.unserved_kwh])})
        for site, why in result.dropped.items():
            dropped.setdefault(site, f"step {k}: {why}")
    return {
        "scenario": scenario.name,
        "coordination": "admm",
        "coupling": "market" if market else "target",
        "seed": seed,
        "steps": len(recs),
        "sites": sites,
        "target_kwh": sum(abs(r["target_kw"]) for r in recs) * dt_h,
        "planned_kwh": sum(abs(r["planned_kw"]) for r in recs) * dt_h,
        "served_kwh": sum(abs(r["served_kw"]) for r in recs) * dt_h,
        "unserved_kwh": sum(r["unserved_kw"] for r in recs) * dt_h,
        "steps_with_unserved": sum(1 for r in recs if r["unserved_kw"] > 1e-6),
        "max_target_gap_kw": max((abs(r["served_kw"] - r["target_kw"]) for r in recs),
                                 default=0.0),
        "plan_deviation_kwh": sum(abs(r["plan_deviation_kw"]) for r in recs) * dt_h,
        "max_plan_deviation_kw": max((abs(r["plan_deviation_kw"]) for r in recs),
                                     default=0.0),
        "max_battery_energy_gap_kwh": max(gaps, default=None),
        "reserve_shortfall_kwh": 0.0,
        "cost_eur": sum(r["cost_eur"] for r in recs),
        "converged": all(n["converged"] for n in out),
        "infeasible": any(n["infeasible"] for n in out),
        "iterations": sum(n["iterations"] for n in out),
        "negotiations": out,
        "dropped_sites": dropped,
        "declines": 0,
        "rounds": sum(n["iterations"] for n in out),
    }
