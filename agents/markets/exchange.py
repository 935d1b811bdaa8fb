"""Market agents: thin bindings of the market sessions in ``markets/sessions/`` to messages.

Each agent takes orders or bids by message, lets its session validate and record them,
sends the session's answers and publishes its results (the host needs a PUB endpoint for
that). Gate closure is read from the host's clock: on every message and on a short
wall-clock poll, so a driver only has to move the simulated clock. See
``docs/protocols/markets.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Literal

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.timers import Timer
from vpp.markets.day_ahead import AuctionRules
from vpp.markets.messages import (
    AncillaryOffer,
    CancelOrder,
    DayAheadBid,
    ModifyOrder,
    SubmitOrder,
)
from vpp.markets.order_types import TickSize
from vpp.markets.sessions import Out, Outgoing
from vpp.markets.sessions.ancillary import AncillarySession
from vpp.markets.sessions.continuous import ContinuousSession
from vpp.markets.sessions.day_ahead import DayAheadSession

__all__ = ["AncillaryMarketAgent", "ContinuousMarketAgent", "DayAheadMarketAgent", "MarketAgent"]

log = logging.getLogger(__name__)


class MarketAgent(Agent):
    """Common binding: send a session's output; publish only when the host can."""

    role = "market"
    conversation = ""

    def _emit(self, outgoing: Sequence[Out]) -> None:
        for out in outgoing:
            if isinstance(out, Outgoing):
                self.send(out.receiver, out.body, conversation=self.conversation)
            elif self.host is not None and self.host.pub is not None:
                self.publish(out.topic, out.body, conversation=self.conversation)
            else:
                self.log.debug("%s: no PUB endpoint, %s on %s not published", self.name,
                          type(out.body).__name__, out.topic)


class _GatedMarketAgent(MarketAgent):
    """A market that clears once, at gate closure, and polls the clock for it."""

    def __init__(self, name: str, poll_s: float) -> None:
        super().__init__(name)
        self.poll_s = poll_s
        self._timer: Timer | None = None

    def started(self) -> None:
        """Start polling the clock for gate closure."""
        self._arm()

    def _arm(self) -> None:
        if self.host is not None and not self._session().cleared:
            self._timer = self.host.call_later(self.poll_s, self._poll)

    def _poll(self) -> None:
        self._timer = None
        if self._session().is_due(self.clock.now()):
            self.close_gate()
        else:
            self._arm()

    def _session(self) -> DayAheadSession | AncillarySession:
        raise NotImplementedError

    def _check_gate(self) -> None:
        if self._session().is_due(self.clock.now()):
            self.close_gate()

    def close_gate(self) -> None:
        """Close the gate now: clear, answer every participant, publish the results."""
        session = self._session()
        if session.cleared:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.log.info("%s: gate closed at %.1f s, clearing", self.name, self.clock.now())
        self._emit(session.close())
        if self.host is not None and self.host.trace is not None:
            self._record()

    def _record(self) -> None:
        """Write the clearing to the trace's ``rounds`` table (subclasses)."""

    @property
    def cleared(self) -> bool:
        """True once the market has cleared."""
        return self._session().cleared


class ContinuousMarketAgent(MarketAgent):
    """The continuous intraday market: an order book per delivery period.

    Args:
        name: the agent's name.
        periods: delivery period name -> delivery start (simulated s); each book closes
            ``gate_closure_lead_s`` before its start.
        tick: the tick grid (EUR/MWh, MW).
    """

    role = "market-continuous"
    conversation = "continuous"

    def __init__(self, name: str, periods: Mapping[str, int] | None = None, *,
                 gate_closure_lead_s: int = 300, tick: TickSize = TickSize()) -> None:
        super().__init__(name)
        self.session = ContinuousSession(gate_closure_lead_s, tick)
        for period, start_s in (periods or {}).items():
            self.session.open_period(period, start_s)
        self.on(SubmitOrder, self._on_submit)
        self.on(CancelOrder, self._on_cancel)
        self.on(ModifyOrder, self._on_modify)

    def open_period(self, delivery_period: str, delivery_start_s: int) -> None:
        """Open the book of another delivery period."""
        self.session.open_period(delivery_period, delivery_start_s)

    def _time_s(self) -> int:
        return math.floor(self.clock.now())

    def _on_submit(self, envelope: Envelope, order: SubmitOrder) -> None:
        self._emit(self.session.submit(envelope.sender, order, self._time_s()))

    def _on_cancel(self, envelope: Envelope, order: CancelOrder) -> None:
        self._emit(self.session.cancel(envelope.sender, order, self._time_s()))

    def _on_modify(self, envelope: Envelope, order: ModifyOrder) -> None:
        self._emit(self.session.modify(envelope.sender, order, self._time_s()))


