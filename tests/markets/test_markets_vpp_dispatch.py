"""What was sold is dispatched: the trader's cleared day-ahead position becomes the
aggregator's target, and the sites' merit-order negotiation serves it, all over ZeroMQ."""

from __future__ import annotations

import pytest
from vpp.agents.markets.exchange import DayAheadMarketAgent
from vpp.agents.markets.vpp_trader import VppTraderAgent
from vpp.agents.merit_order.aggregator import AggregatorAgent
from vpp.agents.runtime.agent import Agent
from vpp.coordination.dispatch import StepCleared
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    BidSegment,
    CallForBids,
)
from vpp.markets.messages import BidAck, CurveStep, DayAheadBid, HourlyCurve

from tests.markets.market_agents_helpers import Recorder, market_pair

GATE_S = 600.0


class FixedSite(Agent):
    """A site that bids a fixed curve (kW, EUR/MWh) and accepts every award."""

    role = "site"

    def __init__(self, name, segments):
        super().__init__(name)
        self.segments = segments
        self.on(CallForBids, self._on_call)
        self.on(Award, self._on_award)
        self.on(StepCleared, lambda env, body: None)

    def bid(self, step):
        """Its merit-order bid for ``step``."""
        return Bid(step, self.segments, 0.0)

    def _on_call(self, env, call):
        self.send(env.sender, self.bid(call.step), conversation=env.conversation,
                  round=env.round)

    def _on_award(self, env, award):
        self.send(env.sender, Accept(award.step, award.power_kw, award.reserve_kw),
                  conversation=env.conversation, round=env.round)


def test_the_cleared_position_is_the_dispatch_target_and_is_served(
        context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    mkt.add(DayAheadMarketAgent("da", [0, 1], GATE_S))
    trader = p.add(VppTraderAgent("vpp", "mkt/da"))
    sites = [p.add(FixedSite("chp", [BidSegment(200.0, 30.0)])),
             p.add(FixedSite("gen", [BidSegment(300.0, 50.0)])),
             p.add(FixedSite("pool", [BidSegment(-100.0, 5.0)]))]
    aggregator = p.add(AggregatorAgent("agg", [s.address for s in sites], deadline_ms=2000))
    buyer, seller = p.add(Recorder("load")), p.add(Recorder("wind"))
    # the sites' own merit-order bids are what the VPP sells
    bids_by_hour = {h: [s.bid(h) for s in sites] for h in (0, 1)}
    trader.offer_day_ahead(bids_by_hour)
    buyer.send("mkt/da", DayAheadBid("load", [HourlyCurve(0, [CurveStep(-0.4, 60.0)])]))
    seller.send("mkt/da", DayAheadBid("wind", [HourlyCurve(0, [CurveStep(0.1, 40.0)]),
                                               HourlyCurve(1, [CurveStep(0.5, -10.0)])]))
    assert loop.run_until(lambda: trader.acks and buyer.of(BidAck) and seller.of(BidAck), 5.0)
    clock.advance_to(GATE_S)
    assert loop.run_until(lambda: trader.result is not None, 5.0)
    # hour 0: price 50, the VPP sells 0.3 MW; hour 1: price -10, its pool buys 0.1 MW
    targets = trader.dispatch_targets_kw([0, 1], steps_per_hour=1)
    assert targets == pytest.approx([300.0, -100.0])
    for step, target in enumerate(targets):
        clock.advance_to(step * 3600.0 + GATE_S)
        aggregator.begin_step(step, step * 3600.0, 3600.0, target)
        assert loop.run_until(lambda: aggregator.step_done, 5.0)
    first, second = aggregator.outcomes
    assert (first.served_kw, first.unserved_kw) == (pytest.approx(300.0), 0.0)
    assert first.site_power_kw == pytest.approx({"p/chp": 200.0, "p/gen": 100.0, "p/pool": 0.0})
    assert (second.served_kw, second.unserved_kw) == (pytest.approx(-100.0), 0.0)
    assert second.site_power_kw["p/pool"] == pytest.approx(-100.0)
    mkt.close()
    p.close()
