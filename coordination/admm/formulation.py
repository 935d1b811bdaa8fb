"""A site's private cost and constraints as cvxpy expressions, shared by the local
solver and the centralized reference (so both solve exactly the same problem)."""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
from vpp.coordination.admm.model import SiteModel


@dataclass
class SiteFormulation:
    """The cvxpy pieces of one site: its net schedule, cost and constraints.

    ``parts`` holds the device variables (``charge``, ``discharge``, ``energy``,
    ``generation``, ``load``) that exist, for reading a solution back.
    """

    x: cp.Variable
    cost: cp.Expression
    constraints: list[cp.Constraint]
    parts: dict[str, cp.Variable]


def formulate(site: SiteModel) -> SiteFormulation:
    """Build the variables, private cost (EUR) and private constraints of ``site``."""
    T, dt = site.horizon, site.dt_h
    x = cp.Variable(T, name=f"{site.name}.x")
    net: cp.Expression = 0
    cost: cp.Expression = cp.Constant(0.0)
    cons: list[cp.Constraint] = []
    parts: dict[str, cp.Variable] = {}
    b = site.battery
    if b is not None:
        c = cp.Variable(T, nonneg=True, name=f"{site.name}.charge")
        d = cp.Variable(T, nonneg=True, name=f"{site.name}.discharge")
        e = cp.Variable(T + 1, name=f"{site.name}.energy")
        cons += [
            c <= b.p_charge_max_kw, d <= b.p_discharge_max_kw,
            e[0] == b.e_init_kwh,
            e[1:] == e[:-1] + (b.eta_c * dt) * c - (dt / b.eta_d) * d,
            e >= b.e_min_kwh, e <= b.e_max_kwh,
            e[T] >= b.e_final_min_kwh,
        ]
        net = net + d - c
        cost = cost + b.degradation_eur_kwh * dt * cp.sum(c + d)
        if b.wear_eur_kw2h > 0:
            cost = cost + b.wear_eur_kw2h * dt * (cp.sum_squares(c) + cp.sum_squares(d))
        parts.update(charge=c, discharge=d, energy=e)
    g = site.generator
    if g is not None:
        avail = np.asarray(g.available_kw, dtype=float)
        p = cp.Variable(T, nonneg=True, name=f"{site.name}.generation")
        cons.append(p <= avail)
        net = net + p
        cost = cost + (g.fuel_eur_mwh * dt / 1000.0) * cp.sum(p)
        cost = cost + (g.curtail_eur_mwh * dt / 1000.0) * cp.sum(avail - p)
        if g.fuel_quad > 0:
            cost = cost + g.fuel_quad * dt * cp.sum_squares(p)
        if g.curtail_quad > 0:
            cost = cost + g.curtail_quad * dt * cp.sum_squares(avail - p)
        parts["generation"] = p
    ld = site.load
    if ld is not None:
        base = np.asarray(ld.baseline_kw, dtype=float)
        l = cp.Variable(T, name=f"{site.name}.load")
        cons += [l >= np.asarray(ld.min_kw), l <= np.asarray(ld.max_kw),
                 cp.sum(l) == float(base.sum())]
        net = net - l
        if ld.discomfort_quad > 0:
            cost = cost + ld.discomfort_quad * dt * cp.sum_squares(l - base)
        parts["load"] = l
    if site.tariff_eur_mwh:
        tariff = np.asarray(site.tariff_eur_mwh, dtype=float)
        cost = cost - (dt / 1000.0) * (tariff @ x)
    cons.append(x == net)
    return SiteFormulation(x, cost, cons, parts)
