"""The aggregator plans its day-ahead position with the CVaR planner (``docs/planning.md``).

A scenario's ``market.day_ahead.plan`` switches it on. Before the auction the aggregator
treats its fleet's batteries as one store, draws price scenarios around the scenario's
day-ahead prices (real DE-LU 2019 forecast errors by default,
:mod:`vpp.coordination.planning.scenarios`), solves the two-stage CVaR LP through the solver
engine (:func:`vpp.coordination.planning.solve_with_fallback`, which falls back to the rule
plan and says so), and bids the plan: each hour's planned power as a price-independent
quantity (a sale at the price floor or a purchase at the cap). The cleared position is
then the merit-order target, as for any day-ahead sale (``runs/modes/merit_order/market.py``).

The store is the sum of the batteries; its power limits are the fleet's capacity times
the smallest power-to-capacity ratio of its batteries, so a split of the plan in
proportion to capacity is within every battery's limits. The batteries must share their
efficiencies and state-of-charge window and start (checked with the scenario), so each
one's share follows the plan's state-of-charge path. Each site holds one battery and bids
its share of the plan as a firm baseline
(:class:`vpp.coordination.planning.bidding.PlanShareBidder`, in place of its strategy), so the
merit-order award of each step is the plan and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timezone

from vpp.runs.scenario.devices import BatterySpec
from vpp.runs.scenario.market import PlanSpec

__all__ = ["PlanSpec", "PlannedPosition", "check_plan", "follow_plan", "plan_day_ahead"]


_SHARED = ("eta_c", "eta_d", "soc_min", "soc_max", "state_of_charge")


def check_plan(scenario, fail) -> None:
    """The checks of ``market.day_ahead.plan``; ``fail(path, message)`` raises."""
    plan = scenario.market.day_ahead.plan
    if plan is None:
        return
    where = "market.day_ahead.plan"
    if scenario.market.ancillary is not None:
        fail(where, "the plan uses the whole of each battery: leave `market.ancillary` out "
                    "when the aggregator plans its day-ahead position")
    if plan.price_volatility is not None and not math.isfinite(plan.price_volatility):
        fail(f"{where}.price_volatility", "Expected a finite number")
    first: tuple[str, BatterySpec] | None = None
    for i, site in enumerate(scenario.sites):
        if site.strategy != "marginal-cost":
            fail(where, f"each site bids its share of the aggregator's plan: leave "
                        f"sites[{i}].strategy out")
        if len(site.devices) != 1:
            fail(where, f"each site runs its share of the plan on one battery: sites[{i}] "
                        f"has {len(site.devices)} devices")
        for j, dev in enumerate(site.devices):
            path = f"sites[{i}].devices[{j}]"
            if not isinstance(dev, BatterySpec):
                fail(where, f"the planner plans a fleet of batteries; {path} "
                            f"({dev.name!r}) is not a battery")
            if first is None:
                first = (path, dev)
                continue
            for name in _SHARED:
                if getattr(dev, name) != getattr(first[1], name):
                    fail(where, f"the planner treats the batteries as one store: {path}.{name} "
                                f"({getattr(dev, name)}) differs from {first[0]}.{name} "
                                f"({getattr(first[1], name)})")


@dataclass(frozen=True)
class PlannedPosition:
    """The plan the aggregator bids: power per hour (kW, + = sell) and the engine's result."""

    power_kw: list[float]
    result: object          # coordination.planning.OptimizationResult
    scenarios: int
    errors: str
    capacity_kwh: float

    def summary(self) -> dict:
        """The ``market.day_ahead.plan`` part of ``summary.json`` (units in the names)."""
        r = self.result
        meta = r.metadata
        return {
            "method": r.method,
            "status": r.status.value,
            "fallback_used": r.fallback_used,
            "fallback_reason": r.fallback_reason,
            "plugin_error": r.plugin_error,
            "expected_cost_eur": meta.get("checked_expected_cost", meta.get("expected_cost")),
            "expected_revenue_eur": -meta.get("checked_expected_cost",
                                              meta.get("expected_cost")),
            "cvar_eur": meta.get("checked_cvar", meta.get("cvar")),
            "risk_level": meta.get("risk_level"),
            "risk_weight": meta.get("risk_weight"),
            "scenarios": self.scenarios,
            "errors": self.errors,
            "capacity_kwh": self.capacity_kwh,
            "planned_kw": list(self.power_kw),
            "solve_s": r.solve_time,
        }


def fleet_storage(model, degradation_eur_mwh: float = 0.0):
    """The fleet's batteries as one battery description
    (:class:`~vpp.physics.battery.BatteryParams`), for the planner."""
    from vpp.physics.battery import Battery, BatteryParams

    batteries = [d.model for s in model.sites for d in s.devices
                 if isinstance(d.model, Battery)]
    cap = sum(b.capacity_kwh for b in batteries)
    ratio_c = ratio_d = math.inf
    for b in batteries:
        flex = b.flexibility(1, model.scenario.dt_h)
        ratio_c = min(ratio_c, -flex.p_min_kw[0] / b.capacity_kwh)
        ratio_d = min(ratio_d, flex.p_max_kw[0] / b.capacity_kwh)
    p = batteries[0].params
    soc = sum(b.energy_kwh for b in batteries) / cap
    soc = min(max(soc, p.soc_min), p.soc_max)
    return BatteryParams(cap, cap * ratio_c, cap * ratio_d, p.eta_c, p.eta_d, p.soc_min,
                         p.soc_max, soc, degradation_eur_mwh=degradation_eur_mwh)


def plan_day_ahead(model, prices_eur_mwh: list[float], spec: PlanSpec) -> PlannedPosition:
    """Plan the fleet's hourly position at ``prices_eur_mwh`` under ``spec`` (one solve
    through the engine, which falls back to the rule plan and says so)."""
    from vpp.coordination.planning import CVaRStochasticPlugin, solve_with_fallback
    from vpp.coordination.planning.model import StochasticProblem
    from vpp.coordination.planning.scenarios import Uncertainty, generate_scenarios

    scenario = model.scenario
    storage = fleet_storage(model, spec.degradation_eur_mwh)
    volatility = spec.price_volatility
    uncertainty = Uncertainty(0.2 if volatility is None else volatility, 0.0, 0.0)
    start_hour = scenario.start.astimezone(timezone.utc).hour
    sc = generate_scenarios(
        prices_eur_mwh, count=spec.scenarios, uncertainty=uncertainty, method=spec.errors,
        seed=scenario.seed if spec.seed is None else spec.seed, dt_h=1.0,
        start_hour=start_hour, scale_to_sigma=volatility is not None)
    problem = StochasticProblem(storage, sc, risk_level=spec.risk_level,
                                risk_weight=spec.risk_weight)
    # load the solver here, so that the forked solve's timeout is spent on the solve,
    # not on importing cvxpy
    import cvxpy  # noqa: F401
    result = solve_with_fallback(problem, CVaRStochasticPlugin(spec.risk_level,
                                                               spec.risk_weight),
                                 timeout_ms=spec.timeout_ms)
    power = [float(v) for v in result.solution["battery_power"]]
    return PlannedPosition(power, result, spec.scenarios, spec.errors, storage.capacity_kwh)


def follow_plan(model, plan: PlannedPosition) -> None:
    """Each site bids its battery's share of ``plan`` (in proportion to capacity)."""
    from vpp.coordination.planning.bidding import PlanShareBidder

    for site in model.sites:
        share = sum(d.model.capacity_kwh for d in site.devices) / plan.capacity_kwh
        site.strategy = PlanShareBidder([share * p for p in plan.power_kw])
