"""When the sites cannot meet the coupling: capacity bounds, stagnation, the price cap.

Two tests, both in ``docs/protocols/admm.md``:

- **Capacity bounds** (before the first update). Each site sends, with its round-0
  schedule, the lowest and highest net power it could have in each step
  (:func:`net_bounds_kw`: device power limits, narrowed by what the battery's energy window,
  its start and its end-of-horizon floor allow). They are necessary bounds: a target
  outside their sum cannot be met by any schedule. The aggregator then negotiates the
  servable target (the target clipped to the bounds) and reports the rest as unserved.
- **Stagnation of the primal residual**. Bounds per step miss what couples the steps (a
  battery cannot discharge at full power all day). When the target is infeasible anyway,
  the schedules settle while the scaled price ``u`` grows without bound: the primal
  residual stays flat above its tolerance. :class:`Stagnation` notices that and the
  negotiation stops, infeasible, long before the iteration cap.

In steps with unserved energy the price is the value of lost load (``VOLL_EUR_MWH``) when
the fleet falls short, and the price floor (``PRICE_FLOOR_EUR_MWH``) when it cannot absorb
enough; every price is kept within those two.
"""

from __future__ import annotations

import math

import numpy as np
from vpp.coordination.admm.model import SiteModel

VOLL_EUR_MWH = 4000.0
"""The value of lost load used as the price cap: the SDAC harmonised maximum clearing price
of the European day-ahead coupling (+4,000 EUR/MWh since 10 May 2022; HMMCP methodology,
CACM Regulation (EU) 2015/1222, art. 41(1)), the most the day-ahead market pays for energy."""

PRICE_FLOOR_EUR_MWH = -500.0
"""The price floor, for a fleet that cannot absorb enough: the SDAC harmonised minimum
clearing price (-500 EUR/MWh, same methodology)."""


def net_bounds_kw(site: SiteModel) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and the highest net power (kW, + injection) ``site`` can have in each step.

    Necessary bounds, each step on its own: battery power within its limits and within
    what its energy allows (the most it can have stored before the step, reaching it from
    ``soc_init`` at full power; the least it must keep after it, to reach ``soc_min`` and
    ``soc_final_min`` at full power); generation within ``[0, available]``; a flexible load
    within ``[min, max]`` and within what its fixed total leaves for that step.
    """
    horizon, dt = site.horizon, site.dt_h
    low = np.zeros(horizon)
    high = np.zeros(horizon)
    b = site.battery
    if b is not None:
        t = np.arange(horizon)
        gain = b.p_charge_max_kw * b.eta_c * dt          # most energy stored in a step
        drain = b.p_discharge_max_kw * dt / b.eta_d      # most energy drawn in a step
        start = b.e_init_kwh
        before_high = np.minimum(b.e_max_kwh, start + t * gain)
        before_low = np.maximum(b.e_min_kwh, start - t * drain)
        after_low = np.maximum(b.e_min_kwh, b.e_final_min_kwh - (horizon - 1 - t) * gain)
        discharge = np.clip((before_high - after_low) * b.eta_d / dt, 0.0, b.p_discharge_max_kw)
        charge = np.clip((b.e_max_kwh - before_low) / (b.eta_c * dt), 0.0, b.p_charge_max_kw)
        low -= charge
        high += discharge
    g = site.generator
    if g is not None:
        high += np.asarray(g.available_kw, dtype=float)
    ld = site.load
    if ld is not None:
        lo, hi = np.asarray(ld.min_kw, dtype=float), np.asarray(ld.max_kw, dtype=float)
        total = float(np.sum(ld.baseline_kw))
        most = np.minimum(hi, total - (lo.sum() - lo))
        least = np.maximum(lo, total - (hi.sum() - hi))
        low -= most
        high -= least
    return low, high


def check_bounds(low: list[float], high: list[float], horizon: int) -> str | None:
    """Why a site's reported bounds are unusable (the field named), or None."""
    if len(low) != horizon or len(high) != horizon:
        return (f"AdmmSchedule.low_kw/high_kw must have {horizon} values, got {len(low)}, "
                f"{len(high)}")
    if not (all(map(math.isfinite, low)) and all(map(math.isfinite, high))):
        return "AdmmSchedule.low_kw/high_kw has a non-finite value"
    if any(lo > hi + 1e-9 * max(1.0, abs(hi)) for lo, hi in zip(low, high)):
        return "AdmmSchedule.low_kw is above high_kw in some step"
    return None


def capacity_shortfall_kw(target_kw: np.ndarray, low_kw: np.ndarray,
                          high_kw: np.ndarray) -> np.ndarray:
    """How far each step's target lies outside ``[low, high]`` (kW, >= 0; round-off of
    1e-9 of the target's scale reported as 0)."""
    short = np.maximum(np.maximum(target_kw - high_kw, low_kw - target_kw), 0.0)
    scale = max(1.0, float(np.abs(target_kw).max(initial=0.0)))
    short[short <= 1e-9 * scale] = 0.0
    return short


def capped_price(price_eur_mwh: np.ndarray, shortage: np.ndarray, surplus: np.ndarray,
                 voll: float, floor: float) -> np.ndarray:
    """The price within ``[floor, voll]``: ``voll`` where the fleet falls short of the
    target, ``floor`` where it cannot absorb enough."""
    price = np.clip(np.asarray(price_eur_mwh, dtype=float), floor, voll)
    price[shortage] = voll
    price[surplus] = floor
    return price


class Stagnation:
    """Notices a primal residual that stays flat above its tolerance.

    ``update(r, eps_pri)`` returns True when, over the last ``window`` iterations, the
    primal residual stayed above its tolerance and moved by at most ``tolerance`` of its
    size: the sites' schedules have settled short of the coupling while the price keeps
    growing, the signature of an infeasible coupling in ADMM.
    """

    def __init__(self, window: int, tolerance: float) -> None:
        self.window = window
        self.tolerance = tolerance
        self._history: list[float] = []

    def update(self, primal_residual: float, eps_pri: float) -> bool:
        """Add one iteration; True when the residual has stagnated."""
        history = self._history
        if primal_residual <= eps_pri:
            history.clear()
            return False
        history.append(primal_residual)
        if len(history) <= self.window:
            return False
        del history[0]
        return max(history) - min(history) <= self.tolerance * primal_residual
