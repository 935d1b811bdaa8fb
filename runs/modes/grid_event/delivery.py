"""Settling the frequency services the sites sold, after a grid event.

A ``grid.response`` group may say what capacity each of its sites sold (``sold``: MW,
product, price, contract hours). After the event each such site's metered response (the
service's set-point it reported to the grid agent for every sample, ``FrequencyResponse``)
is compared with what the service should have delivered at each sample's frequency: the
share of the sold MW that the service's own curve (its droop, or its trigger with its
delays) calls for, with no store behind it. ``vpp.markets.ancillary.assess_delivery`` then
applies the scenario's penalty rule (``grid.penalty``): the capacity payment is withheld
in proportion to the missing energy and the shortfall is charged per MWh on top.

Products and directions: ``fcr`` is called both ways (activation in [-1, 1], + = up);
``reserve_up`` only upward (the under-frequency part); ``reserve_down`` only downward (the
over-frequency part, given to the rule as positive MW absorbed).
"""

from __future__ import annotations

import csv
import fnmatch
from collections.abc import Sequence
from pathlib import Path

from vpp.agents.frequency.grid import TimelineRow
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.markets.ancillary import (
    CapacityAward,
    DeliveryAssessment,
    PenaltyRules,
    assess_delivery,
)
from vpp.runs.scenario import Scenario
from vpp.runs.scenario.grid import GridSpec, ResponseSpec


def sold_sites(scenario: Scenario) -> dict[str, ResponseSpec]:
    """The sites that sold capacity, by name, with their response group (the first group
    matching the site, as in ``vpp.runs.modes.grid_event.event.build_sites``)."""
    grid = scenario.grid
    assert grid is not None
    out: dict[str, ResponseSpec] = {}
    for name in scenario.site_names():
        group = next((g for g in grid.response
                      if any(fnmatch.fnmatchcase(name, p) for p in g.sites)), None)
        if group is not None and group.sold is not None:
            out[name] = group
    return out


def expected_activation(group: ResponseSpec, f0_hz: float,
                        timeline: Sequence[TimelineRow]) -> list[float]:
    """The share of the sold MW the service calls for at each sample (see the module doc
    for the sign per product): the service's rule run on the event's frequencies with
    1 kW contracted and no store limits."""
    assert group.sold is not None and group.service is not None
    rule = SiteFrequencyRule(f0_hz=f0_hz, service=presets.service(group.service, f0_hz),
                             contracted_kw=1.0)
    product = group.sold.product
    out = []
    for row in timeline:
        rule.decide(row.t_s, row.f_hz)
        a = rule.response_kw
        out.append(a if product == "fcr" else max(a, 0.0) if product == "reserve_up"
                   else max(-a, 0.0))
    return out


def award_of(name: str, group: ResponseSpec) -> CapacityAward:
    """The capacity the site sold, as an award: payment = MW x price x hours."""
    sold = group.sold
    assert sold is not None
    return CapacityAward(f"{name}/{sold.product}", name, sold.product, sold.mw,
                         sold.price_eur_mw_h, sold.hours,
                         sold.mw * sold.price_eur_mw_h * sold.hours)


def settle(scenario: Scenario, timeline: Sequence[TimelineRow],
           site_response_kw: dict[str, list[float]], run_dir: Path | None = None,
           label: str = "with-vpp") -> dict:
    """Assess every site that sold capacity; return the settlement for ``summary.json``
    and, with ``run_dir``, write ``delivery.csv`` (per site and sample: activation,
    required and delivered MW).

    ``site_response_kw``: each site's metered service response (kW, + up) per sample of
    ``timeline``, by site name.
    """
    grid: GridSpec = scenario.grid
    assert grid is not None
    rules = PenaltyRules(penalty_eur_mwh=grid.penalty.penalty_eur_mwh,
                         tolerance_share=grid.penalty.tolerance_share)
    providers = []
    rows = []
    for name, group in sold_sites(scenario).items():
        award = award_of(name, group)
        activation = expected_activation(group, grid.f0_hz, timeline)
        sign = -1.0 if award.product == "reserve_down" else 1.0
        delivered = [sign * kw / 1000.0 for kw in site_response_kw[name]]
        a: DeliveryAssessment = assess_delivery(award, delivered, grid.sample_period_s,
                                                activation, rules)
        providers.append({
            "site": name, "product": award.product, "sold_mw": award.awarded_mw,
            "price_eur_mw_h": award.price_eur_mw_h, "hours": award.hours,
            "required_mwh": round(a.required_mwh, 9),
            "shortfall_mwh": round(a.shortfall_mwh, 9),
            "max_shortfall_mw": round(a.max_shortfall_mw, 6),
            "performance": round(a.performance, 6),
            "capacity_payment_eur": round(a.capacity_payment_eur, 4),
            "withheld_eur": round(a.withheld_eur, 4), "penalty_eur": round(a.penalty_eur, 4),
            "net_payment_eur": round(a.net_payment_eur, 4)})
        rows.extend((label, name, r.seq, r.t_s, r.f_hz, act, award.awarded_mw * act, d)
                    for r, act, d in zip(timeline, activation, delivered))
    if run_dir is not None and rows:
        with (Path(run_dir) / "delivery.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(("run", "site", "seq", "t_s", "f_hz", "activation", "required_mw",
                        "delivered_mw"))
            w.writerows(rows)
    totals = {k: round(sum(p[k] for p in providers), 4) for k in (
        "capacity_payment_eur", "withheld_eur", "penalty_eur", "net_payment_eur")}
    return {"run": label, "penalty_eur_mwh": rules.penalty_eur_mwh,
            "tolerance_share": rules.tolerance_share,
            "providers": providers, **totals,
            "penalized": [p["site"] for p in providers if p["penalty_eur"] > 0.0]}
