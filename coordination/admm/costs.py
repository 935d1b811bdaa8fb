"""A site's private cost step by step, from its device schedules (no solver imported).

The cost of ``formulation.py`` is a sum over the steps of the horizon; this splits it, so
that a run can book each step's share. The steps add up to the local solve's
``cost_eur`` (a test checks it). ``parts`` are a local solution's device schedules
(``charge``, ``discharge``, ``generation``, ``load``; kW) and ``schedule_kw`` its net one.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from vpp.coordination.admm.model import SiteModel


def step_costs_eur(site: SiteModel, parts: Mapping[str, np.ndarray],
                   schedule_kw: np.ndarray) -> np.ndarray:
    """The site's private cost (EUR) in each step of its horizon."""
    dt = site.dt_h
    cost = np.zeros(site.horizon)
    b = site.battery
    if b is not None:
        c, d = np.asarray(parts["charge"]), np.asarray(parts["discharge"])
        cost += b.degradation_eur_kwh * dt * (c + d) + b.wear_eur_kw2h * dt * (c * c + d * d)
    g = site.generator
    if g is not None:
        avail = np.asarray(g.available_kw, dtype=float)
        p = np.asarray(parts["generation"])
        spill = avail - p
        cost += (g.fuel_eur_mwh * p + g.curtail_eur_mwh * spill) * dt / 1000.0
        cost += (g.fuel_quad * p * p + g.curtail_quad * spill * spill) * dt
    ld = site.load
    if ld is not None:
        shift = np.asarray(parts["load"]) - np.asarray(ld.baseline_kw, dtype=float)
        cost += ld.discomfort_quad * dt * shift * shift
    if site.tariff_eur_mwh:
        cost -= np.asarray(site.tariff_eur_mwh, dtype=float) * np.asarray(schedule_kw) * dt / 1000.0
    return cost
