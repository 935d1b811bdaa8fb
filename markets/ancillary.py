"""Ancillary services: procurement of balancing capacity and the check of its delivery.

Products: ``fcr`` (frequency containment, symmetric: the provider responds up and
down), ``reserve_up`` and ``reserve_down`` (restoration reserve in one direction).
Capacity is in MW, capacity prices in EUR per MW per hour (EUR/MW/h), energy in
MWh, penalty prices in EUR/MWh.

Procurement (per product and period of ``hours``):

* Bids are taken in ascending capacity price; **ties are broken by submission
  order** (the earlier bid in the list first).
* A divisible bid may be accepted in part (the marginal bid); an indivisible bid
  that does not fit the remaining requirement is **skipped** and the next bid is
  considered.
* ``pay_as_bid``: each award is paid its own price; ``uniform``: every award is
  paid the highest accepted price (the marginal price).
  Payment = awarded MW x price (EUR/MW/h) x hours.
* When the bids cannot cover the requirement, ``shortfall_mw`` says by how much.

Delivery check and penalty rule (per award, after delivery):

* The TSO's call is ``activation(t)``: the share of the sold capacity called at
  each sample (in [0, 1] for reserve products, [-1, 1] for FCR, where a negative
  value asks for downward response).  Required MW: ``awarded_mw * activation(t)``.
* The measured response ``delivered_mw(t)`` is signed: positive is upward
  (more injection or less consumption).  For ``reserve_down`` give the downward
  response as positive MW.
* Shortfall per sample: ``max(0, |required| - sign(required) * delivered)``, less a
  tolerance of ``tolerance_share * awarded_mw`` MW.  Over-delivery earns nothing.
* ``shortfall_mwh`` = sum of shortfall x sample length (h); ``required_mwh`` likewise.
* The capacity payment is withheld in proportion to the missing energy,
  ``withheld = payment * min(1, shortfall_mwh / required_mwh)``, and a penalty of
  ``penalty_eur_mwh * shortfall_mwh`` is charged on top.
  ``net = payment - withheld - penalty`` (it can be negative).
"""

from __future__ import annotations

import logging
from typing import Literal, Sequence

import msgspec
import numpy as np

__all__ = [
    "Product",
    "CapacityBid",
    "CapacityAward",
    "ProcurementResult",
    "PenaltyRules",
    "DeliveryAssessment",
    "procure",
    "assess_delivery",
]

logger = logging.getLogger(__name__)

Product = Literal["fcr", "reserve_up", "reserve_down"]
_PRODUCTS = ("fcr", "reserve_up", "reserve_down")


class CapacityBid(msgspec.Struct, frozen=True):
    """An offer of ``capacity_mw`` of one product at ``price_eur_mw_h`` (EUR per MW per hour)."""

    bid_id: str
    provider_id: str
    product: Product
    capacity_mw: float
    price_eur_mw_h: float
    divisible: bool = True


class CapacityAward(msgspec.Struct, frozen=True):
    """Accepted capacity of one bid, its settlement price and capacity payment (EUR)."""

    bid_id: str
    provider_id: str
    product: Product
    awarded_mw: float
    price_eur_mw_h: float
    hours: float
    payment_eur: float


class ProcurementResult(msgspec.Struct, frozen=True):
    """Outcome of one procurement: awards in merit order and any unmet requirement."""

    product: Product
    requirement_mw: float
    procured_mw: float
    shortfall_mw: float
    marginal_price_eur_mw_h: float | None
    pricing: Literal["pay_as_bid", "uniform"]
    awards: list[CapacityAward]


