"""The aggregator's side of the merit-order contract net, as a state machine.

No sockets: a test (or an agent) feeds it messages one by one and sends what it returns.
The sequence, written down in ``docs/protocols/merit-order.md``:

round 0  CallForBids to every site; Bids back until all answered or the deadline passed.
round 1  Award (power, reserve) to every site with a valid bid, zero awards included;
         each answers Accept or Decline.
round k  after declines or silence, the merit order is run again without those sites and
         an Award goes to each site whose set-point changed; at most ``max_rounds`` rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.allocation import Allocation, allocate, snap_shortfall
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    CallForBids,
    Decline,
)

_MATCH_KW = 1e-6


class Outgoing(NamedTuple):
    """A message the auction wants sent to ``receiver`` (a site name) in ``round``."""

    receiver: str
    body: msgspec.Struct
    round: int


@dataclass(frozen=True)
class RoundRecord:
    """What one round did, for the trace's ``rounds`` table."""

    round: int
    phase: str
    target_kw: float
    served_kw: float | None
    unserved_kw: float | None
    price: float | None
    bids: int
    awards: int
    declines: int
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    """The result of one step's negotiation: only accepted awards count as served.

    ``served_kw`` is the sum of the accepted net set-points plus the baselines of the sites
    that declined (they stay there); ``unserved_kw`` is how far it is from the target (in
    either direction), never hidden. Silent sites are not counted: nothing is known of them.
    ``cost_eur`` and ``site_cost_eur`` are the pay-as-bid payment to the sites over the
    window (|awarded kW beyond the baseline| x asked price): > 0 when the aggregator pays,
    < 0 when an absorbing site asking a negative price pays it.
    """

    step: int
    target_kw: float
    served_kw: float
    unserved_kw: float
    reserve_target_kw: float
    reserve_served_kw: float
    marginal_price_eur_mwh: float | None
    cost_eur: float
    site_power_kw: dict[str, float]
    site_reserve_kw: dict[str, float]
    site_cost_eur: dict[str, float]
    declined: dict[str, str]
    silent: list[str]
    rounds: int


_outgoing = partial(tuple.__new__, Outgoing)
"""An :class:`Outgoing` from a (receiver, body, round) tuple (what its ``__new__`` makes,
without a Python call)."""


_first, _second = itemgetter(0), itemgetter(1)


def _shortfall(target_kw: float, served_kw: float) -> float:
    """How far the served power is from the target (float round-off reported as 0)."""
    return snap_shortfall(abs(target_kw - served_kw), abs(target_kw))


def check_bid(bid: Bid, step: int) -> None:
    """Raise :class:`ProtocolError` naming what is wrong with a bid for ``step``."""
    if bid.step != step:
        raise ProtocolError(f"Bid.step is {bid.step}, the call was for step {step}")
    # fast path: a sum is finite when every term is (NaN and infinities propagate)
    total = 0
    for s in bid.segments:
        total += s.quantity_kw + s.price_eur_mwh
    if not math.isfinite(total):
        for i, seg in enumerate(bid.segments):
            if not (math.isfinite(seg.quantity_kw) and math.isfinite(seg.price_eur_mwh)):
                raise ProtocolError(f"Bid.segments[{i}] is not finite: {seg}")
    if not math.isfinite(bid.reserve_price_eur_mw_h):
        raise ProtocolError("Bid.reserve_price_eur_mw_h is not finite")
    if not math.isfinite(bid.baseline_kw):
        raise ProtocolError("Bid.baseline_kw is not finite")


class SitePositions:
    """The sites of an auction in their tie order, checked unique once: an aggregator
    that calls the same sites every step makes this once and hands it to each step's
    auction (``positions``), which then only compares them with its ``sites`` (equal
    names, in the same order: else it makes its own).

    Args:
        sites: the site names, in a fixed order (ties go to the earlier).

    Raises:
        ValueError: when a name appears twice.
    """

    def __init__(self, sites: Sequence[str]) -> None:
        self.names = list(sites)
        """The names, as a list (shared by the auctions: never changed)."""
        self.position = {s: i for i, s in enumerate(self.names)}
        """Each name's position in ``names``."""
        if len(self.position) != len(self.names):
            raise ValueError("site names in an auction must be unique")


