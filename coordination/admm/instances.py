"""Random but feasible ADMM instances (sites and a coupling), for tests and benchmarks.

Every site has a battery; most also have a curtailable generator (a PV-like profile) and
some a flexible load. The target is drawn inside what the fleet can do for sure: each
site's net schedule at its baseline (battery idle, all generation, baseline load) plus a
share of the batteries' power that keeps every state of charge in bounds.
"""

from __future__ import annotations

import numpy as np
from vpp.coordination.admm.model import (
    AdmmFlexibleLoad,
    AdmmGenerator,
    MarketCoupling,
    SiteModel,
    TargetCoupling,
)
from vpp.physics.battery import BatteryParams


def random_sites(n_sites: int, horizon: int = 24, dt_h: float = 1.0,
                 seed: int = 0) -> list[SiteModel]:
    """``n_sites`` random sites over ``horizon`` steps of ``dt_h`` hours."""
    rng = np.random.default_rng(seed)
    hours = np.arange(horizon) * dt_h
    sun = np.clip(np.sin((hours % 24 - 6.0) / 12.0 * np.pi), 0.0, None)
    sites = []
    for i in range(n_sites):
        cap = float(rng.uniform(50.0, 200.0))
        battery = BatteryParams(
            capacity_kwh=cap, p_charge_max_kw=cap * float(rng.uniform(0.25, 0.5)),
            p_discharge_max_kw=cap * float(rng.uniform(0.25, 0.5)),
            eta_c=float(rng.uniform(0.9, 0.97)), eta_d=float(rng.uniform(0.9, 0.97)),
            soc_init=0.5, soc_final_min=0.5,
            degradation_eur_mwh=float(rng.uniform(10.0, 50.0)),
            wear_eur_kw2h=float(rng.uniform(1e-4, 5e-4)))
        generator = None
        if rng.random() < 0.7:
            peak = float(rng.uniform(20.0, 150.0))
            avail = peak * sun * rng.uniform(0.7, 1.0, horizon)
            generator = AdmmGenerator(
                available_kw=tuple(float(a) for a in avail),
                fuel_eur_mwh=float(rng.uniform(0.0, 20.0)),
                fuel_quad=float(rng.uniform(0.0, 2e-4)),
                curtail_eur_mwh=float(rng.uniform(0.0, 30.0)),
                curtail_quad=float(rng.uniform(1e-4, 1e-3)))
        load = None
        if rng.random() < 0.5:
            base = rng.uniform(10.0, 60.0, horizon)
            load = AdmmFlexibleLoad(
                baseline_kw=tuple(float(b) for b in base),
                min_kw=tuple(float(b) * 0.6 for b in base),
                max_kw=tuple(float(b) * 1.4 for b in base),
                discomfort_quad=float(rng.uniform(5e-4, 5e-3)))
        tariff = tuple(float(p) for p in rng.uniform(20.0, 80.0, horizon)) \
            if rng.random() < 0.3 else ()
        sites.append(SiteModel(f"site-{i:04d}", horizon, dt_h, battery, generator, load,
                               tariff))
    return sites


def baseline_kw(site: SiteModel) -> np.ndarray:
    """The site's net schedule with the battery idle, all generation and baseline load."""
    x = np.zeros(site.horizon)
    if site.generator is not None:
        x += np.asarray(site.generator.available_kw)
    if site.load is not None:
        x -= np.asarray(site.load.baseline_kw)
    return x


def random_target(sites: list[SiteModel], seed: int = 0) -> TargetCoupling:
    """A feasible target: the baseline sum plus a battery swing that returns to the start."""
    rng = np.random.default_rng(seed + 1)
    horizon = sites[0].horizon
    base = np.sum([baseline_kw(s) for s in sites], axis=0)
    # a zero-mean swing of a twelfth of the fleet's battery power stays inside the
    # batteries' energy bounds
    power = sum(min(s.battery.p_charge_max_kw, s.battery.p_discharge_max_kw)
                for s in sites if s.battery is not None)
    shape = rng.normal(0.0, 1.0, horizon)
    shape = np.cumsum(shape)
    shape = shape - shape.mean()
    shape = shape / max(float(np.abs(shape).max()), 1e-9)
    # batteries lose energy on a round trip: a small constant absorption pays for it
    return TargetCoupling(tuple(float(v) for v in base + power * (0.08 * shape - 0.02)))


def random_market(sites: list[SiteModel], seed: int = 0) -> MarketCoupling:
    """Market prices with a daily shape, and grid limits that bind some of the time."""
    rng = np.random.default_rng(seed + 2)
    horizon, dt_h = sites[0].horizon, sites[0].dt_h
    hours = np.arange(horizon) * dt_h
    price = 50.0 + 30.0 * np.sin((hours % 24 - 9.0) / 24.0 * 2 * np.pi) \
        + rng.normal(0.0, 5.0, horizon)
    base = np.sum([baseline_kw(s) for s in sites], axis=0)
    limit = float(np.abs(base).max()) * 0.8 + 1.0
    return MarketCoupling(tuple(float(p) for p in price), limit, limit)