class DayAheadMarketAgent(_GatedMarketAgent):
    """The day-ahead auction: bids until gate closure, then one uniform-price clearing.

    Args:
        name: the agent's name.
        hours: the delivery hours that may be bid for.
        gate_closure_s: simulated time at which the gate closes.
        auction_id: names the auction (default: the agent's name).
        rules: price floor, cap and pricing.
        poll_s: how often (wall s) the clock is checked for gate closure.
    """

    role = "market-day-ahead"

    def __init__(self, name: str, hours: Sequence[int], gate_closure_s: float, *,
                 auction_id: str | None = None, rules: AuctionRules = AuctionRules(),
                 poll_s: float = 0.02) -> None:
        super().__init__(name, poll_s)
        self.session = DayAheadSession(auction_id or name, hours, gate_closure_s, rules)
        self.conversation = f"day-ahead/{self.session.auction_id}"
        self.on(DayAheadBid, self._on_bid)

    def _session(self) -> DayAheadSession:
        return self.session

    def _on_bid(self, envelope: Envelope, bid: DayAheadBid) -> None:
        self._check_gate()
        self._emit(self.session.on_bid(envelope.sender, bid, self.clock.now()))

    def _record(self) -> None:
        """One trace row per delivery hour: price, bid steps; volume and interval in detail."""
        result = self.session.result
        trace = self.host.trace if self.host is not None else None
        if result is None or trace is None:
            return
        now = self.clock.now()
        hour_of_step = [c.hour for b in self.session.bids.values() for c in b.curves
                        for _ in c.steps]
        for clearing in result.hour_clearings():
            trace.round(sim_time=now, step=clearing.hour, conversation=self.conversation,
                        protocol="day-ahead", round=0,
                        price=clearing.clearing_price_eur_mwh,
                        bids=hour_of_step.count(clearing.hour),
                        detail={"volume_mwh": clearing.volume_mwh,
                                "price_low_eur_mwh": clearing.price_low_eur_mwh,
                                "price_high_eur_mwh": clearing.price_high_eur_mwh,
                                "one_sided": clearing.one_sided,
                                "bidders": len(self.session.bids)})


class AncillaryMarketAgent(_GatedMarketAgent):
    """Ancillary-service procurement: capacity offers until gate closure, then awards.

    Args:
        name: the agent's name.
        requirements_mw: MW wanted per product.
        hours: the service period (h).
        gate_closure_s: simulated time at which the gate closes.
        pricing: ``pay_as_bid`` or ``uniform``.
        poll_s: how often (wall s) the clock is checked for gate closure.
    """

    role = "market-ancillary"

    def __init__(self, name: str, requirements_mw: Mapping[str, float], hours: float,
                 gate_closure_s: float, *, auction_id: str | None = None,
                 pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid",
                 poll_s: float = 0.02) -> None:
        super().__init__(name, poll_s)
        self.session = AncillarySession(auction_id or name, requirements_mw, hours,
                                        gate_closure_s, pricing)
        self.conversation = f"ancillary/{self.session.auction_id}"
        self.on(AncillaryOffer, self._on_offer)

    def _session(self) -> AncillarySession:
        return self.session

    def _on_offer(self, envelope: Envelope, offer: AncillaryOffer) -> None:
        self._check_gate()
        self._emit(self.session.on_offer(envelope.sender, offer, self.clock.now()))

    def _record(self) -> None:
        """One trace row per product: marginal price, offers, awards; MW in detail."""
        results = self.session.results
        trace = self.host.trace if self.host is not None else None
        if results is None or trace is None:
            return
        now = self.clock.now()
        for product, res in results.items():
            offers = sum(1 for o in self.session.offers.values() if o.product == product)
            trace.round(sim_time=now, step=0, conversation=f"{self.conversation}/{product}",
                        protocol="ancillary", round=0, price=res.marginal_price_eur_mw_h,
                        bids=offers, awards=len(res.awards),
                        detail={"product": product, "requirement_mw": res.requirement_mw,
                                "procured_mw": res.procured_mw,
                                "shortfall_mw": res.shortfall_mw})