def procure(
    bids: Sequence[CapacityBid],
    product: Product,
    requirement_mw: float,
    hours: float,
    pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid",
) -> ProcurementResult:
    """Procure ``requirement_mw`` of ``product`` for ``hours`` from the bids of that product."""
    if product not in _PRODUCTS:
        raise ValueError(f"product: {product!r} is not one of {_PRODUCTS}")
    if pricing not in ("pay_as_bid", "uniform"):
        raise ValueError(f"pricing: {pricing!r} is not 'pay_as_bid' or 'uniform'")
    if not requirement_mw >= 0.0:
        raise ValueError(f"requirement_mw: {requirement_mw} MW must be >= 0")
    if not hours > 0.0:
        raise ValueError(f"hours: {hours} h must be > 0")
    for bid in bids:
        if not bid.capacity_mw > 0.0:
            raise ValueError(f"capacity_mw: bid {bid.bid_id!r} offers {bid.capacity_mw} MW; must be > 0")
        if not np.isfinite(bid.price_eur_mw_h):
            raise ValueError(f"price_eur_mw_h: bid {bid.bid_id!r} has price {bid.price_eur_mw_h}")
    ranked = sorted(
        (b for b in bids if b.product == product), key=lambda b: b.price_eur_mw_h
    )  # sorted() is stable: equal prices keep submission order
    remaining = requirement_mw
    accepted: list[tuple[CapacityBid, float]] = []
    eps = 1e-9 * max(1.0, requirement_mw)
    for bid in ranked:
        if remaining <= eps:
            break
        if bid.capacity_mw <= remaining + eps:
            take = bid.capacity_mw
        elif bid.divisible:
            take = remaining
        else:
            logger.debug("indivisible bid %s (%s MW) skipped, %s MW left",
                         bid.bid_id, bid.capacity_mw, remaining)
            continue
        accepted.append((bid, take))
        remaining -= take
    marginal = max((b.price_eur_mw_h for b, _ in accepted), default=None)
    awards = []
    for bid, take in accepted:
        price = bid.price_eur_mw_h if pricing == "pay_as_bid" else marginal
        awards.append(
            CapacityAward(bid.bid_id, bid.provider_id, product, take, price, hours, take * price * hours)
        )
    procured = requirement_mw - max(remaining, 0.0)
    return ProcurementResult(
        product=product,
        requirement_mw=requirement_mw,
        procured_mw=procured,
        shortfall_mw=max(remaining, 0.0) if remaining > eps else 0.0,
        marginal_price_eur_mw_h=marginal,
        pricing=pricing,
        awards=awards,
    )


class PenaltyRules(msgspec.Struct, frozen=True, kw_only=True):
    """Penalty parameters: EUR per MWh of shortfall, and the tolerated shortfall share."""

    penalty_eur_mwh: float = 100.0
    tolerance_share: float = 0.0


class DeliveryAssessment(msgspec.Struct, frozen=True):
    """Measured delivery of one award against what it sold, and the resulting money."""

    bid_id: str
    provider_id: str
    required_mwh: float
    shortfall_mwh: float
    max_shortfall_mw: float
    performance: float
    capacity_payment_eur: float
    withheld_eur: float
    penalty_eur: float
    net_payment_eur: float


def assess_delivery(
    award: CapacityAward,
    delivered_mw: Sequence[float] | np.ndarray,
    interval_s: float,
    activation: Sequence[float] | np.ndarray | float = 1.0,
    rules: PenaltyRules = PenaltyRules(),
) -> DeliveryAssessment:
    """Compare a provider's measured response with its award (see the penalty rule above).

    ``delivered_mw``: one measured MW value per sample of length ``interval_s`` seconds;
    ``activation``: the called share of the award per sample (or one value for all).
    """
    delivered = np.asarray(delivered_mw, dtype=np.float64)
    if delivered.ndim != 1 or delivered.size == 0:
        raise ValueError(f"delivered_mw: expected a non-empty 1-D series, got shape {delivered.shape}")
    if not np.all(np.isfinite(delivered)):
        raise ValueError("delivered_mw: contains NaN or infinite values")
    if not interval_s > 0.0:
        raise ValueError(f"interval_s: {interval_s} s must be > 0")
    act = np.broadcast_to(np.asarray(activation, dtype=np.float64), delivered.shape)
    low = -1.0 if award.product == "fcr" else 0.0
    if np.any(~np.isfinite(act)) or np.any(act < low) or np.any(act > 1.0):
        raise ValueError(f"activation: values must lie in [{low}, 1] for product {award.product!r}")
    if not 0.0 <= rules.tolerance_share < 1.0:
        raise ValueError(f"tolerance_share: {rules.tolerance_share} must lie in [0, 1)")
    dt_h = interval_s / 3600.0
    required = award.awarded_mw * act
    tolerance = rules.tolerance_share * award.awarded_mw
    shortfall = np.maximum(0.0, np.abs(required) - np.sign(required) * delivered - tolerance)
    required_mwh = float(np.abs(required).sum() * dt_h)
    shortfall_mwh = float(shortfall.sum() * dt_h)
    share_missing = min(1.0, shortfall_mwh / required_mwh) if required_mwh > 0.0 else 0.0
    withheld = award.payment_eur * share_missing
    penalty = rules.penalty_eur_mwh * shortfall_mwh
    return DeliveryAssessment(
        bid_id=award.bid_id,
        provider_id=award.provider_id,
        required_mwh=required_mwh,
        shortfall_mwh=shortfall_mwh,
        max_shortfall_mw=float(shortfall.max()),
        performance=1.0 - share_missing,
        capacity_payment_eur=award.payment_eur,
        withheld_eur=withheld,
        penalty_eur=penalty,
        net_payment_eur=award.payment_eur - withheld - penalty,
    )
