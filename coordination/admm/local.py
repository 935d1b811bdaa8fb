"""A site's local ADMM step: the proximal problem, built once and re-solved warm.

Each round the site minimises ``f(x) + rho/2 * |x - v|^2`` over its private constraints.
Expanded, the proximal term is ``rho/2 * |x|^2 - (rho * v) @ x + const``; with the
parameters ``half_rho`` (= rho / 2, non-negative) and ``linear`` (= rho * v) the problem
follows the disciplined parametrized programming rules (DPP), so cvxpy compiles it once and
every later solve only swaps the parameter values into the cached canonical form.
"""

from __future__ import annotations

import logging
import math

import cvxpy as cp
import numpy as np
from vpp.coordination.admm.formulation import formulate
from vpp.coordination.admm.model import SiteModel
from vpp.coordination.admm.solution import LocalSolution, LocalSolveError

log = logging.getLogger(__name__)

DEFAULT_SOLVER = "CLARABEL"
"""The interior-point QP solver used unless told otherwise (accurate, no tuning)."""


class LocalProblem:
    """The proximal problem of one site, compiled once.

    Args:
        site: the site's private model.
        solver: a cvxpy solver name (``CLARABEL`` or ``OSQP``; OSQP is warm-started).
    """

    def __init__(self, site: SiteModel, solver: str = DEFAULT_SOLVER) -> None:
        self.site = site
        self.solver = solver
        form = formulate(site)
        self._form = form
        self.half_rho = cp.Parameter(nonneg=True, name="half_rho", value=0.5)
        self.linear = cp.Parameter(site.horizon, name="linear", value=np.zeros(site.horizon))
        objective = form.cost + self.half_rho * cp.sum_squares(form.x) - self.linear @ form.x
        self.problem = cp.Problem(cp.Minimize(objective), form.constraints)
        if not self.problem.is_dpp():
            raise RuntimeError(f"site {site.name}: the local problem is not DPP")
        self._options: dict = {}
        if solver == "OSQP":
            self._options = {"warm_start": True, "eps_abs": 1e-9, "eps_rel": 1e-9,
                             "max_iter": 200_000, "polish": True}
        self.solves = 0

    def solve(self, rho: float, center: np.ndarray, exact: bool = False) -> LocalSolution:
        """``argmin f(x) + rho/2 |x - center|^2``; raise :class:`LocalSolveError` if none.

        Every solve here is to the solver's full accuracy; ``exact`` (asked for the final
        dispatch) changes nothing.
        """
        if not (math.isfinite(rho) and rho > 0):
            raise LocalSolveError(f"site {self.site.name}: rho must be > 0, got {rho!r}")
        center = np.asarray(center, dtype=float)
        self.half_rho.value = 0.5 * rho
        self.linear.value = rho * center
        try:
            self.problem.solve(solver=self.solver, **self._options)
        except cp.SolverError as exc:
            raise LocalSolveError(f"site {self.site.name}: {self.solver} failed: {exc}") from exc
        self.solves += 1
        if self.problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise LocalSolveError(f"site {self.site.name}: local problem is "
                                  f"{self.problem.status}")
        if self.problem.status == cp.OPTIMAL_INACCURATE:
            log.warning("site %s: local solve inaccurate", self.site.name)
        x = np.asarray(self._form.x.value, dtype=float).copy()
        parts = {k: np.asarray(v.value, dtype=float).copy() for k, v in self._form.parts.items()}
        return LocalSolution(x, float(self._form.cost.value), parts)
