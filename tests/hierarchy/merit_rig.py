"""A hierarchy of merit-order agents over ZeroMQ for the tests: the root and its regions
on host ``agg``, scripted sites on host ``sites``, one event loop on a simulated clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import zmq
from vpp.agents.hierarchy.merit_common import addressed
from vpp.agents.hierarchy.merit_region import RegionAgent
from vpp.agents.hierarchy.merit_root import PortfolioAgent
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.hierarchy.topology import Topology
from vpp.coordination.merit_order.messages import Award, Bid, CallForBids

Answer = Callable[[str, Award], object]


class ScriptedSite(Agent):
    """Bids what ``bids`` holds for its address (none: silent at the call) and answers
    each award with ``answer(address, award)`` (None: silent)."""

    role = "site"

    def __init__(self, name: str, bids: Mapping[str, Bid], answer: Answer) -> None:
        super().__init__(name)
        self.bids, self.answer = bids, answer
        self.on(CallForBids, self._call)
        self.on(Award, self._award)

    def _call(self, env, call: CallForBids) -> None:
        bid = self.bids.get(self.address)
        if bid is not None:
            self.send(env.sender, Bid(call.step, bid.segments, bid.reserve_price_eur_mw_h,
                                      bid.baseline_kw),
                      conversation=env.conversation, round=env.round)

    def _award(self, env, award: Award) -> None:
        reply = self.answer(self.address, award)
        if reply is not None:
            self.send(env.sender, reply, conversation=env.conversation, round=env.round)


class Rig:
    """``tree`` (nodes by name) as agents: :attr:`root`, :attr:`regions` by name, sites
    ``sites/<name>``; :meth:`step` negotiates one step on simulated time."""

    def __init__(self, tree: Topology, bids: Mapping[str, Bid], answer: Answer, *,
                 deadline_ms: int = 2000, max_rounds: int = 5) -> None:
        self.clock = SimulatedClock()
        self.context = zmq.Context()
        common = {"context": self.context, "clock": self.clock, "timer_clock": self.clock,
                  "registry": default_registry()}
        run = f"rig-{id(self)}"
        self.agg = Host("agg", f"inproc://{run}-agg", **common)
        self.site_host = Host("sites", f"inproc://{run}-sites", **common)
        self.agg.connect("sites", self.site_host.endpoint)
        self.site_host.connect("agg", self.agg.endpoint)
        sites = set(tree.sites)
        self.topology = addressed(tree, lambda n: f"sites/{n}" if n in sites else f"agg/{n}")
        self.addresses = [f"sites/{s}" for s in tree.sites]
        self.sites = [self.site_host.add(ScriptedSite(s, bids, answer)) for s in tree.sites]
        self.regions = {r: self.agg.add(RegionAgent(r, self.topology)) for r in tree.regions}
        self.root = self.agg.add(PortfolioAgent(tree.root, self.topology,
                                                deadline_ms=deadline_ms,
                                                max_rounds=max_rounds))
        self.loop = EventLoop(self.agg, self.site_host)

    def step(self, k: int, target_kw: float, reserve_kw: float = 0.0,
             window_s: float = 900.0):
        """Negotiate step ``k``; return its outcome."""
        start = k * window_s
        self.clock.advance_to(max(self.clock.now(), start))
        self.root.begin_step(k, start, window_s, target_kw, reserve_kw)
        assert self.loop.run_until(lambda: self.root.step_done, 30.0,
                                   horizon_s=start + window_s), f"step {k} did not end"
        return self.root.outcomes[-1]

    def dropped(self) -> dict[str, int]:
        """Messages dropped by reason, both hosts."""
        out: dict[str, int] = {}
        for h in (self.agg, self.site_host):
            for reason, n in h.stats.dropped.items():
                out[reason] = out.get(reason, 0) + n
        return out

    def close(self) -> None:
        """Close the hosts and the context."""
        self.agg.close()
        self.site_host.close()
        self.context.term()
