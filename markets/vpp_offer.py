"""What the VPP offers to the markets: day-ahead curves from its sites' bids, reserve
capacity of its storage, and its cleared position as dispatch targets.

Transport-free. Site bids are the merit-order bids of ``coordination/merit_order``: any
object with ``segments``, each with ``quantity_kw`` (> 0 offers injection, < 0 absorption)
and ``price_eur_mwh`` (what the site asks per MWh, in either direction), and optionally a
``baseline_kw`` (the site's net power when not dispatched; the segments are deviations
from it). Markets take MW and EUR/MWh (see ``docs/protocols/markets.md``, "The VPP as a
participant").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from vpp.markets.day_ahead import AuctionRules
from vpp.markets.messages import AncillaryOffer, CurveStep, HourlyCurve, HourPosition

__all__ = [
    "BidLike",
    "SegmentLike",
    "ancillary_offer",
    "day_ahead_curve",
    "day_ahead_curves",
    "position_to_targets_kw",
    "storage_reserve_mw",
]

KW_PER_MW = 1000.0


class SegmentLike(Protocol):
    """A merit-order bid segment: kW (signed) at EUR/MWh."""

    quantity_kw: float
    price_eur_mwh: float


class BidLike(Protocol):
    """A site's merit-order bid: its segments (and, if it has one, ``baseline_kw``)."""

    segments: Sequence[SegmentLike]


def day_ahead_curve(site_bids: Iterable[BidLike],
                    rules: AuctionRules = AuctionRules()) -> list[CurveStep]:
    """Aggregate the sites' bids for one hour into one step curve (MW, EUR/MWh).

    An injection segment (``q`` kW > 0 asked ``p``) sells ``q/1000`` MW at ``p``; an
    absorption segment (``q`` < 0, the site asks ``p`` per MWh absorbed) buys ``-q/1000``
    MW at the limit price ``-p``. The sites' summed ``baseline_kw`` (if their bids carry
    one) is not price-sensitive: a net baseline injection sells at the price floor, a net
    baseline consumption buys at the price cap. Steps of one side at one price are
    merged; sells come by ascending price, then buys by descending limit. Zero segments
    are left out.
    """
    sells: dict[float, float] = {}
    buys: dict[float, float] = {}
    floor, cap = rules.price_floor_eur_mwh, rules.price_cap_eur_mwh
    baseline_kw = 0.0
    for i, bid in enumerate(site_bids):
        base = float(getattr(bid, "baseline_kw", 0.0))
        if not math.isfinite(base):
            raise ValueError(f"site_bids[{i}].baseline_kw: {base} must be finite")
        baseline_kw += base
        for j, seg in enumerate(bid.segments):
            q, p = float(seg.quantity_kw), float(seg.price_eur_mwh)
            if not (math.isfinite(q) and math.isfinite(p)):
                raise ValueError(f"site_bids[{i}].segments[{j}]: quantity_kw {q} and "
                                 f"price_eur_mwh {p} must be finite")
            if q == 0.0:
                continue
            limit = p if q > 0 else -p
            if not floor <= limit <= cap:
                raise ValueError(
                    f"site_bids[{i}].segments[{j}].price_eur_mwh: {p} gives the limit "
                    f"{limit} EUR/MWh, outside the floor {floor} and the cap {cap}")
            side = sells if q > 0 else buys
            side[limit] = side.get(limit, 0.0) + abs(q) / KW_PER_MW
    if baseline_kw > 0.0:
        sells[floor] = sells.get(floor, 0.0) + baseline_kw / KW_PER_MW
    elif baseline_kw < 0.0:
        buys[cap] = buys.get(cap, 0.0) - baseline_kw / KW_PER_MW
    steps = [CurveStep(mw, price) for price, mw in sorted(sells.items())]
    steps += [CurveStep(-mw, price) for price, mw in sorted(buys.items(), reverse=True)]
    return steps


