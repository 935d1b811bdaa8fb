"""What a merit-order aggregator writes to the trace when a step ends (the flat one and
the portfolio aggregator of a hierarchy alike): a row per round, and the step's row with
every site's dispatch."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

from vpp.coordination.merit_order.auction import StepOutcome


def trace_step(trace: Any, *, now: float, conversation: str, records: Sequence[Any],
               outcome: StepOutcome, window_start_s: float, sites: Sequence[str]) -> None:
    """Record a finished step: each round of ``records`` (``RoundRecord``-like) at
    simulated time ``now``, then the step's outcome with a dispatch row for each of
    ``sites`` (in their order; a site without an award at 0)."""
    for rec in records:
        trace.round(sim_time=now, step=outcome.step, conversation=conversation,
                    protocol="merit-order", round=rec.round, target_kw=rec.target_kw,
                    served_kw=rec.served_kw, unserved_kw=rec.unserved_kw,
                    price=rec.price, bids=rec.bids, awards=rec.awards,
                    declines=rec.declines, detail={"phase": rec.phase, **rec.detail})
    zero = repeat(0.0)
    trace.step(
        step=outcome.step, sim_time=window_start_s, target_kw=outcome.target_kw,
        served_kw=outcome.served_kw, unserved_kw=outcome.unserved_kw,
        reserve_target_kw=outcome.reserve_target_kw,
        reserve_served_kw=outcome.reserve_served_kw,
        marginal_price=outcome.marginal_price_eur_mwh, cost_eur=outcome.cost_eur,
        rounds=outcome.rounds, silent=outcome.silent,
        dispatch=list(zip(sites, map(outcome.site_power_kw.get, sites, zero),
                          map(outcome.site_reserve_kw.get, sites, zero),
                          map(outcome.site_cost_eur.get, sites, zero))),
    )
