"""A scenario's ``market:`` section: sell the fleet's flexibility day-ahead, before the run,
and dispatch the cleared position (``docs/markets.md``).

The trader, the day-ahead auction and the rest of the market (a price-taking residual
curve at the scenario's prices) are agents on the aggregator's host; their messages cross
ZeroMQ and are traced like the rest. The cleared net position per hour becomes the
target of the merit-order negotiation, one per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vpp.agents.dispatch.devices import SiteDevice
from vpp.agents.markets.day_ahead_bidder import DayAheadBidder
from vpp.agents.markets.exchange import AncillaryMarketAgent, DayAheadMarketAgent
from vpp.agents.markets.vpp_trader import VppTraderAgent
from vpp.coordination.merit_order.bidding import Offer
from vpp.coordination.merit_order.messages import Bid, CallForBids
from vpp.markets.day_ahead import AuctionRules
from vpp.markets.messages import AncillaryAward, AncillaryOffer, HourPosition
from vpp.markets.residual import price_taking_curves
from vpp.markets.vpp_offer import storage_reserve_mw
from vpp.runs.modes.merit_order.plan import PlannedPosition, follow_plan, plan_day_ahead
from vpp.runs.scenario.devices import BatterySpec, EVSpec, ShiftableLoadSpec

MARKET_TIMEOUT_S = 30.0
"""Wall time allowed for the bids to be acknowledged, and again for the results."""


def check_market_scenario(scenario, fail) -> None:
    """The checks of a scenario with a ``market`` section; ``fail(path, message)``."""
    from vpp.runs.scenario.prices import check_price_values

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
    ancillary = scenario.market.ancillary
    if ancillary is not None:
        if ancillary.product != "reserve_up":
            fail("market.ancillary.product", f"Expected 'reserve_up', got {ancillary.product!r}: "
                 f"the merit-order dispatch holds upward reserve only")
        if not any(isinstance(d, BatterySpec) for site in scenario.sites for d in site.devices):
            fail("market.ancillary", "the VPP offers the reserve its batteries can hold, and "
                                     "it has no battery")
        if not math.isfinite(ancillary.price_eur_mw_h):
            fail("market.ancillary.price_eur_mw_h", "Expected a finite number")
    for i, site in enumerate(scenario.sites):
        for j, dev in enumerate(site.devices):
            if isinstance(dev, (ShiftableLoadSpec, EVSpec)):
                fail(f"sites[{i}].devices[{j}]",
                     f"a {'shiftable-load' if isinstance(dev, ShiftableLoadSpec) else 'ev'}'s energy "
                     f"over its window needs a bid that links hours, which hourly "
                     f"day-ahead curves cannot say: it cannot be offered day-ahead")
    from vpp.runs.modes.merit_order.plan import check_plan

    check_plan(scenario, fail)


def hourly_prices(scenario, scenario_path: Path | None) -> list[float]:
    """The day-ahead price of each hour of the horizon (EUR/MWh)."""
    from vpp.runs.scenario.prices import step_prices

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
    limits (a battery's) are shared out evenly over the hours. Upward reserve sold from a
    device (``SiteDevice.reserved_up_kw``) is kept out: that much less discharge power,
    and the energy of a call (``reserved_energy_kwh``) less to sell.
    """
    out: list[list[Offer]] = [[] for _ in range(hours)]
    for d in devices:
        flex = d.model.flexibility(hours * steps_per_hour, dt_h)
        p_min, p_max = np.asarray(flex.p_min_kw), np.asarray(flex.p_max_kw)
        held = d.reserved_up_kw
        for h in range(hours):
            step = slice(h * steps_per_hour, (h + 1) * steps_per_hour)
            low, high = float(p_min[step].max()), float(p_max[step].min()) - held
            if low > high and not held:
                low = high = float((p_min[step] + p_max[step]).mean() / 2.0)
            if flex.e_max_kwh is not None:
                energy = flex.e_max_kwh[-1] - d.reserved_energy_kwh
                high = min(high, max(energy, 0.0) / hours)
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
    reserve_kw: float = 0.0
    reserve_offered_mw: float = 0.0
    awards: tuple[AncillaryAward, ...] = ()
    held_kw: Mapping[str, float] | None = None
    plan: PlannedPosition | None = None

    def summary(self, dispatch_cost_eur: float) -> dict:
        """The ``market`` part of ``summary.json`` (units in the names)."""
        revenue = sum(p.cash_eur for p in self.positions.values())
        payment = sum(a.payment_eur for a in self.awards)
        ancillary = {}
        if self.awards or self.reserve_offered_mw:
            ancillary = {"ancillary": {
                "product": self.awards[0].product if self.awards else None,
                "offered_mw": self.reserve_offered_mw,
                "awarded_mw": self.reserve_kw / 1000.0,
                "price_eur_mw_h": self.awards[0].price_eur_mw_h if self.awards else None,
                "hours": self.awards[0].hours if self.awards else None,
                "payment_eur": payment,
                "held_kw": dict(self.held_kw or {})}}
        return {
            "market": {**ancillary, "day_ahead": {
                "residual": "price-taking curve at the scenario's prices",
                "hours": [{"hour": h, "clearing_price_eur_mwh": p.clearing_price_eur_mwh,
                           "sold_mw": p.sold_mw, "bought_mw": p.bought_mw,
                           "cash_eur": p.cash_eur}
                          for h, p in sorted(self.positions.items())],
                "sold_mwh": sum(p.sold_mw for p in self.positions.values()),
                "bought_mwh": sum(p.bought_mw for p in self.positions.values()),
                "revenue_eur": revenue,
                **({"plan": self.plan.summary()} if self.plan is not None else {}),
            }},
            "net_revenue_eur": revenue + payment - dispatch_cost_eur,
        }


