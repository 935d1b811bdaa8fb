"""The portfolio aggregator's side of one merit-order step through regions (no sockets).

It runs the flat contract net (``coordination/merit_order/auction.py``) with regions
standing for their subtrees: it calls its children (regions, and any site placed right
under it), merges their curves into the fleet's book (in fleet order, the flat run's
arrays), allocates with the flat allocation, and sends each region its subtree's share
(:class:`~.messages.RegionAward`) and each direct site its ``Award``. Declines and silent
sites reported up are handled as the flat auction handles them: the site is out, a
decline stays at its baseline, and the merit order is run again in the next round. The
rules, and where they differ from the flat run: ``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

import math

import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.clearing import from_allocation
from vpp.coordination.hierarchy.curve import BookAllocation, SiteBook, allocate_book
from vpp.coordination.hierarchy.gather import BidGathering, node_tables
from vpp.coordination.hierarchy.merit_region import MATCH_KW, award_children
from vpp.coordination.hierarchy.messages import AggregateBid, RegionAnswer
from vpp.coordination.hierarchy.topology import Topology
from vpp.coordination.merit_order.allocation import snap_shortfall
from vpp.coordination.merit_order.auction import Outgoing, RoundRecord, StepOutcome
from vpp.coordination.merit_order.messages import Accept, Bid, CallForBids, Decline


def _shortfall(target_kw: float, served_kw: float) -> float:
    return snap_shortfall(abs(target_kw - served_kw), abs(target_kw))


class PortfolioAuction:
    """One step's contract net at the root of a hierarchy.

    Args:
        step, window_start_s, window_s, target_kw, reserve_kw, deadline_ms, max_rounds: as
            for :class:`~vpp.coordination.merit_order.auction.MeritOrderAuction`.
        topology: the fleet's hierarchy; the auction runs at its root.
    """

    def __init__(self, *, step: int, window_start_s: float, window_s: float, target_kw: float,
                 reserve_kw: float, topology: Topology, deadline_ms: int = 2000,
                 max_rounds: int = 5) -> None:
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        self.step = step
        self.window_start_s = window_start_s
        self.window_s = window_s
        self.target_kw = target_kw
        self.reserve_kw = reserve_kw
        self.deadline_ms = deadline_ms
        self.max_rounds = max_rounds
        self.topology = topology
        self.node = topology.root
        self._tables = node_tables(topology, self.node)
        self.children = self._tables.children
        self._is_site = self._tables.is_site
        self.round = 0
        self.phase = "new"
        self.records: list[RoundRecord] = []
        self.silent_regions: list[str] = []
        """Regions that did not answer in time (their sites are silent)."""
        self._gathering = BidGathering(self.node, topology, step)
        self._pending: set[str] = set()
        self._pending_error: list[Outgoing] = []
        self._book: SiteBook | None = None
        self._index: dict[str, int] = {}
        self._child_of = np.zeros(0, dtype=np.intp)
        self._out = np.zeros(0, dtype=bool)
        self._power = np.zeros(0)
        self._reserve = np.zeros(0)
        self._asked = np.zeros(0, dtype=bool)
        # the sites whose award stands accepted (their set-point is _power/_reserve's),
        # and the round each was accepted in: a site's entry in the outcome's dictionaries
        # comes in that round's place (rounds in turn, sites in fleet order in a round)
        self._accepted_at = np.zeros(0, dtype=bool)
        self._accepted_round = np.zeros(0, dtype=np.intp)
        self._staying: dict[str, float] = {}
        self._declined: dict[str, str] = {}
        self._silent: list[str] = []
        self._sent: dict[str, tuple[float, float]] = {}
        self._answers_declined: dict[str, str] = {}
        self._answers_silent: set[str] = set()
        self._booked: BookAllocation | None = None
        self._baseline_kw = 0.0

    # -- state ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once every award is answered (or the rounds ran out)."""
        return self.phase == "done"

    @property
    def waiting_for(self) -> frozenset[str]:
        """The children the current phase still waits for."""
        if self.phase == "bidding":
            return frozenset(self._gathering.pending)
        return frozenset(self._pending)

    # -- bidding -------------------------------------------------------------------------
    def start(self) -> list[Outgoing]:
        """Round 0: a call for bids to every child."""
        if self.phase != "new":
            raise RuntimeError("the auction has already started")
        self.phase = "bidding"
        call = CallForBids(self.step, self.window_start_s, self.window_s, self.target_kw,
                           self.reserve_kw, self.deadline_ms)
        return [Outgoing(c, call, 0) for c in self.children]

    def on_bid(self, site: str, bid: Bid) -> list[Outgoing]:
        """A bid from a site right under the root."""
        self._bidding("Bid", site)
        try:
            self._gathering.on_bid(site, bid)
        except ProtocolError:
            self._pending_error = self._after_bid()
            raise
        return self._after_bid()

    def on_aggregate_bid(self, region: str, msg: AggregateBid) -> list[Outgoing]:
        """A region's aggregate curve."""
        self._bidding("AggregateBid", region)
        try:
            self._gathering.on_aggregate_bid(region, msg)
        except ProtocolError:
            self._pending_error = self._after_bid()
            raise
        return self._after_bid()

    def take_after_error(self) -> list[Outgoing]:
        """What handling an invalid message wants sent (the raise could not return it)."""
        out, self._pending_error = self._pending_error, []
        return out

    # -- awards --------------------------------------------------------------------------
    def on_accept(self, site: str, accept: Accept) -> list[Outgoing]:
        """A direct site accepts its award (it must repeat it)."""
        i = self._awarding(site, "Accept", site=True)
        if (accept.step != self.step or abs(accept.power_kw - self._power[i]) > MATCH_KW
                or abs(accept.reserve_kw - self._reserve[i]) > MATCH_KW):
            raise ProtocolError(f"Accept from {site} does not match its award "
                                f"({self._power[i]:.6f} kW, {self._reserve[i]:.6f} kW)")
        self._pending.discard(site)
        return self._after_answer()

    def on_decline(self, site: str, decline: Decline) -> list[Outgoing]:
        """A direct site declines and leaves the step."""
        self._awarding(site, "Decline", site=True)
        self._pending.discard(site)
        self._answers_declined[site] = decline.reason or "declined"
        return self._after_answer()

    def on_region_answer(self, region: str, answer: RegionAnswer) -> list[Outgoing]:
        """A region's answer: every site it was asked accepted, but those it names."""
        self._awarding(region, "RegionAnswer", site=False)
        sent = self._sent[region]
        if (answer.step != self.step or answer.round != self.round
                or abs(answer.deviation_kw - sent[0]) > MATCH_KW
                or abs(answer.reserve_kw - sent[1]) > MATCH_KW):
            raise ProtocolError(f"RegionAnswer from {region} does not match its award of "
                                f"round {self.round}")
        k = self.children.index(region)
        named = [d.site for d in answer.declined] + list(answer.silent)
        for s in named:
            i = self._index.get(s)
            if i is None or self._child_of[i] != k or self._out[i]:
                raise ProtocolError(f"RegionAnswer from {region} names {s!r}, not one of its "
                                    f"sites in the step")
        if len(set(named)) != len(named):
            raise ProtocolError(f"RegionAnswer from {region} names a site twice")
        self._pending.discard(region)
        for d in answer.declined:
            self._answers_declined[d.site] = d.reason or "declined"
        self._answers_silent.update(answer.silent)
        return self._after_answer()

    def on_deadline(self) -> list[Outgoing]:
        """The phase's deadline passed: the children still awaited are silent. A silent
        region's sites are all silent (in an award round: every one still in the step)."""
        if self.phase == "bidding":
            self.silent_regions += [c for c in self.children
                                    if c in self._gathering.pending and not self._is_site[c]]
            self._gathering.on_deadline()
            return self._after_bid()
        if self.phase != "awarding":
            return []
        for child in [c for c in self.children if c in self._pending]:
            k = self.children.index(child)
            if not self._is_site[child]:
                self.silent_regions.append(child)
            members = np.flatnonzero((self._child_of == k) & ~self._out)
            self._answers_silent.update(self._book.sites[i] for i in members.tolist())
        self._pending.clear()
        return self._after_answer()

    # -- internals -----------------------------------------------------------------------
    def _bidding(self, kind: str, child: str) -> None:
        if self.phase != "bidding":
            raise ProtocolError(f"unexpected {kind} from {child} in the {self.phase} phase "
                                f"of step {self.step} (late or duplicate)")

    def _awarding(self, child: str, kind: str, *, site: bool) -> int:
        if child not in self._is_site or self._is_site[child] != site:
            raise ProtocolError(f"{kind} from {child}, which is not a "
                                f"{'site' if site else 'region'} under {self.node}")
        if self.phase != "awarding" or child not in self._pending:
            raise ProtocolError(f"unexpected {kind} from {child} in the {self.phase} phase "
                                f"of step {self.step} (late or duplicate)")
        return self._index.get(child, -1)

    def _after_bid(self) -> list[Outgoing]:
        if not self._gathering.done:
            return []
        book, silent, rejected = self._gathering.close()
        self._book = book
        self._index = dict(zip(book.sites, range(book.n_sites)))
        self._child_of = self._tables.child_of(book.order)
        self._out = np.zeros(book.n_sites, dtype=bool)
        self._power = np.full(book.n_sites, np.nan)
        self._reserve = np.full(book.n_sites, np.nan)
        self._asked = np.zeros(book.n_sites, dtype=bool)
        self._accepted_at = np.zeros(book.n_sites, dtype=bool)
        self._accepted_round = np.zeros(book.n_sites, dtype=np.intp)
        for r in rejected:
            self._declined[r.site] = r.reason
        self._silent += silent
        for s in silent:
            self._declined[s] = "silent"
        self.records.append(RoundRecord(
            0, "bids", self.target_kw, None, None, None, bids=book.n_sites, awards=0,
            declines=len(rejected) + len(silent),
            detail={"silent": list(silent), "silent_regions": list(self.silent_regions)}))
        self.phase = "awarding"
        return self._award_round()

    def _award_round(self) -> list[Outgoing]:
        book = self._book
        assert book is not None
        eligible = ~self._out
        index = np.flatnonzero(eligible)
        # the flat auction's sums, in its order: eligible baselines, then those staying
        self._baseline_kw = (sum(book.baseline_kw[index].tolist())
                             + math.fsum(self._staying.values()))  # (in any order)
        need = self.target_kw - self._baseline_kw
        side = 1 if need >= 0 else -1  # the flat allocation's side
        booked = allocate_book(book, eligible, need, self.reserve_kw)
        self._booked = booked
        alloc, index = booked.allocation, booked.index
        self.round += 1
        awards = from_allocation(book, eligible, booked, side)
        power = book.baseline_kw[index] + alloc.site_power_kw
        reserve = alloc.site_reserve_kw
        if self.round == 1:
            changed_local = np.ones(index.size, dtype=bool)
        else:
            changed_local = (power != self._power[index]) | (reserve != self._reserve[index])
        moved = index[changed_local]
        self._power[moved] = power[changed_local]
        self._reserve[moved] = reserve[changed_local]
        self._asked[:] = False
        self._asked[moved] = True
        self._accepted_at[moved] = False  # (an award that moved awaits its answer)
        self._answers_declined = {}
        self._answers_silent = set()
        out, self._sent = award_children(
            step=self.step, round=self.round, children=self.children, is_site=self._is_site,
            child_of=self._child_of, site_index=self._index, book=book, awards=awards,
            changed=self._asked, power=self._power, reserve=self._reserve,
            marginal_price=alloc.marginal_price_eur_mwh)
        self._pending.update(o.receiver for o in out)
        if not out:
            self._finish()
        return out

    def _after_answer(self) -> list[Outgoing]:
        if self._pending or self.phase != "awarding":
            return []
        return self._close_award_round()

    def _close_award_round(self) -> list[Outgoing]:
        book, booked = self._book, self._booked
        assert book is not None and booked is not None
        alloc = booked.allocation
        declines = 0
        round_silent: list[str] = []
        # in fleet order, as the flat auction books answers arriving in its site order
        named = sorted({self._index[s] for s in self._answers_declined} | {
            self._index[s] for s in self._answers_silent})
        for i in named:  # (a site named is out: taking it out and keeping another commute)
            s = book.sites[i]
            if s in self._answers_declined:
                self._declined[s] = self._answers_declined[s]
                self._staying[s] = float(book.baseline_kw[i])
            else:
                round_silent.append(s)
                self._declined[s] = "silent"
            self._accepted_at[i] = False
            self._out[i] = True
            declines += 1
        kept = np.flatnonzero(self._asked)
        if named:
            kept = kept[~np.isin(kept, named)]
        self._accepted_at[kept] = True
        self._accepted_round[kept] = self.round
        self._silent += round_silent
        served = self._baseline_kw + alloc.served_kw
        self.records.append(RoundRecord(
            self.round, "awards", self.target_kw, served, _shortfall(self.target_kw, served),
            alloc.marginal_price_eur_mwh, bids=book.n_sites, awards=int(booked.index.size),
            declines=declines, detail={"reserve_kw": alloc.reserve_served_kw,
                                       "silent_regions": list(self.silent_regions)}))
        if declines and self.round < self.max_rounds:
            return self._award_round()
        self._finish()
        return []

    def _finish(self) -> None:
        self.phase = "done"
        self._pending.clear()

    def _accepted_set_points(self) -> tuple[dict[str, float], dict[str, float]]:
        """The accepted sites' power and reserve, in the order they were accepted."""
        book = self._book
        if book is None:
            return {}, {}
        at = np.flatnonzero(self._accepted_at)
        at = at[np.argsort(self._accepted_round[at], kind="stable")]
        names = list(map(book.sites.__getitem__, at.tolist()))
        return (dict(zip(names, self._power[at].tolist())),
                dict(zip(names, self._reserve[at].tolist())))

    def outcome(self) -> StepOutcome:
        """The step's result in the flat auction's terms; only accepted awards count.

        Cost is the pay-as-bid payment to the sites: each accepted segment's |awarded kW|
        times its asked price, over the window.
        """
        if not self.done:
            raise RuntimeError("the auction is not finished")
        power, reserve = self._accepted_set_points()
        power |= self._staying
        site_cost: dict[str, float] = {}
        marginal = None
        book, booked = self._book, self._booked
        if book is not None and booked is not None:
            alloc, index = booked.allocation, booked.index
            accepted_local = self._accepted_at[index]
            mask = accepted_local[booked.segment_site]
            # pay-as-bid: what the aggregator pays, |awarded kW| x asked price, over the window
            per_site = np.bincount(
                booked.segment_site[mask],
                weights=np.abs(alloc.segment_power_kw[mask]) * booked.price_eur_mwh[mask],
                minlength=index.size) / 1000.0 * (self.window_s / 3600.0)
            site_cost = dict(zip(map(book.sites.__getitem__, index[accepted_local].tolist()),
                                 per_site[accepted_local].tolist()))
            awarded = mask & (alloc.segment_power_kw != 0.0)
            marginal = float(booked.price_eur_mwh[awarded].max()) if awarded.any() else None
        # summed exactly rounded: the same figure in whatever order the answers came
        # (sites in other processes answer in another order from run to run)
        served = math.fsum(power.values())
        return StepOutcome(
            step=self.step, target_kw=self.target_kw, served_kw=served,
            unserved_kw=_shortfall(self.target_kw, served),
            reserve_target_kw=self.reserve_kw, reserve_served_kw=math.fsum(reserve.values()),
            marginal_price_eur_mwh=marginal, cost_eur=sum(site_cost.values()),
            site_power_kw=power, site_reserve_kw=reserve, site_cost_eur=site_cost,
            declined=dict(self._declined), silent=list(self._silent), rounds=self.round)
