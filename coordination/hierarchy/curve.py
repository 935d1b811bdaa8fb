"""Aggregate bid curves: the bids of a subtree as columns, merged and split with numpy.

A :class:`SiteBook` holds the bids of a set of sites in **fleet order** (sites by their
position in the fleet; each site's segments in its own bid's order): exactly the arrays
the flat auction builds from the same bids. So the flat allocation
(:func:`~vpp.coordination.merit_order.allocation.allocate`) run over a book gives the flat
run's numbers, and a region splitting its award runs the same allocation over its own book
(``clearing.py``). On the wire a book travels as an :class:`~.messages.AggregateBid`, its
segments sorted by (price, fleet order, segment position): the region's aggregate curve,
in several parts (runs of sites in fleet order) when one message would be too large
(:func:`curve_parts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

import msgspec
import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.messages import AggregateBid, SiteDecline
from vpp.coordination.merit_order.allocation import Allocation, allocate
from vpp.coordination.merit_order.messages import Bid

_INT = np.int64
_ENCODER = msgspec.msgpack.Encoder()
_SEGMENTS = attrgetter("segments")
_BASELINE = attrgetter("baseline_kw")
_RESERVE = attrgetter("reserve_price_eur_mw_h")
_QUANTITY = attrgetter("quantity_kw")
_PRICE = attrgetter("price_eur_mwh")


@dataclass(frozen=True)
class SiteBook:
    """The bids of some sites, in fleet order (see the module's doc).

    Attributes:
        sites: the sites that bid, in fleet order.
        order: each site's fleet position (ascending).
        baseline_kw: each site's baseline.
        reserve_price_eur_mw_h: each site's upward reserve price.
        segment_site: each segment's site (an index into ``sites``; non-decreasing).
        segment_index: each segment's position in its site's bid.
        quantity_kw: each segment's quantity (> 0 inject, < 0 absorb; from the baseline).
        price_eur_mwh: each segment's price.
    """

    sites: list[str]
    order: np.ndarray
    baseline_kw: np.ndarray
    reserve_price_eur_mw_h: np.ndarray
    segment_site: np.ndarray
    segment_index: np.ndarray
    quantity_kw: np.ndarray
    price_eur_mwh: np.ndarray

    @property
    def n_sites(self) -> int:
        """How many sites bid."""
        return len(self.sites)

    def site_max_kw(self) -> np.ndarray:
        """Each site's offered injection beyond its baseline (the reserve's ceiling)."""
        return np.bincount(self.segment_site, weights=np.maximum(self.quantity_kw, 0.0),
                           minlength=self.n_sites)


def empty_book() -> SiteBook:
    """A book without sites."""
    z = np.zeros(0)
    i = np.zeros(0, dtype=np.intp)
    return SiteBook([], np.zeros(0, dtype=_INT), z, z, i, i, z, z)


def book_from_bids(bids: Mapping[str, Bid], order: Mapping[str, int]) -> SiteBook:
    """A book of site bids (already checked), ``order`` giving each site's fleet position.

    Built column by column (the values copied as they are, no arithmetic): the segments
    of the sites in fleet order, each site's in its bid's order."""
    sites = sorted(bids, key=order.__getitem__)
    n = len(sites)
    ordered = list(map(bids.__getitem__, sites))
    counts = np.fromiter(map(len, map(_SEGMENTS, ordered)), dtype=np.intp, count=n)
    segments = list(chain.from_iterable(map(_SEGMENTS, ordered)))
    m = len(segments)
    seg_site = np.repeat(np.arange(n, dtype=np.intp), counts)
    starts = np.cumsum(counts) - counts
    return SiteBook(
        sites=sites,
        order=np.fromiter(map(order.__getitem__, sites), dtype=_INT, count=n),
        baseline_kw=np.fromiter(map(_BASELINE, ordered), dtype=float, count=n),
        reserve_price_eur_mw_h=np.fromiter(map(_RESERVE, ordered), dtype=float, count=n),
        segment_site=seg_site,
        segment_index=np.arange(m, dtype=np.intp) - starts[seg_site],
        quantity_kw=np.fromiter(map(_QUANTITY, segments), dtype=float, count=m),
        price_eur_mwh=np.fromiter(map(_PRICE, segments), dtype=float, count=m),
    )


def _reorder(sites: list[str], order: np.ndarray, baseline: np.ndarray, reserve: np.ndarray,
             seg_site: np.ndarray, seg_index: np.ndarray, qty: np.ndarray,
             price: np.ndarray) -> SiteBook:
    """Put sites in fleet order and segments in (site, position) order."""
    perm = np.argsort(order, kind="stable")
    rank = np.empty_like(perm)
    rank[perm] = np.arange(perm.size)
    new_site = rank[seg_site] if seg_site.size else seg_site
    seg_perm = np.lexsort((seg_index, new_site))
    return SiteBook(
        sites=[sites[i] for i in perm.tolist()], order=order[perm], baseline_kw=baseline[perm],
        reserve_price_eur_mw_h=reserve[perm], segment_site=new_site[seg_perm].astype(np.intp),
        segment_index=seg_index[seg_perm], quantity_kw=qty[seg_perm], price_eur_mwh=price[seg_perm])


def merge(books: Sequence[SiteBook]) -> SiteBook:
    """One book from the books of disjoint sets of sites."""
    books = [b for b in books if b.n_sites]
    if not books:
        return empty_book()
    if len(books) == 1:
        return books[0]
    offsets = np.cumsum([0] + [b.n_sites for b in books[:-1]])
    return _reorder(
        [s for b in books for s in b.sites],
        np.concatenate([b.order for b in books]),
        np.concatenate([b.baseline_kw for b in books]),
        np.concatenate([b.reserve_price_eur_mw_h for b in books]),
        np.concatenate([b.segment_site + off for b, off in zip(books, offsets)]),
        np.concatenate([b.segment_index for b in books]),
        np.concatenate([b.quantity_kw for b in books]),
        np.concatenate([b.price_eur_mwh for b in books]),
    )


def to_aggregate_bid(book: SiteBook, step: int, silent: Sequence[str] = (),
                     rejected: Sequence[SiteDecline] = (), more: bool = False) -> AggregateBid:
    """The book as an aggregate curve: segments by (price, fleet order, position)."""
    by_price = np.lexsort((book.segment_index, book.order[book.segment_site],
                           book.price_eur_mwh))
    return AggregateBid(
        step=step, sites=list(book.sites), baseline_kw=book.baseline_kw.tolist(),
        reserve_price_eur_mw_h=book.reserve_price_eur_mw_h.tolist(),
        segment_site=book.segment_site[by_price].tolist(),
        segment_index=book.segment_index[by_price].tolist(),
        quantity_kw=book.quantity_kw[by_price].tolist(),
        price_eur_mwh=book.price_eur_mwh[by_price].tolist(),
        silent=list(silent), rejected=list(rejected), more=more)


def book_slice(book: SiteBook, start: int, stop: int) -> SiteBook:
    """The sites ``start:stop`` of ``book`` (fleet order) with their segments."""
    lo, hi = np.searchsorted(book.segment_site, [start, stop])
    return SiteBook(
        sites=book.sites[start:stop], order=book.order[start:stop],
        baseline_kw=book.baseline_kw[start:stop],
        reserve_price_eur_mw_h=book.reserve_price_eur_mw_h[start:stop],
        segment_site=book.segment_site[lo:hi] - start, segment_index=book.segment_index[lo:hi],
        quantity_kw=book.quantity_kw[lo:hi], price_eur_mwh=book.price_eur_mwh[lo:hi])


def curve_parts(book: SiteBook, step: int, silent: Sequence[str] = (),
                rejected: Sequence[SiteDecline] = (),
                max_bytes: int | None = None) -> list[AggregateBid]:
    """The book as one aggregate curve, or, when its msgpack encoding is over
    ``max_bytes``, as several: the sites split in fleet order into runs whose curves fit
    (halving), ``more`` set on all but the last, which names the silent and rejected
    sites. Together they account for the same sites, and their books merge back into
    ``book``."""
    return _parts(book, step, silent, rejected, max_bytes, more=False)


def _parts(book: SiteBook, step: int, silent: Sequence[str], rejected: Sequence[SiteDecline],
           max_bytes: int | None, *, more: bool) -> list[AggregateBid]:
    msg = to_aggregate_bid(book, step, silent, rejected, more)
    if max_bytes is None or book.n_sites <= 1 or len(_ENCODER.encode(msg)) <= max_bytes:
        return [msg]
    half = book.n_sites // 2
    return [*_parts(book_slice(book, 0, half), step, (), (), max_bytes, more=True),
            *_parts(book_slice(book, half, book.n_sites), step, silent, rejected, max_bytes,
                    more=more)]


def book_from_aggregate(msg: AggregateBid, step: int, order: Mapping[str, int],
                        allowed: AbstractSet[str]) -> SiteBook:
    """Check an aggregate bid for ``step`` from a subtree holding ``allowed`` sites.

    Raises :class:`ProtocolError` naming the field: other step, columns of different
    lengths, a site outside the subtree or named twice, an index out of range, a segment
    named twice, a value that is not finite.
    """
    if msg.step != step:
        raise ProtocolError(f"AggregateBid.step is {msg.step}, the call was for step {step}")
    n = len(msg.sites)
    if not (len(msg.baseline_kw) == len(msg.reserve_price_eur_mw_h) == n):
        raise ProtocolError("AggregateBid.sites, baseline_kw and reserve_price_eur_mw_h "
                            "must have one length")
    m = len(msg.segment_site)
    if not (len(msg.segment_index) == len(msg.quantity_kw) == len(msg.price_eur_mwh) == m):
        raise ProtocolError("AggregateBid.segment_site, segment_index, quantity_kw and "
                            "price_eur_mwh must have one length")
    named: set[str] = set()
    for field, names in (("sites", msg.sites), ("silent", msg.silent),
                         ("rejected", [r.site for r in msg.rejected])):
        these = set(names)
        if len(these) != len(names) or not these.isdisjoint(named):
            twice = next(s for i, s in enumerate(names) if s in named or s in names[:i])
            raise ProtocolError(f"AggregateBid.{field} names {twice!r} twice")
        if not these <= allowed:
            stranger = next(s for s in names if s not in allowed)
            raise ProtocolError(f"AggregateBid.{field} names {stranger!r}, not in the subtree")
        named |= these
    columns = {f: np.asarray(getattr(msg, f), dtype=float) for f in
               ("baseline_kw", "reserve_price_eur_mw_h", "quantity_kw", "price_eur_mwh")}
    for field, column in columns.items():
        if not np.isfinite(column).all():
            raise ProtocolError(f"AggregateBid.{field} has a value that is not finite")
    seg_site = np.asarray(msg.segment_site, dtype=np.int64)
    seg_index = np.asarray(msg.segment_index, dtype=np.int64)
    if m and (seg_site.min() < 0 or seg_site.max() >= n):
        raise ProtocolError("AggregateBid.segment_site has an index out of range")
    if m and (seg_index.min() < 0 or seg_index.max() >= m):
        raise ProtocolError("AggregateBid.segment_index has a position out of range")
    if m > 1:
        pairs = np.lexsort((seg_index, seg_site))
        same = ((np.diff(seg_site[pairs]) == 0) & (np.diff(seg_index[pairs]) == 0))
        if same.any():
            raise ProtocolError("AggregateBid names a segment of a site twice")
    return _reorder(
        list(msg.sites), np.fromiter(map(order.__getitem__, msg.sites), dtype=_INT, count=n),
        columns["baseline_kw"], columns["reserve_price_eur_mw_h"], seg_site.astype(np.intp),
        seg_index.astype(np.intp), columns["quantity_kw"], columns["price_eur_mwh"])


@dataclass(frozen=True)
class BookAllocation:
    """The flat allocation over some sites of a book.

    Attributes:
        allocation: per-site arrays over the eligible sites (in fleet order), per-segment
            arrays over their segments.
        index: the eligible sites' indices in the book.
        segment_site: each allocated segment's site, as a position in ``index``.
        price_eur_mwh: each allocated segment's price.
    """

    allocation: Allocation
    index: np.ndarray
    segment_site: np.ndarray
    price_eur_mwh: np.ndarray


def allocate_book(book: SiteBook, eligible: np.ndarray, target_kw: float,
                  reserve_kw: float) -> BookAllocation:
    """The flat merit order over the ``eligible`` sites of ``book`` (the same arrays, in the
    same order, as the flat auction builds from those sites' bids)."""
    index = np.flatnonzero(eligible)
    seg_mask = eligible[book.segment_site]
    position = np.cumsum(eligible) - 1
    seg_site = position[book.segment_site[seg_mask]]
    price = book.price_eur_mwh[seg_mask]
    alloc = allocate(seg_site, book.quantity_kw[seg_mask], price, target_kw, index.size,
                     reserve_kw, book.reserve_price_eur_mw_h[index])
    return BookAllocation(alloc, index, seg_site, price)
