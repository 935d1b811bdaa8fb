"""The flat check of ``vpp bench swarm --regions R --processes P`` without reading the trace.

With the regions in site processes, the bench's process sees only what reaches the root:
each region's aggregate curve (every bid of its sites, as it carried them up: baseline,
reserve price, each segment's quantity and price at its position in the bid) and each
region's answers (the sites that declined or fell silent, with the round). A
:class:`RootTap` keeps those of the steps to check; :func:`flat_outcome` runs the flat
auction (:class:`~vpp.coordination.merit_order.auction.MeritOrderAuction`) on those bids,
each site accepting every award before the round in which its region reported it out, and
declining (or staying silent) in that round. The check covers a sample of the steps at
large sizes (:func:`checked_steps`), named in the bench's JSON.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from vpp.coordination.hierarchy.messages import AggregateBid, RegionAnswer
from vpp.coordination.merit_order.auction import MeritOrderAuction, StepOutcome
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    BidSegment,
    CallForBids,
    Decline,
)

CHECK_ALL_UP_TO = 200_000
"""Site-steps up to which every step is checked (1,000 sites x 96 steps: all of them)."""

CHECK_SAMPLE = 8
"""How many steps, evenly spread from the first to the last, are checked beyond that."""


def checked_steps(sites: int, steps: int) -> list[int]:
    """The steps the flat check covers: all while ``sites x steps`` is at most
    :data:`CHECK_ALL_UP_TO`, else :data:`CHECK_SAMPLE` evenly spread (first and last
    included)."""
    if sites * steps <= CHECK_ALL_UP_TO or steps <= CHECK_SAMPLE:
        return list(range(steps))
    return sorted({round(i * (steps - 1) / (CHECK_SAMPLE - 1)) for i in range(CHECK_SAMPLE)})


def bids_of_curve(msg: AggregateBid) -> dict[str, Bid]:
    """Each site's bid as an aggregate curve carries it (segments back in bid order)."""
    segments: list[list[tuple[int, BidSegment]]] = [[] for _ in msg.sites]
    for site, index, q, p in zip(msg.segment_site, msg.segment_index, msg.quantity_kw,
                                 msg.price_eur_mwh):
        segments[site].append((index, BidSegment(q, p)))
    return {s: Bid(msg.step, [seg for _, seg in sorted(segments[i], key=lambda x: x[0])],
                   reserve_price_eur_mw_h=msg.reserve_price_eur_mw_h[i],
                   baseline_kw=msg.baseline_kw[i])
            for i, s in enumerate(msg.sites)}


class StepSeen:
    """What the root received in one step: bids by site, each site's way out (the round
    and its ``Decline``, or None for silent), and whether some bid could not be kept (a
    region rejected it: the flat auction cannot be given it)."""

    def __init__(self) -> None:
        self._bids: dict[str, Bid] = {}
        self._received: list[AggregateBid | tuple[str, Bid]] = []
        self.out: dict[str, tuple[int, Decline | None]] = {}
        self.unreplayable: list[str] = []
        self.awarded: dict[str, int] = {}
        """A site right under the root: the round of its last award."""
        self.answered: dict[str, int] = {}
        """A site right under the root: the round of its last answer."""

    def add_bids(self, received: AggregateBid | tuple[str, Bid]) -> None:
        """Keep a region's curve (or a site's bid, with the site), read into bids by site
        when :attr:`bids` is first asked (after the step: out of its time)."""
        self._received.append(received)

    @property
    def bids(self) -> dict[str, Bid]:
        """Each site's bid, from what was received, in the order it was received."""
        for got in self._received:
            if isinstance(got, AggregateBid):
                self._bids.update(bids_of_curve(got))
            else:
                self._bids[got[0]] = got[1]
        self._received = []
        return self._bids

    def ways_out(self) -> dict[str, tuple[int, Decline | None]]:
        """Each site's way out, a site right under the root silent in the round of an
        award it did not answer."""
        out = dict(self.out)
        for site, round in self.awarded.items():
            if site not in out and self.answered.get(site) != round:
                out[site] = (round, None)
        return out


