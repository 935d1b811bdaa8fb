"""A regional aggregator's side of one merit-order step, as a state machine (no sockets).

Towards its parent the region is one bidder: it answers the ``CallForBids`` with its
subtree's aggregate curve (:class:`~.messages.AggregateBid`), takes each
:class:`~.messages.RegionAward`, and answers with one :class:`~.messages.RegionAnswer`.
Towards its children (sites, or regions below it) it is an aggregator: it passes the call
on with a shorter deadline, splits each award down its own merit order and collects the
answers. A decline or a silent child is **reported up**, not re-awarded inside the region:
the parent re-runs the whole fleet's merit order, as the flat run does
(``docs/protocols/hierarchy.md``).

Every ``on_*`` method returns the messages to send, as
:class:`~vpp.coordination.merit_order.auction.Outgoing` (the receiver is a child's name or
the parent's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.clearing import BookAwards, check_totals, decode, encode
from vpp.coordination.hierarchy.curve import SiteBook, curve_parts
from vpp.coordination.hierarchy.gather import BidGathering, node_tables
from vpp.coordination.hierarchy.messages import (
    AggregateBid,
    RegionAnswer,
    RegionAward,
    SiteDecline,
)
from vpp.coordination.hierarchy.topology import Topology
from vpp.coordination.merit_order.auction import Outgoing
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    CallForBids,
    Decline,
)

MATCH_KW = 1e-6
"""How closely an answer must repeat the award it answers (kW)."""


def award_children(*, step: int, round: int, children: Sequence[str],
                   is_site: Mapping[str, bool], child_of: np.ndarray,
                   site_index: Mapping[str, int], book: SiteBook, awards: BookAwards,
                   changed: np.ndarray, power: np.ndarray, reserve: np.ndarray,
                   marginal_price: float | None,
                   ) -> tuple[list[Outgoing], dict[str, tuple[float, float]]]:
    """The messages of an award round: an ``Award`` to each site child whose set-point
    changed, a :class:`RegionAward` (totals and clearing point) to each region child with a
    changed site below it. Returns them and the totals sent to each region child."""
    out: list[Outgoing] = []
    sent: dict[str, tuple[float, float]] = {}
    # the children with a changed site, in their order; the site children's set-points
    # read in one go (Python floats, as float() of each element gives them)
    kids = np.unique(child_of[changed]).tolist()
    rows = [site_index[children[k]] for k in kids if is_site[children[k]]]
    site_power = iter(power[rows].tolist())
    site_reserve = iter(reserve[rows].tolist())
    for k in kids:
        child = children[k]
        if is_site[child]:
            out.append(Outgoing(child, Award(step, next(site_power), next(site_reserve),
                                             marginal_price), round))
            continue
        members = child_of == k
        mine = members & awards.eligible
        totals = (float(awards.site_deviation_kw[mine].sum()),
                  float(awards.site_reserve_kw[mine].sum()))
        sent[child] = totals
        out.append(Outgoing(child, RegionAward(step, round, totals[0], totals[1],
                                               marginal_price, encode(book, awards, members)),
                            round))
    return out, sent


def child_deadline_ms(deadline_ms: int, share: float) -> int:
    """The deadline a region gives its children: ``share`` of its own (at least 1 ms)."""
    return max(1, int(deadline_ms * share))


class RegionalAuction:
    """One step's contract net, seen from the regional aggregator ``region``.

    Args:
        region: the region's name (a ``region`` node of ``topology``).
        topology: the fleet's hierarchy.
        deadline_share: the part of the parent's deadline the region gives its children,
            so that it can answer in time (0 < share < 1).
        max_curve_bytes: a curve whose encoding is larger goes up in parts
            (:func:`~.curve.curve_parts`; None: always one message).
    """

    def __init__(self, region: str, topology: Topology, *, deadline_share: float = 0.8,
                 max_curve_bytes: int | None = None) -> None:
        if topology.kind(region) != "region":
            raise ValueError(f"{region!r} is a {topology.kind(region)}, not a region")
        if not 0.0 < deadline_share < 1.0:
            raise ValueError(f"deadline_share must be in (0, 1), got {deadline_share!r}")
        self.region = region
        parent = topology.parent(region)
        assert parent is not None
        self.parent = parent
        self._tables = tables = node_tables(topology, region)
        self.children = tables.children
        self.deadline_share = deadline_share
        self.max_curve_bytes = max_curve_bytes
        self._is_site = tables.is_site
        self._subtree = tables.subtree
        self._order = tables.order
        self.phase = "new"
        self.step = -1
        self.round = 0
        self.deadline_ms = 0
        self._pending: set[str] = set()
        self._topology = topology
        self._gathering: BidGathering | None = None
        self._pending_error: list[Outgoing] = []
        self.book: SiteBook | None = None
        self._site_index: dict[str, int] = {}
        self._child_of: np.ndarray = np.zeros(0, dtype=np.intp)
        self._out: np.ndarray = np.zeros(0, dtype=bool)
        self._power = np.zeros(0)
        self._reserve = np.zeros(0)
        self._power_list: list[float] = []
        self._reserve_list: list[float] = []
        self._sent: dict[str, tuple[float, float]] = {}
        self._award: RegionAward | None = None
        self._declined: list[SiteDecline] = []
        self._round_silent: list[str] = []
        self.silent_regions: list[str] = []
        """Region children that did not answer in time (their sites are silent)."""

    # -- state ---------------------------------------------------------------------------
    @property
    def waiting_for(self) -> frozenset[str]:
        """The children the current phase still waits for."""
        if self.phase == "bidding" and self._gathering is not None:
            return frozenset(self._gathering.pending)
        return frozenset(self._pending)

    def site_awards(self) -> dict[str, tuple[float, float]]:
        """The last (power, reserve) set-point worked out for each site still in the step."""
        if self.book is None:
            return {}
        keep = np.flatnonzero(~self._out & ~np.isnan(self._power))
        return {self.book.sites[i]: (float(self._power[i]), float(self._reserve[i]))
                for i in keep.tolist()}

    # -- bidding -------------------------------------------------------------------------
    def on_call(self, call: CallForBids) -> list[Outgoing]:
        """The parent's call for bids: passed to every child with a shorter deadline."""
        if self.phase != "new":
            raise ProtocolError(f"CallForBids for step {call.step} to region {self.region}, "
                                f"which is already in step {self.step}")
        self.step = call.step
        self.deadline_ms = child_deadline_ms(call.deadline_ms, self.deadline_share)
        self.phase = "bidding"
        self._gathering = BidGathering(self.region, self._topology, call.step)
        relayed = CallForBids(call.step, call.window_start_s, call.window_s, call.target_kw,
                              call.reserve_kw, self.deadline_ms)
        return [Outgoing(c, relayed, 0) for c in self.children]

    def on_bid(self, site: str, bid: Bid) -> list[Outgoing]:
        """A site child's bid; an invalid one is rejected (reported up) and raises."""
        gathering = self._gathering
        if self.phase != "bidding" or gathering is None:
            gathering = self._bidding("Bid", site)  # (raises)
        try:
            gathering.on_bid(site, bid)
        except ProtocolError:
            self._pending_error = self._after_bid()
            raise
        if gathering.pending:  # (the phase goes on)
            return []
        return self._after_bid()

    def on_aggregate_bid(self, child: str, msg: AggregateBid) -> list[Outgoing]:
        """A region child's aggregate bid; an invalid one leaves its sites out and raises."""
        gathering = self._bidding("AggregateBid", child)
        try:
            gathering.on_aggregate_bid(child, msg)
        except ProtocolError:
            self._pending_error = self._after_bid()
            raise
        return self._after_bid()

    def take_after_error(self) -> list[Outgoing]:
        """What handling an invalid message wants sent (the raise could not return it)."""
        out, self._pending_error = self._pending_error, []
        return out

    def _bidding(self, kind: str, child: str) -> BidGathering:
        if self.phase != "bidding" or self._gathering is None:
            raise ProtocolError(f"unexpected {kind} from {child} in the {self.phase} phase of "
                                f"region {self.region}, step {self.step} (late or duplicate)")
        return self._gathering

    def _after_bid(self) -> list[Outgoing]:
        assert self._gathering is not None
        if not self._gathering.done:
            return []
        book, silent, rejected = self._gathering.close()
        self.book = book
        self._site_index = dict(zip(book.sites, range(book.n_sites)))
        self._child_of = self._tables.child_of(book.order)
        self._out = np.zeros(book.n_sites, dtype=bool)
        self._power = np.full(book.n_sites, np.nan)
        self._reserve = np.full(book.n_sites, np.nan)
        self.phase = "bid"
        return [Outgoing(self.parent, part, 0) for part in
                curve_parts(book, self.step, silent, rejected, self.max_curve_bytes)]

    # -- awards --------------------------------------------------------------------------
    def on_award(self, award: RegionAward) -> list[Outgoing]:
        """The parent's award: split it, send each changed set-point down, or answer at once
        when nothing below changes."""
        if self.phase not in ("bid", "answered") or self.book is None:
            raise ProtocolError(f"unexpected RegionAward to region {self.region} in the "
                                f"{self.phase} phase")
        if award.step != self.step or award.round <= self.round:
            raise ProtocolError(f"RegionAward for step {award.step} round {award.round} to "
                                f"region {self.region} (now step {self.step} round "
                                f"{self.round}): late or duplicate")
        if not (math.isfinite(award.deviation_kw) and math.isfinite(award.reserve_kw)
                and award.reserve_kw >= 0):
            raise ProtocolError("RegionAward.deviation_kw/reserve_kw must be finite, reserve "
                                ">= 0")
        book = self.book
        eligible = ~self._out
        awards = decode(book, eligible, award.clearing, self._site_index)
        check_totals(awards, award.deviation_kw, award.reserve_kw)
        power = book.baseline_kw + awards.site_deviation_kw
        res = awards.site_reserve_kw
        changed = eligible & (np.isnan(self._power) | (power != self._power)
                              | (res != self._reserve))
        self._power = np.where(changed, power, self._power)
        self._reserve = np.where(changed, res, self._reserve)
        self._power_list = self._power.tolist()
        self._reserve_list = self._reserve.tolist()
        self.round = award.round
        self._award = award
        self._declined = []
        self._round_silent = []
        self.phase = "awarding"
        out, self._sent = award_children(
            step=self.step, round=self.round, children=self.children, is_site=self._is_site,
            child_of=self._child_of, site_index=self._site_index, book=book, awards=awards,
            changed=changed, power=self._power, reserve=self._reserve,
            marginal_price=award.marginal_price_eur_mwh)
        self._pending.update(o.receiver for o in out)
        if not out:
            return self._answer()
        return out

    def on_accept(self, site: str, accept: Accept) -> list[Outgoing]:
        """A site child accepts its set-point (it must repeat it)."""
        pending = self._pending
        if self._is_site.get(site) is not True or self.phase != "awarding" or site not in pending:
            self._expect(site, "awarding", "Accept", site=True)  # (raises, naming why)
        i = self._site_index[site]
        power, reserve = self._power_list[i], self._reserve_list[i]
        if (accept.step != self.step or abs(accept.power_kw - power) > MATCH_KW
                or abs(accept.reserve_kw - reserve) > MATCH_KW):
            raise ProtocolError(f"Accept from {site} does not match its award "
                                f"({power:.6f} kW, {reserve:.6f} kW)")
        pending.discard(site)
        if pending:
            return []
        return self._after_answer()

    def on_decline(self, site: str, decline: Decline) -> list[Outgoing]:
        """A site child declines: it leaves the step, reported up (the parent re-awards)."""
        self._expect(site, "awarding", "Decline", site=True)
        self._pending.discard(site)
        self._out[self._site_index[site]] = True
        self._declined.append(SiteDecline(site, decline.reason or "declined"))
        return self._after_answer()

    def on_region_answer(self, child: str, answer: RegionAnswer) -> list[Outgoing]:
        """A region child's answer: its declines and silent sites are reported up."""
        self._expect(child, "awarding", "RegionAnswer", site=False)
        sent = self._sent[child]
        if (answer.step != self.step or answer.round != self.round
                or abs(answer.deviation_kw - sent[0]) > MATCH_KW
                or abs(answer.reserve_kw - sent[1]) > MATCH_KW):
            raise ProtocolError(f"RegionAnswer from {child} does not match its award of "
                                f"round {self.round}")
        subtree = set(self._subtree[child])
        named = [d.site for d in answer.declined] + list(answer.silent)
        for s in named:
            if s not in subtree or s not in self._site_index or self._out[self._site_index[s]]:
                raise ProtocolError(f"RegionAnswer from {child} names {s!r}, not one of its "
                                    f"sites in the step")
        if len(set(named)) != len(named):
            raise ProtocolError(f"RegionAnswer from {child} names a site twice")
        self._pending.discard(child)
        for d in answer.declined:
            self._out[self._site_index[d.site]] = True
            self._declined.append(d)
        for s in answer.silent:
            self._out[self._site_index[s]] = True
            self._round_silent.append(s)
        return self._after_answer()

    def on_deadline(self) -> list[Outgoing]:
        """The region's own deadline passed: the children still awaited are silent (a
        silent region child: every site of it still in the step)."""
        if self.phase == "bidding" and self._gathering is not None:
            self.silent_regions += [c for c in self.children
                                    if c in self._gathering.pending and not self._is_site[c]]
            self._gathering.on_deadline()
            return self._after_bid()
        if self.phase != "awarding":
            return []
        for child in sorted(self._pending, key=self.children.index):
            if self._is_site[child]:
                self._out[self._site_index[child]] = True
                self._round_silent.append(child)
            else:
                self.silent_regions.append(child)
                for s in self._subtree[child]:
                    i = self._site_index.get(s)
                    if i is not None and not self._out[i]:
                        self._out[i] = True
                        self._round_silent.append(s)
        self._pending.clear()
        return self._after_answer()

    # -- internals -----------------------------------------------------------------------
    def _expect(self, child: str, phase: str, kind: str, *, site: bool) -> None:
        if child not in self._is_site or self._is_site[child] != site:
            raise ProtocolError(f"{kind} from {child}, which is not a "
                                f"{'site' if site else 'region'} below region {self.region}")
        if self.phase != phase or child not in self._pending:
            raise ProtocolError(f"unexpected {kind} from {child} in the {self.phase} phase of "
                                f"region {self.region}, step {self.step} (late or duplicate)")

    def _after_answer(self) -> list[Outgoing]:
        if self._pending or self.phase != "awarding":
            return []
        return self._answer()

    def _answer(self) -> list[Outgoing]:
        award = self._award
        assert award is not None
        self.phase = "answered"
        declined = sorted(self._declined, key=lambda d: self._order[d.site])
        silent = sorted(self._round_silent, key=self._order.__getitem__)
        return [Outgoing(self.parent, RegionAnswer(self.step, self.round, award.deviation_kw,
                                                   award.reserve_kw, declined, silent),
                         self.round)]