class MeritOrderAuction:
    """One step's contract net, seen from the aggregator.

    Args:
        step: the simulated step being negotiated.
        window_start_s: the start of the delivery window, simulated seconds.
        window_s: the window's length in seconds.
        target_kw: the power to serve (> 0 inject, < 0 absorb).
        reserve_kw: upward reserve wanted, from headroom only.
        sites: the names of the sites called, in a fixed order (ties go to the earlier).
        deadline_ms: how long each phase waits before treating a site as silent.
        max_rounds: the last award round; declines after it leave energy unserved.
        positions: the sites' :class:`SitePositions`, made once by a caller that runs many
            steps (used when its names equal ``sites``); None: made here.
    """

    def __init__(
        self, *, step: int, window_start_s: float, window_s: float, target_kw: float,
        reserve_kw: float, sites: Sequence[str], deadline_ms: int = 2000, max_rounds: int = 5,
        positions: SitePositions | None = None,
    ) -> None:
        if positions is None or positions.names != sites:  # (one pass: same objects)
            positions = SitePositions(sites)
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        self.step = step
        self.window_start_s = window_start_s
        self.window_s = window_s
        self.target_kw = target_kw
        self.reserve_kw = reserve_kw
        self.sites = positions.names
        self._position = positions.position
        self.deadline_ms = deadline_ms
        self.max_rounds = max_rounds
        self.round = 0
        self.phase = "new"
        self.records: list[RoundRecord] = []
        self._bids: dict[str, Bid] = {}
        self._pending: set[str] = set()
        self._awarded: dict[str, tuple[float, float]] = {}
        self._accepted: dict[str, tuple[float, float]] = {}
        self._declined: dict[str, str] = {}
        self._silent: list[str] = []
        self._round_declines = 0
        self._allocation: Allocation | None = None
        self._segment_site: np.ndarray = np.zeros(0, dtype=np.intp)
        self._segment_price: np.ndarray = np.zeros(0)
        self._eligible_now: list[str] = []
        self._baseline_kw = 0.0
        self._staying: dict[str, float] = {}
        self._pending_error: list[Outgoing] = []

    # -- inputs ------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once every award is answered (or the rounds ran out)."""
        return self.phase == "done"

    @property
    def waiting_for(self) -> frozenset[str]:
        """The sites whose answer the current phase still waits for."""
        return frozenset(self._pending)

    def start(self) -> list[Outgoing]:
        """Round 0: a call for bids to every site."""
        if self.phase != "new":
            raise RuntimeError("the auction has already started")
        self.phase = "bidding"
        self._pending = set(self.sites)
        call = CallForBids(self.step, self.window_start_s, self.window_s, self.target_kw,
                           self.reserve_kw, self.deadline_ms)
        # (Outgoing made as its __new__ does, without a call per site)
        out = list(map(_outgoing, zip(self.sites, repeat(call), repeat(0))))
        if not self.sites:
            return self._close_bidding()
        return out

    def on_bid(self, site: str, bid: Bid) -> list[Outgoing]:
        """A site's bid; the awards go out once every site has bid."""
        pending = self._pending
        if self.phase != "bidding" or site not in pending:
            self._expect(site, "bidding", "Bid")  # (raises: late, duplicate or unknown)
        pending.discard(site)
        try:
            check_bid(bid, self.step)
        except ProtocolError as exc:
            self._declined[site] = f"invalid bid: {exc}"
            # the last awaited bid releases the awards: kept for take_after_error
            self._pending_error = self._after_answer()
            raise
        self._bids[site] = bid
        return self._after_answer() if not pending else []

    def take_after_error(self) -> list[Outgoing]:
        """What handling an invalid bid wants sent (the raise could not return it): the
        awards, when that bid was the last one awaited."""
        out, self._pending_error = self._pending_error, []
        return out

    def on_accept(self, site: str, accept: Accept) -> list[Outgoing]:
        """A site accepts its current award."""
        pending = self._pending
        if self.phase != "awarding" or site not in pending:
            self._expect(site, "awarding", "Accept")  # (raises)
        power, reserve = self._awarded[site]
        if (accept.step != self.step or abs(accept.power_kw - power) > _MATCH_KW
                or abs(accept.reserve_kw - reserve) > _MATCH_KW):
            raise ProtocolError(
                f"Accept from {site} ({accept.power_kw} kW, {accept.reserve_kw} kW reserve, "
                f"step {accept.step}) does not match the award ({power} kW, {reserve} kW, "
                f"step {self.step})"
            )
        pending.discard(site)
        self._accepted[site] = (power, reserve)
        return self._after_answer() if not pending else []

    def on_decline(self, site: str, decline: Decline) -> list[Outgoing]:
        """A site declines its award and leaves the step."""
        self._expect(site, "awarding", "Decline")
        self._pending.discard(site)
        self._declined[site] = decline.reason or "declined"
        self._accepted.pop(site, None)
        # a site that declines stays at the baseline it bid
        self._staying[site] = self._bids[site].baseline_kw
        self._round_declines += 1
        return self._after_answer()

    def on_deadline(self) -> list[Outgoing]:
        """The current phase's deadline passed: the sites still awaited are silent."""
        if self.phase not in ("bidding", "awarding"):
            return []
        for site in sorted(self._pending, key=self._position.__getitem__):
            self._silent.append(site)
            self._declined[site] = "silent"
            self._accepted.pop(site, None)
            if self.phase == "awarding":
                self._round_declines += 1
        self._pending.clear()
        return self._after_answer()

    # -- internals ---------------------------------------------------------------------
    def _expect(self, site: str, phase: str, kind: str) -> None:
        if self.phase == phase and site in self._pending:
            return
        if site not in self._position:
            raise ProtocolError(f"{kind} from {site}, which was not called for step {self.step}")
        if self.phase != phase or site not in self._pending:
            raise ProtocolError(f"unexpected {kind} from {site} in the {self.phase} phase "
                                f"of step {self.step} (late or duplicate)")

    def _after_answer(self) -> list[Outgoing]:
        if self._pending:
            return []
        if self.phase == "bidding":
            return self._close_bidding()
        return self._close_award_round()

    def _close_bidding(self) -> list[Outgoing]:
        self.records.append(RoundRecord(
            0, "bids", self.target_kw, None, None, None, bids=len(self._bids), awards=0,
            declines=len(self._declined), detail={"silent": list(self._silent)},
        ))
        self.phase = "awarding"
        return self._award_round()

    def _eligible(self) -> list[str]:
        return [s for s in self.sites if s in self._bids and s not in self._declined]

    def _award_round(self) -> list[Outgoing]:
        eligible = self._eligible()
        bids = [self._bids[s] for s in eligible]  # bids[i] is eligible[i]'s
        segments = [seg for bid in bids for seg in bid.segments]
        qty = [seg.quantity_kw for seg in segments]
        price = [seg.price_eur_mwh for seg in segments]
        reserve_price = [bid.reserve_price_eur_mw_h for bid in bids]
        baseline = [bid.baseline_kw for bid in bids]
        self._baseline_kw = sum(baseline) + math.fsum(self._staying.values())
        # each segment's site: its bid's position in eligible
        self._segment_site = np.repeat(np.arange(len(bids), dtype=np.intp),
                                       [len(bid.segments) for bid in bids])
        self._segment_price = np.asarray(price, dtype=float)
        # the segments are deviations from the baselines: allocate what the baselines leave
        alloc = allocate(self._segment_site, np.asarray(qty, dtype=float), self._segment_price,
                         self.target_kw - self._baseline_kw, len(eligible), self.reserve_kw,
                         np.asarray(reserve_price, dtype=float))
        self._allocation = alloc
        self.round += 1
        out: list[Outgoing] = []
        site_power, site_reserve = alloc.site_power_kw.tolist(), alloc.site_reserve_kw.tolist()
        step, round, price_eur_mwh = self.step, self.round, alloc.marginal_price_eur_mwh
        awarded, accepted, pending = self._awarded, self._accepted, self._pending
        for i, s in enumerate(eligible):
            award = (baseline[i] + site_power[i], site_reserve[i])
            if round > 1 and awarded.get(s) == award:
                continue
            awarded[s] = award
            accepted.pop(s, None)
            pending.add(s)
            out.append(_outgoing((s, Award(step, award[0], award[1], price_eur_mwh), round)))
        self._round_declines = 0
        self._eligible_now = eligible
        if not out:
            self._finish()
        return out

    def _close_award_round(self) -> list[Outgoing]:
        alloc = self._allocation
        assert alloc is not None
        served = self._baseline_kw + alloc.served_kw
        self.records.append(RoundRecord(
            self.round, "awards", self.target_kw, served, _shortfall(self.target_kw, served),
            alloc.marginal_price_eur_mwh, bids=len(self._bids),
            awards=sum(map(self._awarded.__contains__, self._eligible_now)),
            declines=self._round_declines,
            detail={"reserve_kw": alloc.reserve_served_kw},
        ))
        if self._round_declines and self.round < self.max_rounds:
            return self._award_round()
        self._finish()
        return []

    def _finish(self) -> None:
        self.phase = "done"
        self._pending.clear()

    def outcome(self) -> StepOutcome:
        """The step's result; only accepted awards are counted as served."""
        if not self.done:
            raise RuntimeError("the auction is not finished")
        accepted = self._accepted
        # (the dictionaries the comprehensions over accepted.items() make, built in C)
        power = dict(zip(accepted, map(_first, accepted.values())))
        power |= self._staying
        reserve = dict(zip(accepted, map(_second, accepted.values())))
        # summed exactly rounded: the same figure in whatever order the answers came
        # (sites in other processes answer in another order from run to run)
        served = math.fsum(power.values())
        site_cost: dict[str, float] = {}
        marginal = None
        alloc = self._allocation
        window_h = self.window_s / 3600.0
        if alloc is not None:
            accepted_index = [i for i, s in enumerate(self._eligible_now) if s in accepted]
            # each segment's site looked up in a per-site flag (what np.isin would answer)
            accepted_site = np.zeros(len(self._eligible_now), dtype=bool)
            accepted_site[accepted_index] = True
            mask = accepted_site[self._segment_site]
            # pay-as-bid: each accepted segment's |power| times its asked price, over the
            # window: what the aggregator pays (an absorber asking a negative price pays)
            per_site = np.bincount(
                self._segment_site[mask],
                weights=np.abs(alloc.segment_power_kw[mask]) * self._segment_price[mask],
                minlength=len(self._eligible_now)) / 1000.0 * window_h
            names, costs = self._eligible_now, per_site.tolist()
            site_cost = {names[i]: costs[i] for i in accepted_index}
            awarded = mask & (alloc.segment_power_kw != 0.0)
            marginal = float(self._segment_price[awarded].max()) if awarded.any() else None
        return StepOutcome(
            step=self.step, target_kw=self.target_kw, served_kw=served,
            unserved_kw=_shortfall(self.target_kw, served),
            reserve_target_kw=self.reserve_kw, reserve_served_kw=math.fsum(reserve.values()),
            marginal_price_eur_mwh=marginal, cost_eur=sum(site_cost.values()),
            site_power_kw=power, site_reserve_kw=reserve, site_cost_eur=site_cost,
            declined=dict(self._declined),
            silent=list(self._silent), rounds=self.round,
        )
