"""The ``stochastic`` problem kind: the CVaR plug-in, its rule-based fallback, the check.

A plug-in's solution must hold ``battery_power`` (kW per step, positive = discharge); the
engine accepts it only if the schedule keeps the battery's power, energy and
end-of-horizon limits and the grid limits in every scenario, and it re-scores it itself
(``metadata["checked_expected_cost"]``) rather than trusting the plug-in's number.
"""

from __future__ import annotations

import numpy as np
from vpp.coordination.planning.cvar import Plan, PlanningError, score, solve_stochastic
from vpp.coordination.planning.model import StochasticProblem, schedule_violation
from vpp.coordination.planning.results import (
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    ProblemKind,
    register_kind,
)
from vpp.coordination.planning.rules import rule_based_plan

_SOLVER_PACKAGES = {"HIGHS": "highspy", "CLARABEL": "clarabel", "OSQP": "osqp",
                    "SCS": "scs", "ECOS": "ecos"}
"""The Python package each cvxpy solver needs (cvxpy reports a solver installed when it
imports)."""


def plan_solution(plan: Plan, problem: StochasticProblem) -> dict:
    """A plan as the named values of a result's ``solution`` (lists of floats)."""
    cap = problem.storage.capacity_kwh
    return {
        "battery_power": plan.power_kw.tolist(),
        "charge_kw": plan.charge_kw.tolist(),
        "discharge_kw": plan.discharge_kw.tolist(),
        "energy_kwh": plan.energy_kwh.tolist(),
        "state_of_charge": (plan.energy_kwh / cap).tolist(),
        "expected_cost": plan.expected_cost_eur,
        "cvar": plan.cvar_eur,
        "battery_cost": plan.battery_cost_eur,
        "scenario_costs": plan.scenario_cost_eur.tolist(),
    }


def plan_metadata(plan: Plan) -> dict:
    """The figures of a plan a caller wants beside its solution."""
    return {"expected_cost": plan.expected_cost_eur, "cvar": plan.cvar_eur,
            "risk_level": plan.risk_level, "risk_weight": plan.risk_weight,
            "battery_cost": plan.battery_cost_eur, "solver_status": plan.status,
            "build_s": plan.build_s, "solver_s": plan.solve_s}


class CVaRStochasticPlugin(OptimizationPlugin):
    """The two-stage CVaR LP (:func:`.cvar.solve_stochastic`, cvxpy + HiGHS) as a plug-in.

    Args:
        risk_level: the CVaR's tail probability (default: the problem's, 0.05 unless set).
        risk_weight: 0 = expected cost only, 1 = CVaR only (default: the problem's).
        solver: the cvxpy solver.
    """

    def __init__(self, risk_level: float | None = None, risk_weight: float | None = None,
                 solver: str = "HIGHS") -> None:
        super().__init__("cvar_stochastic", "2.0")
        self.risk_level, self.risk_weight, self.solver = risk_level, risk_weight, solver

    def is_available(self) -> bool:
        """True when cvxpy and the solver's Python package are installed.

        Found without importing them (importing cvxpy takes one to two seconds), so the
        check spends nothing of a solve's timeout; the import happens in ``solve``, inside
        the timed, killable child process. A solver whose package is not known here is
        checked by cvxpy itself (which imports cvxpy).
        """
        from importlib.util import find_spec

        if find_spec("cvxpy") is None:
            return False
        package = _SOLVER_PACKAGES.get(self.solver.upper())
        if package is not None:
            return find_spec(package) is not None
        import cvxpy as cp

        return self.solver in cp.installed_solvers()

    def validate_problem(self, problem: object) -> bool:
        """Stochastic battery problems only."""
        return isinstance(problem, StochasticProblem)

    def solve(self, problem: StochasticProblem,
              timeout_ms: int | None = None) -> OptimizationResult:
        """Solve the LP; an infeasible or failed LP is a ``FAILED`` result with its reason."""
        try:
            plan = solve_stochastic(problem, self.risk_level, self.risk_weight, self.solver)
        except PlanningError as exc:
            return OptimizationResult(status=OptimizationStatus.FAILED,
                                      objective_value=float("inf"), method=self.name,
                                      metadata={"error": str(exc)})
        return OptimizationResult(
            status=OptimizationStatus.SUCCESS, objective_value=plan.expected_cost_eur,
            solution=plan_solution(plan, problem), solve_time=plan.build_s + plan.solve_s,
            metadata=plan_metadata(plan), method=self.name)


def _fallback(problem: StochasticProblem, reason: str) -> OptimizationResult:
    plan = rule_based_plan(problem)
    return OptimizationResult(
        status=OptimizationStatus.FALLBACK_USED, objective_value=plan.expected_cost_eur,
        solution=plan_solution(plan, problem),
        metadata={**plan_metadata(plan), "fallback_cost": plan.expected_cost_eur},
        method="rules: charge in the cheapest hours, discharge in the dearest",
        fallback_used=True, fallback_reason=reason)


def _check(problem: StochasticProblem, solution: dict) -> tuple[str | None, dict]:
    power = solution.get("battery_power")
    if power is None:
        return "the solution has no battery_power", {}
    try:
        p = np.asarray(power, dtype=float)
    except (TypeError, ValueError):
        return "battery_power is not a list of numbers", {}
    if p.shape != (problem.horizon,):
        return f"battery_power must have {problem.horizon} values, got shape {p.shape}", {}
    st = problem.storage
    c, d = np.maximum(-p, 0.0), np.maximum(p, 0.0)
    bad = schedule_violation(st, c, d, problem.dt_h, tol_kwh=1e-5 * st.capacity_kwh + 1e-6)
    if bad is not None:
        return f"the plan is not feasible: {bad}", {}
    plan = score(problem, c, d, method="check", status="checked",
                 risk_level=problem.risk_level, risk_weight=problem.risk_weight)
    if not np.isfinite(plan.scenario_cost_eur).all():
        return "the plan breaks the grid limits in some scenario", {}
    return None, {"checked_expected_cost": plan.expected_cost_eur, "checked_cvar": plan.cvar_eur}


register_kind(ProblemKind("stochastic", CVaRStochasticPlugin, _fallback, _check))