def day_ahead_curves(bids_by_hour: Mapping[int, Iterable[BidLike]],
                     rules: AuctionRules = AuctionRules()) -> list[HourlyCurve]:
    """One :class:`HourlyCurve` per hour (ascending) with at least one non-zero step."""
    curves = []
    for hour in sorted(bids_by_hour):
        steps = day_ahead_curve(bids_by_hour[hour], rules)
        if steps:
            curves.append(HourlyCurve(int(hour), steps))
    return curves


def storage_reserve_mw(product: str, *, energy_kwh: float, capacity_kwh: float,
                       p_charge_kw: float, p_discharge_kw: float, duration_h: float,
                       eta_c: float = 0.95, eta_d: float = 0.95) -> float:
    """Capacity (MW) a store can hold for ``product`` over a call of ``duration_h`` hours.

    Upward (``reserve_up``): ``min(p_discharge_kw, energy_kwh * eta_d / duration_h)``;
    downward (``reserve_down``): ``min(p_charge_kw, (capacity_kwh - energy_kwh) /
    (eta_c * duration_h))``; ``fcr`` (symmetric) the smaller of the two.
    """
    for name, value in (("energy_kwh", energy_kwh), ("capacity_kwh", capacity_kwh),
                        ("p_charge_kw", p_charge_kw), ("p_discharge_kw", p_discharge_kw)):
        if not (math.isfinite(value) and value >= 0.0):
            raise ValueError(f"{name}: {value} must be finite and >= 0")
    if energy_kwh > capacity_kwh * (1 + 1e-9):
        raise ValueError(f"energy_kwh: {energy_kwh} kWh exceeds capacity_kwh {capacity_kwh}")
    if not (math.isfinite(duration_h) and duration_h > 0.0):
        raise ValueError(f"duration_h: {duration_h} h must be finite and > 0")
    for name, value in (("eta_c", eta_c), ("eta_d", eta_d)):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name}: {value} must lie in (0, 1]")
    up = min(p_discharge_kw, energy_kwh * eta_d / duration_h)
    down = min(p_charge_kw, max(capacity_kwh - energy_kwh, 0.0) / (eta_c * duration_h))
    if product == "reserve_up":
        kw = up
    elif product == "reserve_down":
        kw = down
    elif product == "fcr":
        kw = min(up, down)
    else:
        raise ValueError(f"product: {product!r} is not 'fcr', 'reserve_up' or 'reserve_down'")
    return kw / KW_PER_MW


def ancillary_offer(offer_id: str, product: str, storages: Iterable[object],
                    duration_h: float, price_eur_mw_h: float,
                    divisible: bool = True) -> AncillaryOffer:
    """One offer of the capacity all ``storages`` can hold for ``duration_h`` hours.

    Each storage is any object with ``energy_kwh``, ``capacity_kwh``, ``p_charge_kw``,
    ``p_discharge_kw``, ``eta_c`` and ``eta_d`` (the attributes of a storage device).
    """
    total = 0.0
    fields = ("energy_kwh", "capacity_kwh", "p_charge_kw", "p_discharge_kw", "eta_c", "eta_d")
    for store in storages:
        values = {name: float(getattr(store, name)) for name in fields}
        total += storage_reserve_mw(product, duration_h=duration_h, **values)
    return AncillaryOffer(offer_id, product, total, price_eur_mw_h, divisible)


def position_to_targets_kw(positions: Mapping[int, float] | Iterable[HourPosition],
                           hours: Sequence[int], steps_per_hour: int) -> list[float]:
    """The net position (MW, + sold) per hour as one target per step, in kW (+ inject).

    ``positions``: hour -> net MW, or :class:`HourPosition` records. Hours without a
    position get 0 kW.
    """
    if steps_per_hour < 1:
        raise ValueError(f"steps_per_hour: {steps_per_hour} must be >= 1")
    if isinstance(positions, Mapping):
        net = {int(h): float(mw) for h, mw in positions.items()}
    else:
        net = {}
        for p in positions:
            net[p.hour] = net.get(p.hour, 0.0) + p.net_mw
    targets: list[float] = []
    for hour in hours:
        targets.extend([net.get(int(hour), 0.0) * KW_PER_MW] * steps_per_hour)
    return targets