def sell_day_ahead(model, scenario_path: Path | None) -> DayAheadOutcome:
    """Run the day-ahead auction of ``model``'s scenario on its aggregator host, with its
    sites' hourly bids; return the outcome (errors are ``ScenarioError``)."""
    from vpp.runs.scenario import ScenarioError

    scenario = model.scenario
    spec = scenario.market.day_ahead
    per_hour = 60 // scenario.step_minutes
    prices = hourly_prices(scenario, scenario_path)
    hours = list(range(len(prices)))
    host, loop = model.fleet.host, model.fleet.loop
    market = host.add(DayAheadMarketAgent("day-ahead", hours, math.inf))
    anc_spec = scenario.market.ancillary
    anc_market = None
    if anc_spec is not None:
        anc_market = host.add(AncillaryMarketAgent(
            "ancillary", {anc_spec.product: anc_spec.requirement_mw}, float(len(hours)),
            math.inf, pricing=anc_spec.pricing))
    trader = host.add(VppTraderAgent("trader", market.address,
                                     anc_market.address if anc_market else None))
    residual = host.add(DayAheadBidder("residual", market.address))
    offered_mw = awarded_mw = 0.0
    held: dict[str, float] = {}
    if anc_market is not None:
        offered_mw, awarded_mw, held = _sell_reserve(model, trader, anc_market, anc_spec)
    bids: dict[int, list[Bid]] = {h: [] for h in hours}
    plan = None
    if spec.plan is not None:  # the aggregator's plan, bid as a quantity per hour
        try:
            plan = plan_day_ahead(model, prices, spec.plan)
        except ValueError as exc:  # e.g. a horizon the price history cannot cover
            raise ScenarioError(f"market.day_ahead.plan: {exc}") from None
        follow_plan(model, plan)
        for h in hours:
            bids[h].append(Bid(h, [], 0.0, plan.power_kw[h]))
    for site in model.sites if plan is None else ():
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
    return DayAheadOutcome(dict(trader.positions), prices, targets, awarded_mw * 1000.0,
                           offered_mw, tuple(trader.awards), held, plan)


