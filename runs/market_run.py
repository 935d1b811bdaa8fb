"""A scenario's ``market:`` section: sell the fleet's flexibility day-ahead, before the run,
and dispatch the cleared position (``docs/markets.md``).

The trader, the day-ahead auction and the rest of the market (a price-taking residual
curve at the scenario's prices) are agents on the aggregator's host; their messages cross
ZeroMQ and are traced like the rest. The cleared net position per hour becomes the
target of the merit-order negotiation, one per step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.day_ahead_bidder import DayAheadBidder
from agents.devices import SiteDevice
from agents.markets import DayAheadMarketAgent
from agents.vpp_trader import VppTraderAgent
from coordination.merit_order.bidding import Offer
from coordination.merit_order.messages import Bid, CallForBids
from markets.day_ahead import AuctionRules
from markets.messages import HourPosition
from markets.residual import price_taking_curves
from runs.devices import EVSpec, ShiftableLoadSpec

MARKET_TIMEOUT_S = 30.0
"""Wall time allowed for the bids to be acknowledged, and again for the results."""


def check_market_scenario(scenario, fail) -> None:
    """The checks of a scenario with a ``market`` section; ``fail(path, message)``."""
    from runs.prices import check_price_values

    if scenario.coordination != "merit_order":
        fail("market", "the sold position is dispatched by the merit-order negotiation: "
                       "a `market` section needs `coordination: merit_order`")
    if scenario.target is not None:
        fail("target", "a scenario with a `market` section dispatches its cleared "
                       "position: leave `target` out")
    if 60 % scenario.step_minutes or (scenario.steps * scenario.step_minutes) % 60:
        fail("step_minutes", "a day-ahead market trades whole hours: Expected steps that "
                             "divide an hour and a horizon of whole hours")
    hours = scenario.steps * scenario.step_minutes // 60
    prices = scenario.market.day_ahead.prices
    check_price_values(prices, hours if prices.values_eur_mwh is not None else 0,
                       "market.day_ahead.prices", fail)
    rules = AuctionRules()
    for k, v in enumerate(prices.values_eur_mwh or []):
        if not rules.price_floor_eur_mwh <= v <= rules.price_cap_eur_mwh:
            fail(f"market.day_ahead.prices.values_eur_mwh[{k}]",
                 f"Expected a price within the auction's floor {rules.price_floor_eur_mwh} "
                 f"and cap {rules.price_cap_eur_mwh} EUR/MWh")
    for i, site in enumerate(scenario.sites):
        for j, dev in enumerate(site.devices):
            if isinstance(dev, (ShiftableLoadSpec, EVSpec)):
                fail(f"sites[{i}].devices[{j}]",
                     f"a {'shiftable-load' if isinstance(dev, ShiftableLoadSpec) else 'ev'}'s energy "
                     f"over its window needs a bid that links hours, which hourly "
                     f"day-ahead curves cannot say: it cannot be offered day-ahead")


def hourly_prices(scenario, scenario_path: Path | None) -> list[float]:
    """The day-ahead price of each hour of the horizon (EUR/MWh)."""
    from runs.prices import step_prices

    per_hour = 60 // scenario.step_minutes
    if scenario.market.day_ahead.prices.values_eur_mwh is not None:
        hours = scenario.steps // per_hour
        return [float(v) for v in scenario.market.day_ahead.prices.values_eur_mwh[:hours]]
    steps = step_prices(scenario.market.day_ahead.prices, scenario, scenario_path,
                        "market.day_ahead.prices")
    return steps[::per_hour]


def hourly_offers(devices: Sequence[SiteDevice], hours: int, steps_per_hour: int,
                  dt_h: float) -> list[list[Offer]]:
    """Each device's offer per hour, from its forecast limits (``docs/markets.md``).

    The power range of an hour is what the device can hold in every step of it; a
    demand that varies within the hour is offered at its mean, price-inelastic. Energy
    limits (a battery's) are shared out evenly over the hours.
    """
    out: list[list[Offer]] = [[] for _ in range(hours)]
    for d in devices:
        flex = d.model.flexibility(hours * steps_per_hour, dt_h)
        p_min, p_max = np.asarray(flex.p_min_kw), np.asarray(flex.p_max_kw)
        for h in range(hours):
            step = slice(h * steps_per_hour, (h + 1) * steps_per_hour)
            low, high = float(p_min[step].max()), float(p_max[step].min())
            if low > high:
                low = high = float((p_min[step] + p_max[step]).mean() / 2.0)
            if flex.e_max_kwh is not None:
                high = min(high, max(flex.e_max_kwh[-1], 0.0) / hours)
            if flex.e_min_kwh is not None:
                low = max(low, min(flex.e_min_kwh[-1], 0.0) / hours)
            low = min(low, high)
            base = low if d.baseline == "lowest" else min(max(0.0, low), high)
            out[h].append(Offer(d.name, low, high, d.cost_eur_mwh, d.absorb_price_eur_mwh,
                                base))
    return out


@dataclass(frozen=True)
class DayAheadOutcome:
    """What the VPP sold: per hour its position and price, and the targets that follow."""

    positions: dict[int, HourPosition]
    prices_eur_mwh: list[float]
    targets_kw: list[float]

    def summary(self, dispatch_cost_eur: float) -> dict:
        """The ``market`` part of ``summary.json`` (units in the names)."""
        revenue = sum(p.cash_eur for p in self.positions.values())
        return {
            "market": {"day_ahead": {
                "residual": "price-taking curve at the scenario's prices",
                "hours": [{"hour": h, "clearing_price_eur_mwh": p.clearing_price_eur_mwh,
                           "sold_mw": p.sold_mw, "bought_mw": p.bought_mw,
                           "cash_eur": p.cash_eur}
                          for h, p in sorted(self.positions.items())],
                "sold_mwh": sum(p.sold_mw for p in self.positions.values()),
                "bought_mwh": sum(p.bought_mw for p in self.positions.values()),
                "revenue_eur": revenue,
            }},
            "net_revenue_eur": revenue - dispatch_cost_eur,
        }


def sell_day_ahead(model, scenario_path: Path | None) -> DayAheadOutcome:
    """Run the day-ahead auction of ``model``'s scenario on its aggregator host, with its
    sites' hourly bids; return the outcome (errors are ``ScenarioError``)."""
    from runs.scenario import ScenarioError

    scenario = model.scenario
    spec = scenario.market.day_ahead
    per_hour = 60 // scenario.step_minutes
    prices = hourly_prices(scenario, scenario_path)
    hours = list(range(len(prices)))
    host, loop = model.agg_host, model.loop
    market = host.add(DayAheadMarketAgent("day-ahead", hours, math.inf))
    trader = host.add(VppTraderAgent("trader", market.address))
    residual = host.add(DayAheadBidder("residual", market.address))
    bids: dict[int, list[Bid]] = {h: [] for h in hours}
    for site in model.sites:
        for h, offers in enumerate(hourly_offers(site.devices, len(hours), per_hour,
                                                 scenario.dt_h)):
            call = CallForBids(h, h * 3600.0, 3600.0, 0.0, 0.0,
                               scenario.negotiation.deadline_ms)
            bids[h].append(site.strategy.bid(call, offers))
    try:
        trader.offer_day_ahead(bids)
    except ValueError as exc:
        raise ScenarioError(f"market: the VPP's day-ahead bid: {exc}") from None
    residual.bid(price_taking_curves(prices, spec.residual_mw))

    def answered(agent) -> bool:
        return bool(agent.acks or agent.rejections)

    if not loop.run_until(lambda: answered(trader) and answered(residual), MARKET_TIMEOUT_S):
        raise TimeoutError("the day-ahead market did not answer the bids")
    rejected = trader.rejections + residual.rejections
    if rejected:
        raise ScenarioError("market: the day-ahead market rejected "
                            + "; ".join(f"{r.bid_id}: {r.reason}" for r in rejected))
    market.close_gate()
    if not loop.run_until(lambda: trader.result is not None, MARKET_TIMEOUT_S):
        raise TimeoutError("the day-ahead market sent no result")
    targets = trader.dispatch_targets_kw(hours, per_hour)
    return DayAheadOutcome(dict(trader.positions), prices, targets)
