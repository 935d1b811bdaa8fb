"""The ``distributed`` problem kind: share a power target and a reserve among sites by the
swarm's own negotiation.

The default plug-in drives the merit-order contract net (``vpp.coordination.merit_order``:
the aggregator's :class:`MeritOrderAuction` state machine and each site's
:class:`MarginalCostBidder`) message by message, without sockets, exactly as the agents do
over ZeroMQ: call for bids, bids, awards in price order, accept or decline, re-award down
the order. Unserved power and reserve are reported, never hidden. The fallback is the same
merit order computed centrally from the sites' declared offers (no negotiation), labelled
as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.allocation import allocate
from vpp.coordination.merit_order.auction import MeritOrderAuction, StepOutcome
from vpp.coordination.merit_order.bidding import Offer, check_award
from vpp.coordination.merit_order.messages import Accept, Award, CallForBids, Decline
from vpp.coordination.merit_order.strategies import MarginalCostBidder
from vpp.coordination.planning.results import (
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    ProblemKind,
    register_kind,
)


@dataclass(frozen=True)
class SiteOffer:
    """One site: the power it can inject now (kW) and its marginal cost (EUR/MWh).

    ``delivers_kw`` (default: all of ``available_kw``) is what it can really deliver when
    awarded; a site that is awarded more declines, as an agent would.
    """

    site_id: str
    available_kw: float
    marginal_cost_eur_mwh: float
    reserve_price_eur_mw_h: float = 0.0
    delivers_kw: float | None = None

    def __post_init__(self) -> None:
        for name in ("available_kw", "marginal_cost_eur_mwh", "reserve_price_eur_mw_h"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"site {self.site_id}: {name} must be finite")
        if self.available_kw < 0:
            raise ValueError(f"site {self.site_id}: available_kw must be >= 0, "
                             f"got {self.available_kw}")


@dataclass(frozen=True)
class DistributedProblem:
    """Serve ``total_power_kw`` (and keep ``reserve_kw`` of upward headroom) from ``sites``
    over a window of ``dt_h`` hours."""

    sites: tuple[SiteOffer, ...]
    total_power_kw: float
    reserve_kw: float = 0.0
    dt_h: float = 1.0
    kind: str = "distributed"

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError("distributed.sites must not be empty")
        ids = [s.site_id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError("distributed.sites: site_id values must be unique")
        if not math.isfinite(self.total_power_kw):
            raise ValueError("distributed.total_power_kw must be finite")
        if not (math.isfinite(self.reserve_kw) and self.reserve_kw >= 0):
            raise ValueError(f"distributed.reserve_kw must be >= 0, got {self.reserve_kw}")
        if not (math.isfinite(self.dt_h) and self.dt_h > 0):
            raise ValueError(f"distributed.dt_h must be > 0, got {self.dt_h}")


def _offers(site: SiteOffer) -> list[Offer]:
    cap = site.available_kw if site.delivers_kw is None else min(site.delivers_kw,
                                                                 site.available_kw)
    return [Offer(site.site_id, 0.0, cap, site.marginal_cost_eur_mwh, 0.0)]


def negotiate_merit_order(problem: DistributedProblem,
                          max_rounds: int = 5) -> tuple[StepOutcome, int]:
    """Run the contract net to its end; return the outcome and the messages exchanged."""
    sites = {s.site_id: s for s in problem.sites}
    bidders = {s.site_id: MarginalCostBidder(s.reserve_price_eur_mw_h) for s in problem.sites}
    auction = MeritOrderAuction(step=0, window_start_s=0.0, window_s=problem.dt_h * 3600.0,
                                target_kw=problem.total_power_kw, reserve_kw=problem.reserve_kw,
                                sites=list(sites), max_rounds=max_rounds)
    queue = auction.start()
    messages = 0
    while queue:
        batch, queue = queue, []
        for out in batch:
            messages += 2                                   # the message and its answer
            site, body = sites[out.receiver], out.body
            if isinstance(body, CallForBids):
                # what a site would bid is what it declared; it learns its real limit
                # only when it has to deliver (delivers_kw)
                declared = [Offer(site.site_id, 0.0, site.available_kw,
                                  site.marginal_cost_eur_mwh, 0.0)]
                queue += auction.on_bid(out.receiver, bidders[out.receiver].bid(body, declared))
            elif isinstance(body, Award):
                why = check_award(_offers(site), body.power_kw, body.reserve_kw)
                if why is None:
                    queue += auction.on_accept(out.receiver,
                                               Accept(body.step, body.power_kw, body.reserve_kw))
                else:
                    queue += auction.on_decline(out.receiver, Decline(body.step, why))
            else:
                raise ProtocolError(f"unexpected {type(body).__name__} for {out.receiver}")
        if not queue and not auction.done:
            queue = auction.on_deadline()
    return auction.outcome(), messages


class MeritOrderNegotiationPlugin(OptimizationPlugin):
    """The aggregator-site merit-order negotiation as a plug-in."""

    def __init__(self, max_rounds: int = 5) -> None:
        super().__init__("merit_order_negotiation", "1.0")
        self.max_rounds = max_rounds

    def validate_problem(self, problem: object) -> bool:
        """Distributed problems only."""
        return isinstance(problem, DistributedProblem)

    def solve(self, problem: DistributedProblem,
              timeout_ms: int | None = None) -> OptimizationResult:
        """Negotiate; ``objective_value`` is the pay-as-bid cost of the window (EUR)."""
        outcome, messages = negotiate_merit_order(problem, self.max_rounds)
        return OptimizationResult(
            status=OptimizationStatus.SUCCESS, objective_value=outcome.cost_eur,
            solution={"target_power": dict(outcome.site_power_kw),
                      "reserve": dict(outcome.site_reserve_kw),
                      "served_kw": outcome.served_kw, "unserved_kw": outcome.unserved_kw,
                      "reserve_served_kw": outcome.reserve_served_kw,
                      "reserve_unserved_kw": max(problem.reserve_kw - outcome.reserve_served_kw,
                                                 0.0),
                      "marginal_price_eur_mwh": outcome.marginal_price_eur_mwh,
                      "declined": dict(outcome.declined)},
            metadata={"rounds": outcome.rounds, "messages": messages},
            method=self.name)


def _fallback(problem: DistributedProblem, reason: str) -> OptimizationResult:
    """The merit order computed centrally from the declared offers (nobody asked)."""
    ids = [s.site_id for s in problem.sites]
    alloc = allocate(np.arange(len(ids)), np.array([s.available_kw for s in problem.sites]),
                     np.array([s.marginal_cost_eur_mwh for s in problem.sites]),
                     problem.total_power_kw, len(ids), problem.reserve_kw,
                     np.array([s.reserve_price_eur_mw_h for s in problem.sites]))
    cost = alloc.cost_eur_per_h * problem.dt_h
    return OptimizationResult(
        status=OptimizationStatus.FALLBACK_USED, objective_value=cost,
        solution={"target_power": dict(zip(ids, alloc.site_power_kw.tolist())),
                  "reserve": dict(zip(ids, alloc.site_reserve_kw.tolist())),
                  "served_kw": alloc.served_kw, "unserved_kw": alloc.unserved_kw,
                  "reserve_served_kw": alloc.reserve_served_kw,
                  "reserve_unserved_kw": alloc.reserve_unserved_kw,
                  "marginal_price_eur_mwh": alloc.marginal_price_eur_mwh},
        metadata={"fallback_cost": cost},
        method="central merit order from declared offers (not negotiated)",
        fallback_used=True, fallback_reason=reason)


def _check(problem: DistributedProblem, solution: dict) -> tuple[str | None, dict]:
    power = solution.get("target_power")
    if not isinstance(power, dict):
        return "the solution has no target_power per site", {}
    known = {s.site_id: s for s in problem.sites}
    for site, value in power.items():
        if site not in known:
            return f"target_power names an unknown site {site!r}", {}
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"target_power[{site!r}] is not a finite number", {}
        if value < -1e-6 or value > known[site].available_kw + 1e-6:
            return f"target_power[{site!r}] = {value} is outside [0, available_kw]", {}
    served = float(sum(power.values()))
    return None, {"checked_served_kw": served,
                  "checked_unserved_kw": max(problem.total_power_kw - served, 0.0)}


register_kind(ProblemKind("distributed", MeritOrderNegotiationPlugin, _fallback, _check))