class RootTap:
    """Records what the root agent receives in the ``steps`` to check, and the rounds of
    its awards to sites right under it (its ``handle`` and ``send`` wrapped: a few
    messages per region and step).

    Args:
        root: the :class:`~vpp.agents.hierarchy.merit_root.PortfolioAgent`.
        steps: the steps to record.
    """

    def __init__(self, root: Any, steps: list[int]) -> None:
        self.root = root
        self.seen: dict[int, StepSeen] = {}
        conversations = {f"merit-order/{k}": k for k in steps}

        def tapped(envelope: Any, body: Any) -> None:
            k = conversations.get(envelope.conversation)
            if k is not None:
                auction = root.auction
                self._record(self.seen.setdefault(k, StepSeen()), envelope.sender, body,
                             auction.round if auction is not None else 0)
            handle(envelope, body)

        def sent(receiver: str, body: Any, *, conversation: str = "", round: int = 0) -> None:
            k = conversations.get(conversation)
            if k is not None and isinstance(body, Award):
                self.seen.setdefault(k, StepSeen()).awarded[receiver] = round
            send(receiver, body, conversation=conversation, round=round)

        handle, send = root.handle, root.send
        root.handle, root.send = tapped, sent

    @staticmethod
    def _record(seen: StepSeen, sender: str, body: Any, round: int) -> None:
        if isinstance(body, AggregateBid):
            seen.add_bids(body)
            seen.unreplayable += [r.site for r in body.rejected]
        elif isinstance(body, RegionAnswer):
            for d in body.declined:
                seen.out[d.site] = (body.round, Decline(body.step, d.reason))
            for s in body.silent:
                seen.out[s] = (body.round, None)
        elif isinstance(body, Bid):
            seen.add_bids((sender, body))
        elif isinstance(body, Decline):
            seen.out[sender] = (round, body)
        elif isinstance(body, Accept):
            seen.answered[sender] = round


def flat_outcome(sites: list[str], seen: StepSeen, *, step: int, target_kw: float,
                 reserve_kw: float, window_start_s: float, window_s: float,
                 deadline_ms: int, max_rounds: int) -> StepOutcome:
    """The flat auction over ``sites`` on the bids ``seen``: a site without a bid is silent
    at the call; a site accepts its awards before the round it went out in, and in that
    round declines as it declined (or stays silent)."""
    auction = MeritOrderAuction(step=step, window_start_s=window_start_s, window_s=window_s,
                                target_kw=target_kw, reserve_kw=reserve_kw, sites=sites,
                                deadline_ms=deadline_ms, max_rounds=max_rounds)
    out_at: Mapping[str, tuple[int, Decline | None]] = seen.ways_out()
    bids = seen.bids
    queue = deque(auction.start())
    while not auction.done:
        while queue:
            msg = queue.popleft()
            site, body = msg.receiver, msg.body
            if isinstance(body, CallForBids):
                bid = bids.get(site)
                if bid is not None:
                    queue.extend(auction.on_bid(site, bid))
            elif isinstance(body, Award):
                queue.extend(_answer(auction, site, body, out_at.get(site)))
        if not auction.done:
            queue.extend(auction.on_deadline())
    return auction.outcome()


def _answer(auction: MeritOrderAuction, site: str, award: Award,
            out: tuple[int, Decline | None] | None) -> list:
    if out is None or auction.round < out[0]:
        return auction.on_accept(site, Accept(award.step, award.power_kw, award.reserve_kw))
    if auction.round == out[0] and out[1] is not None:
        return auction.on_decline(site, out[1])
    return []  # silent in the round it went out in (or awarded after it: not answered)


def root_flat_equal(model: Any, seen: StepSeen | None, k: int, got: StepOutcome) -> bool:
    """Step ``k``'s outcome ``got`` equals the flat auction's on what the root saw (False
    when nothing was seen or a rejected bid cannot be replayed)."""
    if seen is None or seen.unreplayable:
        return False
    negotiation = model.scenario.negotiation
    flat = flat_outcome(model.aggregator.sites, seen, step=k, target_kw=model.targets[k],
                        reserve_kw=model.reserves[k], window_start_s=k * model.window_s,
                        window_s=model.window_s, deadline_ms=negotiation.deadline_ms,
                        max_rounds=negotiation.max_rounds)
    return (got.site_power_kw == flat.site_power_kw
            and got.site_reserve_kw == flat.site_reserve_kw
            and got.silent == flat.silent and got.declined == flat.declined)
