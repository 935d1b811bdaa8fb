"""The day-ahead auction as a session: bids by message until gate closure, then one clearing.

Every step of every bid goes into one :func:`vpp.markets.day_ahead.clear_day_ahead` call, in
the order bidders first bid, then curve and step order; the result is that function's,
unchanged. Each bidder is told its position per hour; the prices are published. An hour
with orders on one side only has no price (None, ``one_sided``; ``docs/protocols/markets.md``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from vpp.markets.day_ahead import AuctionResult, AuctionRules, clear_day_ahead
from vpp.markets.messages import (
    DAY_AHEAD_PRICES_TOPIC,
    BidAck,
    BidRejected,
    DayAheadBid,
    DayAheadPrices,
    DayAheadResult,
    HourPosition,
    HourPrice,
)
from vpp.markets.sessions import GateClosedError, Out, Outgoing, Publication

__all__ = ["DayAheadSession", "bid_arrays"]

log = logging.getLogger(__name__)

MARKET = "day-ahead"


def bid_arrays(bids: Sequence[DayAheadBid]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
    """Flatten bids into the arrays of :func:`clear_day_ahead` (hour, is_buy, price, MW)."""
    hour, is_buy, price, quantity = [], [], [], []
    for bid in bids:
        for curve in bid.curves:
            for step in curve.steps:
                hour.append(curve.hour)
                is_buy.append(step.quantity_mw < 0)
                price.append(step.price_eur_mwh)
                quantity.append(abs(step.quantity_mw))
    return (np.asarray(hour, dtype=np.int64), np.asarray(is_buy, dtype=bool),
            np.asarray(price, dtype=np.float64), np.asarray(quantity, dtype=np.float64))


def _price(value: float) -> float | None:
    """A clearing price as published: None where there is none (a one-sided hour)."""
    return None if math.isnan(value) else float(value)


class DayAheadSession:
    """One day-ahead auction for ``hours``, taking bids until ``gate_closure_s``.

    Args:
        auction_id: names the auction in results (conversation ``day-ahead/<id>``).
        hours: the delivery hours (ints) that may be bid for.
        gate_closure_s: clock time (simulated s) from which bids are refused.
        rules: price floor, cap and pricing of the auction.
    """

    def __init__(self, auction_id: str, hours: Sequence[int], gate_closure_s: float,
                 rules: AuctionRules = AuctionRules()) -> None:
        self.auction_id = auction_id
        self.hours = frozenset(int(h) for h in hours)
        if not self.hours:
            raise ValueError("hours: an auction needs at least one delivery hour")
        self.gate_closure_s = float(gate_closure_s)
        self.rules = rules
        self.bids: dict[str, DayAheadBid] = {}  # insertion order = order of first bid
        self.result: AuctionResult | None = None

    @property
    def cleared(self) -> bool:
        """True once the auction has been cleared."""
        return self.result is not None

    def is_due(self, now_s: float) -> bool:
        """True when the gate has closed by ``now_s`` and the auction is not cleared yet."""
        return not self.cleared and now_s >= self.gate_closure_s

    def _problem(self, bid: DayAheadBid) -> str | None:
        """Why ``bid`` cannot be taken (the reason names the field), or None."""
        if not bid.bid_id:
            return "bid_id: must not be empty"
        if not bid.curves:
            return "curves: a bid needs at least one hourly curve"
        floor, cap = self.rules.price_floor_eur_mwh, self.rules.price_cap_eur_mwh
        seen: set[int] = set()
        for i, curve in enumerate(bid.curves):
            if curve.hour not in self.hours:
                return (f"curves[{i}].hour: {curve.hour} is not a delivery hour of auction "
                        f"{self.auction_id!r}")
            if curve.hour in seen:
                return f"curves[{i}].hour: hour {curve.hour} is given twice"
            seen.add(curve.hour)
            if not curve.steps:
                return f"curves[{i}].steps: a curve needs at least one step"
            for j, step in enumerate(curve.steps):
                q, p = step.quantity_mw, step.price_eur_mwh
                if not math.isfinite(q) or q == 0.0:
                    return (f"curves[{i}].steps[{j}].quantity_mw: {q} must be a finite, "
                            f"non-zero MW value (> 0 sells, < 0 buys)")
                if not math.isfinite(p) or not floor <= p <= cap:
                    return (f"curves[{i}].steps[{j}].price_eur_mwh: {p} must lie within the "
                            f"floor {floor} and the cap {cap} EUR/MWh")
        return None

    def on_bid(self, sender: str, bid: DayAheadBid, now_s: float) -> list[Out]:
        """Record a valid bid (replacing the sender's earlier one) or reject it."""
        if self.cleared or now_s >= self.gate_closure_s:
            reason = f"gate closed at {self.gate_closure_s} s (now {now_s} s)"
        else:
            reason = self._problem(bid)
        if reason is not None:
            log.debug("day-ahead bid %s of %s rejected: %s", bid.bid_id, sender, reason)
            return [Outgoing(sender, BidRejected(bid.bid_id, MARKET, reason))]
        replaced = sender in self.bids
        self.bids[sender] = bid
        steps = sum(len(c.steps) for c in bid.curves)
        return [Outgoing(sender, BidAck(bid.bid_id, MARKET, steps, replaced))]

    def close(self) -> list[Out]:
        """Clear every hour; return each bidder's result and the published prices."""
        if self.cleared:
            raise GateClosedError(f"auction {self.auction_id!r} is already cleared")
        senders = list(self.bids)
        bids = [self.bids[s] for s in senders]
        hour, is_buy, price, quantity = bid_arrays(bids)
        result = clear_day_ahead(hour, is_buy, price, quantity, self.rules)
        self.result = result
        row = {int(h): i for i, h in enumerate(result.hours)}
        out: list[Out] = []
        k = 0
        for sender, bid in zip(senders, bids):
            per_hour: dict[int, list[float]] = {}
            for curve in bid.curves:
                acc = per_hour.setdefault(curve.hour, [0.0, 0.0, 0.0])
                for _ in curve.steps:
                    fill = float(result.fill_mw[k])
                    if fill > 0.0:
                        settle = float(result.settlement_price_eur_mwh[k])
                        if is_buy[k]:
                            acc[1] += fill
                            acc[2] -= fill * settle
                        else:
                            acc[0] += fill
                            acc[2] += fill * settle
                    k += 1
            positions = [
                HourPosition(h, sold, bought, _price(result.clearing_price_eur_mwh[row[h]]),
                             cash)
                for h, (sold, bought, cash) in sorted(per_hour.items())]
            out.append(Outgoing(sender, DayAheadResult(self.auction_id, bid.bid_id, positions)))
        prices = [HourPrice(c.hour, c.clearing_price_eur_mwh, c.volume_mwh,
                            c.price_low_eur_mwh, c.price_high_eur_mwh, c.price_determinate,
                            c.one_sided)
                  for c in result.hour_clearings()]
        out.append(Publication(DAY_AHEAD_PRICES_TOPIC, DayAheadPrices(self.auction_id, prices)))
        return out
