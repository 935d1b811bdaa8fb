"""Ancillary-service procurement as a session: offers by message, awards at gate closure.

Wraps :func:`vpp.markets.ancillary.procure`: per product, offers in ascending capacity price,
ties by arrival order; every offer is told its award (zero too); the results are published.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Literal

from vpp.markets.ancillary import CapacityBid, ProcurementResult, procure
from vpp.markets.messages import (
    ANCILLARY_RESULTS_TOPIC,
    AncillaryAward,
    AncillaryOffer,
    AncillaryResult,
    BidAck,
    BidRejected,
)
from vpp.markets.sessions import GateClosedError, Out, Outgoing, Publication

__all__ = ["AncillarySession"]

log = logging.getLogger(__name__)

MARKET = "ancillary"
_PRODUCTS = ("fcr", "reserve_up", "reserve_down")


class AncillarySession:
    """One procurement of capacity for a service period of ``hours``.

    Args:
        auction_id: names the procurement in results.
        requirements_mw: MW wanted per product (``fcr``, ``reserve_up``, ``reserve_down``).
        hours: the service period (h) the capacity is held for and paid for.
        gate_closure_s: clock time (simulated s) from which offers are refused.
        pricing: ``pay_as_bid`` or ``uniform``.
    """

    def __init__(self, auction_id: str, requirements_mw: Mapping[str, float], hours: float,
                 gate_closure_s: float,
                 pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid") -> None:
        for product, mw in requirements_mw.items():
            if product not in _PRODUCTS:
                raise ValueError(f"requirements_mw: {product!r} is not one of {_PRODUCTS}")
            if not (math.isfinite(mw) and mw >= 0.0):
                raise ValueError(f"requirements_mw[{product!r}]: {mw} MW must be >= 0")
        if not hours > 0.0:
            raise ValueError(f"hours: {hours} h must be > 0")
        self.auction_id = auction_id
        self.requirements_mw = dict(requirements_mw)
        self.hours = float(hours)
        self.gate_closure_s = float(gate_closure_s)
        self.pricing = pricing
        self.offers: dict[tuple[str, str], AncillaryOffer] = {}  # (sender, offer_id)
        self.results: dict[str, ProcurementResult] | None = None

    @property
    def cleared(self) -> bool:
        """True once the procurement has been run."""
        return self.results is not None

    def is_due(self, now_s: float) -> bool:
        """True when the gate has closed by ``now_s`` and nothing is procured yet."""
        return not self.cleared and now_s >= self.gate_closure_s

    def _problem(self, offer: AncillaryOffer) -> str | None:
        if not offer.offer_id:
            return "offer_id: must not be empty"
        if offer.product not in self.requirements_mw:
            return (f"product: {offer.product!r} is not procured here "
                    f"(procured: {sorted(self.requirements_mw)})")
        if not (math.isfinite(offer.capacity_mw) and offer.capacity_mw > 0.0):
            return f"capacity_mw: {offer.capacity_mw} MW must be finite and > 0"
        if not math.isfinite(offer.price_eur_mw_h):
            return f"price_eur_mw_h: {offer.price_eur_mw_h} is not a finite number"
        return None

    def on_offer(self, sender: str, offer: AncillaryOffer, now_s: float) -> list[Out]:
        """Record a valid offer (replacing the sender's offer of the same id) or reject it."""
        if self.cleared or now_s >= self.gate_closure_s:
            reason = f"gate closed at {self.gate_closure_s} s (now {now_s} s)"
        else:
            reason = self._problem(offer)
        if reason is not None:
            log.debug("ancillary offer %s of %s rejected: %s", offer.offer_id, sender, reason)
            return [Outgoing(sender, BidRejected(offer.offer_id, MARKET, reason))]
        key = (sender, offer.offer_id)
        replaced = key in self.offers
        self.offers.pop(key, None)  # a replacement goes to the back of the arrival order
        self.offers[key] = offer
        return [Outgoing(sender, BidAck(offer.offer_id, MARKET, 1, replaced))]

    def close(self) -> list[Out]:
        """Procure every product; return each offer's award and the published results."""
        if self.cleared:
            raise GateClosedError(f"procurement {self.auction_id!r} is already done")
        keys = list(self.offers)
        bids = [CapacityBid(str(i), sender, o.product, o.capacity_mw, o.price_eur_mw_h,
                            o.divisible)  # type: ignore[arg-type]
                for i, ((sender, _), o) in enumerate(zip(keys, self.offers.values()))]
        results: dict[str, ProcurementResult] = {}
        awarded: dict[int, tuple[float, float, float]] = {}
        out: list[Out] = []
        for product, need in self.requirements_mw.items():
            res = procure(bids, product, need, self.hours, self.pricing)  # type: ignore[arg-type]
            results[product] = res
            for award in res.awards:
                awarded[int(award.bid_id)] = (award.awarded_mw, award.price_eur_mw_h,
                                              award.payment_eur)
            out.append(Publication(ANCILLARY_RESULTS_TOPIC, AncillaryResult(
                self.auction_id, product, res.requirement_mw, res.procured_mw,
                res.shortfall_mw, res.marginal_price_eur_mw_h)))
        self.results = results
        awards: list[Out] = []
        for i, ((sender, offer_id), offer) in enumerate(zip(keys, self.offers.values())):
            mw, price, payment = awarded.get(i, (0.0, offer.price_eur_mw_h, 0.0))
            awards.append(Outgoing(sender, AncillaryAward(
                offer_id, offer.product, mw, price, self.hours, payment)))
        return awards + out
