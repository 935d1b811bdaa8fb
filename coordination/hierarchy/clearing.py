"""Passing an award down a hierarchy exactly: the clearing point of a child's curve.

An aggregator that has allocated (the root, with the flat allocation) or received (a
region) the awards of its book's segments tells each region child where the merit order
stopped in that child's curve (:class:`~.messages.Clearing`): its segments are taken in
merit order, in full up to the clearing point and not at all after it, but for the few
listed with their exact award. The child rebuilds the very same numbers (:func:`decode`),
so a site's set-point through any number of regions is the flat run's, bit for bit: the
per-site sums run over the same segments in the same order as in the flat allocation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.curve import BookAllocation, SiteBook
from vpp.coordination.hierarchy.messages import Clearing, SegmentAward, SiteReserve

SUM_TOLERANCE = 1e-6
"""How far (relative, at least 1 kW) a rebuilt award may be from the total it came with."""


@dataclass(frozen=True)
class BookAwards:
    """A node's awards over its whole book (zero for the sites out of the step).

    Attributes:
        side: +1 when injection is awarded, -1 absorption.
        eligible: the sites still in the step.
        segment_kw: each segment's award in its own direction (>= 0).
        site_deviation_kw: each site's awarded deviation from its baseline (signed).
        site_reserve_kw: each site's upward reserve.
        headroom_kw: each site's offered injection minus its awarded power (>= 0).
    """

    side: int
    eligible: np.ndarray
    segment_kw: np.ndarray
    site_deviation_kw: np.ndarray
    site_reserve_kw: np.ndarray
    headroom_kw: np.ndarray


def from_allocation(book: SiteBook, eligible: np.ndarray, booked: BookAllocation,
                    side: int) -> BookAwards:
    """The awards of a flat allocation over the eligible sites, spread over the book."""
    alloc, index = booked.allocation, booked.index
    seg_mask = eligible[book.segment_site]
    segment_kw = np.zeros(book.segment_site.size)
    segment_kw[seg_mask] = side * alloc.segment_power_kw  # exact: a sign change
    deviation = np.zeros(book.n_sites)
    deviation[index] = alloc.site_power_kw
    reserve = np.zeros(book.n_sites)
    reserve[index] = alloc.site_reserve_kw
    # the allocation's own headroom: offered injection minus awarded power, per site
    site_max = np.bincount(booked.segment_site,
                           weights=np.maximum(book.quantity_kw[seg_mask], 0.0),
                           minlength=index.size)
    headroom = np.zeros(book.n_sites)
    headroom[index] = np.maximum(site_max - alloc.site_power_kw, 0.0)
    return BookAwards(side, eligible.copy(), segment_kw, deviation, reserve, headroom)


def _at_or_before(a: np.ndarray, b: np.ndarray, c: np.ndarray | None,
                  pa: float, pb: int, pc: int | None) -> np.ndarray:
    """Lexicographic (a, b[, c]) <= (pa, pb[, pc]), element-wise."""
    tail = (b <= pb) if c is None else (b < pb) | ((b == pb) & (c <= pc))
    return (a < pa) | ((a == pa) & tail)


def encode(book: SiteBook, awards: BookAwards, members: np.ndarray) -> Clearing:
    """Where the merit order stopped in the curve of the sites in ``members`` (a mask)."""
    side = awards.side
    seg = np.flatnonzero((members & awards.eligible)[book.segment_site])
    price = book.price_eur_mwh[seg]
    order = book.order[book.segment_site[seg]]
    index = book.segment_index[seg]
    usable = np.maximum(side * book.quantity_kw[seg], 0.0)
    kw = awards.segment_kw[seg]
    point: dict = {}
    partial: list[SegmentAward] = []
    awarded = np.flatnonzero(kw > 0.0)
    if awarded.size:
        last = awarded[np.lexsort((index[awarded], order[awarded], price[awarded]))[-1]]
        point = {"price": float(price[last]), "site": book.sites[book.segment_site[seg[last]]],
                 "segment": int(index[last])}
        upto = _at_or_before(price, order, index, price[last], order[last], index[last])
        for k in np.flatnonzero(upto & (kw != usable)).tolist():
            partial.append(SegmentAward(book.sites[book.segment_site[seg[k]]], int(index[k]),
                                        float(kw[k])))
    sites = np.flatnonzero(members & awards.eligible)
    res = awards.site_reserve_kw[sites]
    reserve_point: dict = {}
    reserve_partial: list[SiteReserve] = []
    given = np.flatnonzero(res > 0.0)
    if given.size:
        rprice = book.reserve_price_eur_mw_h[sites]
        rorder = book.order[sites]
        last = given[np.lexsort((rorder[given], rprice[given]))[-1]]
        reserve_point = {"reserve_price": float(rprice[last]),
                         "reserve_site": book.sites[sites[last]]}
        upto = _at_or_before(rprice, rorder, None, rprice[last], rorder[last], None)
        head = awards.headroom_kw[sites]
        for k in np.flatnonzero(upto & (res != head)).tolist():
            reserve_partial.append(SiteReserve(book.sites[sites[k]], float(res[k])))
    return Clearing(side=side, partial=partial, reserve_partial=reserve_partial,
                    **point, **reserve_point)


def decode(book: SiteBook, eligible: np.ndarray, clearing: Clearing,
           site_index: dict[str, int]) -> BookAwards:
    """Rebuild the awards of the ``eligible`` sites of ``book`` from a clearing point.

    Raises :class:`ProtocolError` (the field named) for a clearing that does not fit the
    book: a side other than +-1, a point or partial award naming a site or segment not in
    the step, an award that is not finite or more than the segment offered.
    """
    side = clearing.side
    if side not in (1, -1):
        raise ProtocolError(f"Clearing.side must be 1 or -1, got {side!r}")
    seg_eligible = eligible[book.segment_site]
    usable = np.maximum(side * book.quantity_kw, 0.0)
    order = book.order[book.segment_site]
    segment_kw = np.zeros(book.segment_site.size)
    if clearing.price is not None or clearing.site is not None:
        i = _site(site_index, eligible, clearing.site, "Clearing.site")
        if clearing.price is None or not math.isfinite(clearing.price) or clearing.segment is None:
            raise ProtocolError("Clearing.price and Clearing.segment must be given with "
                                "Clearing.site")
        upto = _at_or_before(book.price_eur_mwh, order, book.segment_index,
                             clearing.price, int(book.order[i]), clearing.segment)
        segment_kw = np.where(seg_eligible & upto, usable, 0.0)
    if len(clearing.partial) > book.segment_site.size:
        raise ProtocolError("Clearing.partial lists more segments than the region has")
    stride = int(book.segment_index.max()) + 1 if book.segment_index.size else 1
    keys = book.segment_site.astype(np.int64) * stride + book.segment_index
    for p in clearing.partial:
        i = _site(site_index, eligible, p.site, "Clearing.partial")
        k = int(np.searchsorted(keys, i * stride + p.segment)) if 0 <= p.segment < stride else -1
        if k < 0 or k >= keys.size or keys[k] != i * stride + p.segment:
            raise ProtocolError(f"Clearing.partial names segment {p.segment} of {p.site!r}, "
                                f"which it did not bid")
        if not (math.isfinite(p.kw) and 0.0 <= p.kw <= usable[k]):
            raise ProtocolError(f"Clearing.partial gives segment {p.segment} of {p.site!r} "
                                f"{p.kw!r} kW, outside [0, {usable[k]}]")
        segment_kw[k] = p.kw
    # per site, as the flat allocation sums them: the site's segments in its bid's order
    seg = np.flatnonzero(seg_eligible)
    deviation = np.bincount(book.segment_site[seg], weights=side * segment_kw[seg],
                            minlength=book.n_sites)
    site_max = np.bincount(book.segment_site[seg],
                           weights=np.maximum(book.quantity_kw[seg], 0.0),
                           minlength=book.n_sites)
    headroom = np.where(eligible, np.maximum(site_max - deviation, 0.0), 0.0)
    reserve = np.zeros(book.n_sites)
    if clearing.reserve_price is not None or clearing.reserve_site is not None:
        i = _site(site_index, eligible, clearing.reserve_site, "Clearing.reserve_site")
        if clearing.reserve_price is None or not math.isfinite(clearing.reserve_price):
            raise ProtocolError("Clearing.reserve_price must be given with "
                                "Clearing.reserve_site")
        upto = _at_or_before(book.reserve_price_eur_mw_h, book.order, None,
                             clearing.reserve_price, int(book.order[i]), None)
        reserve = np.where(eligible & upto, headroom, 0.0)
    if len(clearing.reserve_partial) > book.n_sites:
        raise ProtocolError("Clearing.reserve_partial lists more sites than the region has")
    for p in clearing.reserve_partial:
        i = _site(site_index, eligible, p.site, "Clearing.reserve_partial")
        if not (math.isfinite(p.kw) and 0.0 <= p.kw <= headroom[i]):
            raise ProtocolError(f"Clearing.reserve_partial gives {p.site!r} {p.kw!r} kW, "
                                f"outside [0, {headroom[i]}]")
        reserve[i] = p.kw
    return BookAwards(side, eligible.copy(), segment_kw, deviation, reserve, headroom)


def _site(site_index: dict[str, int], eligible: np.ndarray, name: str | None,
          field: str) -> int:
    i = site_index.get(name) if name is not None else None
    if i is None or not eligible[i]:
        raise ProtocolError(f"{field} names {name!r}, not a site of the region in the step")
    return i


def check_totals(awards: BookAwards, deviation_kw: float, reserve_kw: float) -> None:
    """Raise :class:`ProtocolError` if the rebuilt awards do not add up to the totals sent
    with them (the parent does not see the region's curve as the region does)."""
    dev = float(awards.site_deviation_kw[awards.eligible].sum())
    if abs(dev - deviation_kw) > SUM_TOLERANCE * max(1.0, abs(deviation_kw)):
        raise ProtocolError(f"RegionAward.deviation_kw is {deviation_kw:.6f} kW, its clearing "
                            f"point gives {dev:.6f} kW")
    res = float(awards.site_reserve_kw[awards.eligible].sum())
    if abs(res - reserve_kw) > SUM_TOLERANCE * max(1.0, reserve_kw):
        raise ProtocolError(f"RegionAward.reserve_kw is {reserve_kw:.6f} kW, its clearing "
                            f"point gives {res:.6f} kW")
