"""One merit-order step through a hierarchy, driven in one process without sockets.

Every message a state machine returns is handed to its receiver at once; when nothing is
in flight and an aggregator still waits, the deadlines fire, the deepest regions' first
(a region's deadline is shorter than its parent's). Sites are scripted: ``bids`` (a site
without a bid is silent at the call) and ``answer`` (Accept, Decline, or None for silent).
``dead_regions`` maps a region to the first round it misses (0: it never answers the call),
the way a lost region process would. :func:`run_flat_step` drives the flat auction with the
same script, the reference the hierarchy must equal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.merit_region import RegionalAuction
from vpp.coordination.hierarchy.merit_root import PortfolioAuction
from vpp.coordination.hierarchy.messages import AggregateBid, RegionAnswer, RegionAward
from vpp.coordination.hierarchy.topology import SITE, Topology
from vpp.coordination.merit_order.auction import (
    MeritOrderAuction,
    Outgoing,
    StepOutcome,
)
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    CallForBids,
    Decline,
)

SiteAnswer = Callable[[str, Award], Accept | Decline | None]
"""A site's answer to an award: Accept, Decline, or None (silent)."""


def accept_all(site: str, award: Award) -> Accept:
    """Every site accepts every award."""
    return Accept(award.step, award.power_kw, award.reserve_kw)


@dataclass
class StepRun:
    """What a driven step did.

    Attributes:
        outcome: the step's outcome (the root's, or the flat auction's).
        awards: every ``Award`` each site received, in order (its last one stands).
        messages: messages handed over, by the receiving level (``root``, ``region``,
            ``site``).
        errors: the ``ProtocolError`` texts raised on the way.
    """

    outcome: StepOutcome
    awards: dict[str, list[Award]] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    root: PortfolioAuction | None = None
    regions: dict[str, RegionalAuction] = field(default_factory=dict)


def _site_reply(site: str, body: object, bids: Mapping[str, Bid], answer: SiteAnswer,
                awards: dict[str, list[Award]]) -> object | None:
    if isinstance(body, CallForBids):
        return bids.get(site)
    if isinstance(body, Award):
        awards.setdefault(site, []).append(body)
        return answer(site, body)
    return None


def run_step(topology: Topology, bids: Mapping[str, Bid], *, step: int, target_kw: float,
             reserve_kw: float = 0.0, window_start_s: float = 0.0, window_s: float = 900.0,
             answer: SiteAnswer = accept_all, dead_regions: Mapping[str, int] | None = None,
             deadline_ms: int = 2000, max_rounds: int = 5,
             max_curve_bytes: int | None = None) -> StepRun:
    """Run one step through ``topology``; see the module's doc (``max_curve_bytes``: the
    regions send larger curves in parts)."""
    dead = dict(dead_regions or {})
    root = PortfolioAuction(step=step, window_start_s=window_start_s, window_s=window_s,
                            target_kw=target_kw, reserve_kw=reserve_kw, topology=topology,
                            deadline_ms=deadline_ms, max_rounds=max_rounds)
    regions = {r: RegionalAuction(r, topology, max_curve_bytes=max_curve_bytes)
               for r in topology.regions}
    run = StepRun(outcome=None, root=root, regions=regions)  # type: ignore[arg-type]
    counts = {"root": 0, "region": 0, "site": 0}
    queue: deque[tuple[str, Outgoing]] = deque((root.topology.root, o) for o in root.start())

    def handle(machine, call: Callable[[], list[Outgoing]]) -> list[Outgoing]:
        try:
            return call()
        except ProtocolError as exc:
            run.errors.append(str(exc))
            return machine.take_after_error() if hasattr(machine, "take_after_error") else []

    def deliver(sender: str, out: Outgoing) -> list[Outgoing]:
        receiver, body = out.receiver, out.body
        kind = topology.kind(receiver)
        if kind == SITE:
            counts["site"] += 1
            reply = _site_reply(receiver, body, bids, answer, run.awards)
            return [] if reply is None else [Outgoing(sender, reply, out.round)]
        if kind == "region" and receiver in dead and out.round >= dead[receiver]:
            return []
        counts[kind] += 1
        node = root if kind == "root" else regions[receiver]
        if isinstance(body, CallForBids):
            return handle(node, lambda: node.on_call(body))
        if isinstance(body, RegionAward):
            return handle(node, lambda: node.on_award(body))
        if isinstance(body, Bid):
            return handle(node, lambda: node.on_bid(sender, body))
        if isinstance(body, AggregateBid):
            return handle(node, lambda: node.on_aggregate_bid(sender, body))
        if isinstance(body, Accept):
            return handle(node, lambda: node.on_accept(sender, body))
        if isinstance(body, Decline):
            return handle(node, lambda: node.on_decline(sender, body))
        if isinstance(body, RegionAnswer):
            return handle(node, lambda: node.on_region_answer(sender, body))
        raise TypeError(f"no route for {type(body).__name__} to {receiver}")

    def alive(region: str) -> bool:
        return region not in dead or root.round < dead[region]

    while not root.done:
        while queue:
            sender, out = queue.popleft()
            queue.extend((out.receiver, o) for o in deliver(sender, out))
        if root.done:
            break
        waiting = [r for r in regions.values() if r.waiting_for and alive(r.region)]
        if waiting:
            deepest = max(topology.depth(r.region) for r in waiting)
            for r in waiting:
                if topology.depth(r.region) == deepest:
                    queue.extend((r.region, o) for o in handle(r, r.on_deadline))
        else:
            queue.extend((root.topology.root, o) for o in handle(root, root.on_deadline))
    run.outcome = root.outcome()
    run.messages = counts
    return run


def run_flat_step(sites: list[str], bids: Mapping[str, Bid], *, step: int, target_kw: float,
                  reserve_kw: float = 0.0, window_start_s: float = 0.0, window_s: float = 900.0,
                  answer: SiteAnswer = accept_all, deadline_ms: int = 2000,
                  max_rounds: int = 5) -> StepRun:
    """The same step through the flat auction (sites in fleet order): the reference."""
    auction = MeritOrderAuction(step=step, window_start_s=window_start_s, window_s=window_s,
                                target_kw=target_kw, reserve_kw=reserve_kw, sites=sites,
                                deadline_ms=deadline_ms, max_rounds=max_rounds)
    run = StepRun(outcome=None)  # type: ignore[arg-type]
    queue = deque(auction.start())
    count = 0
    while not auction.done:
        while queue:
            out = queue.popleft()
            count += 1
            reply = _site_reply(out.receiver, out.body, bids, answer, run.awards)
            try:
                if isinstance(reply, Bid):
                    queue.extend(auction.on_bid(out.receiver, reply))
                elif isinstance(reply, Accept):
                    queue.extend(auction.on_accept(out.receiver, reply))
                elif isinstance(reply, Decline):
                    queue.extend(auction.on_decline(out.receiver, reply))
            except ProtocolError as exc:
                run.errors.append(str(exc))
        if not auction.done:
            queue.extend(auction.on_deadline())
    run.outcome = auction.outcome()
    run.messages = {"site": count}
    return run
