"""The centralized reference: the ADMM problem solved in one piece with cvxpy.

Same site formulations as the local solves (``formulation.py``), same coupling; the dual
of the coupling constraint is the price the negotiation must find. Prices are reported in
EUR/MWh as the marginal value of one more kW injected in a step: ``-y * 1000 / dt_h``
with ``y`` the multiplier of ``sum x_i - target = 0`` in ``L = f + y (sum x - target)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
from vpp.coordination.admm.formulation import formulate
from vpp.coordination.admm.model import (
    Coupling,
    MarketCoupling,
    SiteModel,
    TargetCoupling,
)


@dataclass(frozen=True)
class CentralResult:
    """The optimum of the whole problem.

    ``cost_eur`` counts the sites' private costs (and, in market mode, minus the
    portfolio's market revenue); ``site_cost_eur`` the sites' costs alone.
    """

    status: str
    cost_eur: float
    site_cost_eur: float
    schedules_kw: dict[str, np.ndarray]
    parts: dict[str, dict[str, np.ndarray]]
    price_eur_mwh: np.ndarray
    solve_s: float
    build_s: float


def check_instance(sites: Sequence[SiteModel], coupling: Coupling) -> tuple[int, float]:
    """The common horizon and step of ``sites``; errors name the site and the field."""
    if not sites:
        raise ValueError("sites must not be empty")
    horizon, dt_h = sites[0].horizon, sites[0].dt_h
    names = set()
    for s in sites:
        if s.horizon != horizon or s.dt_h != dt_h:
            raise ValueError(f"site {s.name}: horizon/dt_h ({s.horizon}, {s.dt_h}) differ from "
                             f"the first site's ({horizon}, {dt_h})")
        if s.name in names:
            raise ValueError(f"site names must be unique: {s.name} twice")
        names.add(s.name)
    coupling.check(horizon)
    return horizon, dt_h


def solve_centralized(sites: Sequence[SiteModel], coupling: Coupling,
                      solver: str = "CLARABEL") -> CentralResult:
    """Solve every site and the coupling together; raise ``RuntimeError`` if not optimal."""
    horizon, dt_h = check_instance(sites, coupling)
    t0 = time.perf_counter()
    forms = [formulate(s) for s in sites]
    total = cp.sum([f.x for f in forms]) if len(forms) > 1 else forms[0].x
    site_cost = cp.sum([f.cost for f in forms]) if len(forms) > 1 else forms[0].cost
    constraints = [c for f in forms for c in f.constraints]
    objective = site_cost
    if isinstance(coupling, TargetCoupling):
        coupling_con = total == np.asarray(coupling.target_kw, dtype=float)
        constraints.append(coupling_con)
    elif isinstance(coupling, MarketCoupling):
        s = cp.Variable(horizon, name="portfolio")
        coupling_con = s == total
        price = np.asarray(coupling.price_eur_mwh, dtype=float)
        objective = site_cost - (dt_h / 1000.0) * (price @ s)
        constraints += [coupling_con, s >= -coupling.import_max_kw,
                        s <= coupling.export_max_kw]
    else:
        raise TypeError(f"coupling must be a TargetCoupling or MarketCoupling, "
                        f"got {type(coupling).__qualname__}")
    problem = cp.Problem(cp.Minimize(objective), constraints)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    problem.solve(solver=solver)
    solve_s = time.perf_counter() - t0
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"centralized problem is {problem.status}")
    # cvxpy's dual of ``lhs == rhs`` is the multiplier of (lhs - rhs) in L = f + y (lhs - rhs);
    # for the market form the constraint is ``s == total``: the sign flips
    y = np.asarray(coupling_con.dual_value, dtype=float)
    if isinstance(coupling, MarketCoupling):
        y = -y
    return CentralResult(
        status=problem.status,
        cost_eur=float(problem.value),
        site_cost_eur=float(site_cost.value),
        schedules_kw={s.name: np.asarray(f.x.value, dtype=float) for s, f in zip(sites, forms)},
        parts={s.name: {k: np.asarray(v.value, dtype=float) for k, v in f.parts.items()}
               for s, f in zip(sites, forms)},
        price_eur_mwh=-y * 1000.0 / dt_h,
        solve_s=solve_s,
        build_s=build_s,
    )
