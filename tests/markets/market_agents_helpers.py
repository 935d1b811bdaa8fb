"""Shared set-up of the market-agent tests: a market host and a participants' host."""

from __future__ import annotations

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.markets.messages import MARKET_KINDS


class Recorder(Agent):
    """A participant that keeps every market message it receives, by kind."""

    role = "participant"

    def __init__(self, name):
        super().__init__(name)
        self.got = []
        for kind in MARKET_KINDS:
            self.on(kind, lambda env, body: self.got.append(body))

    def of(self, kind):
        """What it received of one kind, in arrival order."""
        return [b for b in self.got if isinstance(b, kind)]


def market_pair(context, registry, endpoint, trace=None):
    """A market host ``mkt`` (with PUB) and a participants' host ``p``, one simulated clock."""
    clock = SimulatedClock()
    mkt = Host("mkt", endpoint("mkt"), pub_endpoint=endpoint("mkt-pub"), context=context,
               registry=registry, clock=clock, trace=trace)
    p = Host("p", endpoint("p"), context=context, registry=registry, clock=clock)
    mkt.connect("p", p.endpoint)
    p.connect("mkt", mkt.endpoint, mkt.pub_endpoint)
    return clock, mkt, p, EventLoop(mkt, p)