def _sell_reserve(model, trader: VppTraderAgent, market: AncillaryMarketAgent, spec,
                  ) -> tuple[float, float, dict[str, float]]:
    """Offer what the batteries can hold for ``spec.duration_h`` given their state of
    charge; each battery then holds its share of the award (``SiteDevice.reserved_up_kw``).
    Returns (offered MW, awarded MW, ``site/device`` -> kW held)."""
    from vpp.physics.battery import Battery
    from vpp.runs.scenario import ScenarioError

    stores: list[tuple[str, SiteDevice, float]] = []  # site, device, kW it can hold
    for site in model.sites:
        for d in site.devices:
            if not isinstance(d.model, Battery):
                continue
            b, p = d.model, d.model.params
            flex = b.flexibility(1, model.scenario.dt_h)
            usable = (p.soc_max - p.soc_min) * b.capacity_kwh
            above_min = min(max(b.energy_kwh - p.soc_min * b.capacity_kwh, 0.0), usable)
            mw = storage_reserve_mw(spec.product, energy_kwh=above_min, capacity_kwh=usable,
                                    p_charge_kw=-flex.p_min_kw[0],
                                    p_discharge_kw=flex.p_max_kw[0],
                                    duration_h=spec.duration_h, eta_c=p.eta_c, eta_d=p.eta_d)
            stores.append((site.name, d, mw * 1000.0))
    offered_kw = sum(kw for _, _, kw in stores)
    if offered_kw <= 0.0:
        return 0.0, 0.0, {}
    trader.offer_ancillary(AncillaryOffer("vpp-reserve", spec.product, offered_kw / 1000.0,
                                          spec.price_eur_mw_h))
    loop = model.fleet.loop
    if not loop.run_until(lambda: bool(trader.acks or trader.rejections), MARKET_TIMEOUT_S):
        raise TimeoutError("the ancillary market did not answer the offer")
    if trader.rejections:
        raise ScenarioError("market.ancillary: the market rejected the offer: "
                            + "; ".join(r.reason for r in trader.rejections))
    market.close_gate()
    if not loop.run_until(lambda: bool(trader.awards), MARKET_TIMEOUT_S):
        raise TimeoutError("the ancillary market sent no award")
    trader.acks.clear()
    awarded_kw = trader.reserve_mw.get(spec.product, 0.0) * 1000.0
    share = awarded_kw / offered_kw  # each battery holds its part of the award
    held = {}
    for site, device, kw in stores:
        device.reserved_up_kw = kw * share
        device.reserved_energy_kwh = kw * share * spec.duration_h
        held[f"{site}/{device.name}"] = kw * share
    return offered_kw / 1000.0, awarded_kw / 1000.0, held


def market_rows(summary: dict) -> list[tuple[str, object]]:
    """The summary rows of what a run sold before its steps (day-ahead, plan, reserve)."""
    day_ahead = summary["market"]["day_ahead"]
    rows: list[tuple[str, object]] = []
    if "ancillary" in summary["market"]:
        reserve = summary["market"]["ancillary"]
        rows += [("reserve sold (MW, upward)", reserve["awarded_mw"]),
                 ("reserve payment (EUR)", reserve["payment_eur"])]
    if "plan" in day_ahead:
        plan = day_ahead["plan"]
        rows += [
            ("plan: method", plan["method"] + (" (fallback)" if plan["fallback_used"] else "")),
            ("plan: expected revenue (EUR)", plan["expected_revenue_eur"]),
            (f"plan: CVaR {plan['risk_level']:g} of the cost (EUR)", plan["cvar_eur"])]
    rows += [("sold day-ahead (MWh)", day_ahead["sold_mwh"]),
             ("bought day-ahead (MWh)", day_ahead["bought_mwh"]),
             ("day-ahead revenue (EUR)", day_ahead["revenue_eur"]),
             ("net revenue (EUR, less dispatch cost)", summary["net_revenue_eur"])]
    return rows
