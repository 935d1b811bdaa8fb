"""The merit-order allocation: cheapest offers first, until the target is met.

Pure numpy, no I/O. Bids arrive as flat arrays of segments (site index, signed quantity,
price). Rules, stated once:

- A positive target is served from injection segments (quantity > 0), a negative one from
  absorption segments (quantity < 0); each side is taken in ascending price.
- Ties in price go to the segment that comes first in the arrays (the aggregator orders
  them by site, then by the site's own segment order), so allocation is deterministic.
- The marginal segment is filled partially; the marginal price is the highest price of
  any awarded segment (None when nothing is awarded).
- What the fleet cannot serve is returned as ``unserved_kw``, never hidden.
- Upward reserve comes only from headroom: a site's reserve plus its awarded power never
  exceeds its offered maximum injection. Reserve goes in ascending reserve price, ties to
  the earlier site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SORT_LIMIT = 4096
_BINS = 1024


@dataclass(frozen=True)
class Allocation:
    """The outcome of one merit-order allocation.

    Attributes:
        segment_power_kw: awarded power of every segment (signed like its quantity).
        site_power_kw: awarded power per site (signed).
        site_reserve_kw: awarded upward reserve per site (>= 0).
        served_kw: the awarded total (signed like the target).
        unserved_kw: the part of the target's magnitude that could not be served (>= 0).
        reserve_served_kw: the reserve awarded in total.
        reserve_unserved_kw: the reserve that could not be covered from headroom.
        marginal_price_eur_mwh: the highest price of an awarded segment, or None.
        cost_eur_per_h: what the aggregator pays the sites (pay-as-bid), in EUR/h: the sum
            of each awarded segment's magnitude times its price, so an absorbing site bidding
            a negative price pays the aggregator (a negative cost).
    """

    segment_power_kw: np.ndarray
    site_power_kw: np.ndarray
    site_reserve_kw: np.ndarray
    served_kw: float
    unserved_kw: float
    reserve_served_kw: float
    reserve_unserved_kw: float
    marginal_price_eur_mwh: float | None
    cost_eur_per_h: float


def _before(q: np.ndarray) -> np.ndarray:
    """The sum of the quantities ahead of each one. Not ``cumsum(q) - q``: with one huge
    quantity, that difference cancels the small ones before it (it gave 0 for 500 + 1e308
    - 1e308), so a segment was awarded what an earlier one had already served."""
    before = np.empty_like(q)
    before[:1] = 0.0
    with np.errstate(over="ignore"):  # past the float range, inf: nothing left to award
        np.cumsum(q[:-1], out=before[1:])
    return before


def _fill_sorted(quantity: np.ndarray, price: np.ndarray, need: float) -> np.ndarray:
    order = np.argsort(price, kind="stable")
    q = quantity[order]
    before = _before(q)
    award = np.empty_like(quantity)
    award[order] = np.clip(need - before, 0.0, q)
    return award


def fill(quantity: np.ndarray, price: np.ndarray, need: float) -> np.ndarray:
    """Award non-negative ``quantity`` in ascending ``price`` until ``need`` is met.

    Returns the award per entry (0 <= award <= quantity). Ties in price are filled in
    array order. Large inputs avoid a full sort: a histogram over price finds the
    marginal price band, and only that band is sorted.
    """
    n = quantity.shape[0]
    if n == 0 or need <= 0.0:
        return np.zeros(n)
    if n <= _SORT_LIMIT:
        return _fill_sorted(quantity, price, need)
    lo = float(price.min())
    hi = float(price.max())
    if hi == lo:
        return np.clip(need - _before(quantity), 0.0, quantity)
    band = ((price - lo) * ((_BINS - 1) / (hi - lo))).astype(np.intp)
    per_band = np.bincount(band, weights=quantity, minlength=_BINS)
    first = int(np.searchsorted(np.cumsum(per_band), need, side="left"))
    below = band < first
    award = np.where(below, quantity, 0.0)
    remaining = need - float(award.sum())
    # Normally one band holds the margin; rounding in the cumulative sum may push it on.
    for b in range(first, _BINS):
        if remaining <= 0.0:
            break
        members = np.flatnonzero(band == b)
        if members.size == 0:
            continue
        part = _fill_sorted(quantity[members], price[members], remaining)
        award[members] = part
        remaining -= float(part.sum())
    return award


def snap_shortfall(shortfall: float, scale: float) -> float:
    """A shortfall, with float round-off (relative 1e-9 of ``scale``) reported as zero."""
    return shortfall if shortfall > 1e-9 * max(scale, 1.0) else 0.0


def allocate(
    site_index: np.ndarray,
    quantity_kw: np.ndarray,
    price_eur_mwh: np.ndarray,
    target_kw: float,
    n_sites: int,
    reserve_kw: float = 0.0,
    reserve_price_eur_mw_h: np.ndarray | None = None,
) -> Allocation:
    """Allocate ``target_kw`` (and upward ``reserve_kw``) over bid segments.

    Args:
        site_index: the bidding site (0..n_sites-1) of each segment.
        quantity_kw: each segment's quantity, > 0 to inject, < 0 to absorb.
        price_eur_mwh: each segment's price.
        target_kw: the power to serve: > 0 injection, < 0 absorption.
        n_sites: the number of sites (for the per-site arrays).
        reserve_kw: upward reserve wanted (>= 0).
        reserve_price_eur_mw_h: each site's reserve price (default: all zero).

    Raises:
        ValueError: on arrays of different lengths, non-finite values or a negative reserve.
    """
    site_index = np.asarray(site_index, dtype=np.intp)
    quantity = np.asarray(quantity_kw, dtype=float)
    price = np.asarray(price_eur_mwh, dtype=float)
    if not (site_index.shape == quantity.shape == price.shape):
        raise ValueError("site_index, quantity_kw and price_eur_mwh must have one length")
    if not (np.isfinite(quantity).all() and np.isfinite(price).all()):
        raise ValueError("bid quantities and prices must be finite")
    if not np.isfinite(target_kw):
        raise ValueError(f"target_kw must be finite, got {target_kw}")
    if reserve_kw < 0 or not np.isfinite(reserve_kw):
        raise ValueError(f"reserve_kw must be finite and >= 0, got {reserve_kw}")

    sign = 1.0 if target_kw >= 0 else -1.0
    injection = np.maximum(quantity, 0.0)
    usable = injection if sign > 0 else np.maximum(-quantity, 0.0)
    award = fill(usable, price, abs(target_kw))
    segment_power = sign * award
    served = float(segment_power.sum())
    unserved = snap_shortfall(abs(target_kw) - abs(served), abs(target_kw))
    awarded = award > 0.0
    marginal = float(price[awarded].max()) if awarded.any() else None

    site_power = np.bincount(site_index, weights=segment_power, minlength=n_sites)
    site_max = np.bincount(site_index, weights=injection, minlength=n_sites)
    headroom = np.maximum(site_max - site_power, 0.0)
    if reserve_price_eur_mw_h is None:
        reserve_price = np.zeros(n_sites)
    else:
        reserve_price = np.asarray(reserve_price_eur_mw_h, dtype=float)
        if reserve_price.shape != (n_sites,) or not np.isfinite(reserve_price).all():
            raise ValueError("reserve_price_eur_mw_h must hold one finite price per site")
    site_reserve = fill(headroom, reserve_price, reserve_kw)
    reserve_served = float(site_reserve.sum())
    return Allocation(
        segment_power_kw=segment_power,
        site_power_kw=site_power,
        site_reserve_kw=site_reserve,
        served_kw=served,
        unserved_kw=unserved,
        reserve_served_kw=reserve_served,
        reserve_unserved_kw=snap_shortfall(reserve_kw - reserve_served, reserve_kw),
        marginal_price_eur_mwh=marginal,
        # the payment: |awarded power| x asked price (award >= 0 on either side)
        cost_eur_per_h=float(award @ price) / 1000.0,
    )
