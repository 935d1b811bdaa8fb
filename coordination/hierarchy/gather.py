"""Gathering one step's bids from an aggregator's children (sites and regions).

Shared by the portfolio aggregator and the regional one: a site child answers a ``Bid``,
a region child an :class:`~.messages.AggregateBid`; at the end (all answered, or the
deadline) the bids become one :class:`~.curve.SiteBook` in fleet order, with the sites that
were silent and those whose bid was invalid.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.curve import (
    SiteBook,
    book_from_aggregate,
    book_from_bids,
    merge,
)
from vpp.coordination.hierarchy.messages import AggregateBid, SiteDecline
from vpp.coordination.hierarchy.topology import SITE, Topology
from vpp.coordination.merit_order.auction import check_bid
from vpp.coordination.merit_order.messages import Bid


@dataclass(frozen=True)
class NodeTables:
    """What an aggregator node looks up in every step, worked out once per topology (read
    only: shared by the steps).

    Attributes:
        children: the node's children, in fleet order.
        is_site: per child, whether it is a site.
        subtree: per child, the sites below it (a site: itself), in fleet order.
        order: each site below the node, its fleet position.
        owner: per fleet position, the index in ``children`` of the child holding that
            site (-1 for a site not below the node).
        subtree_set: per child, the sites below it as a set.
    """

    children: tuple[str, ...]
    is_site: dict[str, bool]
    subtree: dict[str, tuple[str, ...]]
    order: dict[str, int]
    owner: np.ndarray
    subtree_set: dict[str, frozenset[str]]

    def child_of(self, order: np.ndarray) -> np.ndarray:
        """The child index of each site given by fleet position."""
        return self.owner[order].astype(np.intp, copy=False)


_TABLES: weakref.WeakKeyDictionary[Topology, dict[str, NodeTables]] = (
    weakref.WeakKeyDictionary())


def node_tables(topology: Topology, node: str) -> NodeTables:
    """The :class:`NodeTables` of ``node`` in ``topology`` (computed on first use)."""
    per_node = _TABLES.setdefault(topology, {})
    tables = per_node.get(node)
    if tables is None:
        children = topology.children(node)
        subtree = {c: topology.sites_under(c) for c in children}
        order = {s: topology.order(s) for s in topology.sites_under(node)}
        owner = np.full(max(order.values(), default=-1) + 1, -1, dtype=np.intp)
        for k, c in enumerate(children):
            owner[[order[s] for s in subtree[c]]] = k
        tables = per_node[node] = NodeTables(
            children, {c: topology.kind(c) == SITE for c in children}, subtree, order, owner,
            {c: frozenset(subtree[c]) for c in children})
    return tables


class _Parts:
    """The parts of a region child's curve received so far."""

    def __init__(self) -> None:
        self.books: list[SiteBook] = []
        self.silent: list[str] = []
        self.rejected: list[SiteDecline] = []
        self.accounted: set[str] = set()


class BidGathering:
    """The bidding phase of ``node`` (the root or a region) for ``step``.

    Args:
        node: the aggregator's node in ``topology``.
        topology: the fleet's hierarchy.
        step: the step called for.
    """

    def __init__(self, node: str, topology: Topology, step: int) -> None:
        self.node = node
        self.step = step
        tables = node_tables(topology, node)
        self.children = tables.children
        self.is_site = tables.is_site
        self.subtree = tables.subtree
        self.order = tables.order
        self._subtree_set = tables.subtree_set
        self.pending: set[str] = set(self.children)
        self.silent_children: list[str] = []
        self._bids: dict[str, Bid] = {}
        self._books: list[SiteBook] = []
        self._parts: dict[str, _Parts] = {}
        self._silent: list[str] = []
        self._rejected: list[SiteDecline] = []

    @property
    def done(self) -> bool:
        """True once every child answered or was found silent."""
        return not self.pending

    def _expect(self, child: str, kind: str, site: bool) -> None:
        if child not in self.is_site or self.is_site[child] != site:
            raise ProtocolError(f"{kind} from {child}, which is not a "
                                f"{'site' if site else 'region'} below {self.node}")
        if child not in self.pending:
            raise ProtocolError(f"unexpected {kind} from {child} for step {self.step} at "
                                f"{self.node} (late or duplicate)")

    def on_bid(self, site: str, bid: Bid) -> None:
        """A site child's bid. An invalid one puts the site out (``invalid bid: ...``) and
        raises :class:`ProtocolError` (the child counts as answered)."""
        pending = self.pending
        if self.is_site.get(site) is not True or site not in pending:
            self._expect(site, "Bid", True)  # (raises, naming why)
        pending.discard(site)
        try:
            check_bid(bid, self.step)
        except ProtocolError as exc:
            self._rejected.append(SiteDecline(site, f"invalid bid: {exc}"))
            raise
        self._bids[site] = bid

    def on_aggregate_bid(self, child: str, msg: AggregateBid) -> None:
        """A region child's aggregate bid, or one part of it (``more``: the child stays
        awaited). An invalid one puts all its sites out, earlier parts' too, and raises
        :class:`ProtocolError`; sites the last part leaves unaccounted count as silent."""
        self._expect(child, "AggregateBid", False)
        parts = self._parts.get(child)
        allowed = self._subtree_set[child]
        if parts is not None:
            allowed = allowed - parts.accounted
        try:
            book = book_from_aggregate(msg, self.step, self.order, allowed)
        except ProtocolError as exc:
            self.pending.discard(child)
            self._parts.pop(child, None)
            self._rejected += [SiteDecline(s, f"invalid aggregate bid from {child}: {exc}")
                               for s in self.subtree[child]]
            raise
        if parts is None:
            parts = self._parts[child] = _Parts()
        parts.books.append(book)
        parts.silent += msg.silent
        parts.rejected += msg.rejected
        parts.accounted.update(book.sites, msg.silent, (r.site for r in msg.rejected))
        if msg.more:
            return
        self.pending.discard(child)
        del self._parts[child]
        self._books += parts.books
        self._silent += parts.silent
        self._rejected += parts.rejected
        # (what a child accounts for is in its subtree: all of it when as many)
        if len(parts.accounted) != len(self.subtree[child]):
            self._silent += [s for s in self.subtree[child] if s not in parts.accounted]

    def on_deadline(self) -> None:
        """The children still awaited are silent (a region child: its whole subtree, the
        parts of its curve that came dropped)."""
        for child in [c for c in self.children if c in self.pending]:
            self.silent_children.append(child)
            self._parts.pop(child, None)
            self._silent += list(self.subtree[child])
        self.pending.clear()

    def close(self) -> tuple[SiteBook, list[str], list[SiteDecline]]:
        """The book of valid bids, the silent sites and the rejected ones (fleet order)."""
        book = merge([book_from_bids(self._bids, self.order), *self._books])
        silent = sorted(self._silent, key=self.order.__getitem__)
        rejected = sorted(self._rejected, key=lambda r: self.order[r.site])
        return book, silent, rejected
