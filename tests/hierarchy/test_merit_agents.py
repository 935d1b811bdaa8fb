"""The merit-order hierarchy's agents over ZeroMQ (RegionAgent, PortfolioAgent): each
step's outcome equals the flat auction's on the same bids and site answers; a message from
outside the tree, of another conversation, late or malformed is rejected (ProtocolError,
dropped by the runtime) and the negotiation goes on to the flat result."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.merit_driver import run_flat_step
from vpp.coordination.hierarchy.messages import (
    AggregateBid,
    Clearing,
    RegionAnswer,
    RegionAward,
)
from vpp.coordination.merit_order.messages import Accept, Bid, BidSegment, CallForBids

from tests.hierarchy.fleets import Script, random_bids, random_topology
from tests.hierarchy.merit_rig import Rig


def _fleet(seed: int, n: int):
    rng = np.random.default_rng(seed)
    names = [f"s{i}" for i in range(n)]
    tree = random_topology(rng, names, max_regions=5)
    bids = {f"sites/{s}": b for s, b in random_bids(rng, names).items()}
    return tree, bids


def _target(bids: dict[str, Bid], rng: np.random.Generator) -> float:
    up = sum(s.quantity_kw for b in bids.values() for s in b.segments if s.quantity_kw > 0)
    return float(rng.uniform(-0.3, 1.1) * max(up, 1.0))


def _same(h, f) -> None:
    for field in ("served_kw", "unserved_kw", "reserve_served_kw", "marginal_price_eur_mwh",
                  "cost_eur", "site_power_kw", "site_reserve_kw", "site_cost_eur",
                  "declined", "silent", "rounds"):
        assert getattr(h, field) == getattr(f, field), field


@pytest.mark.parametrize("seed", range(8))
def test_each_step_over_zeromq_equals_the_flat_auction(seed):
    tree, bids = _fleet(seed, 6 + 3 * seed)
    sites = [f"sites/{s}" for s in tree.sites]
    rig_script = Script(np.random.default_rng(seed), sites, p_decline=0.15, p_silent=0.1)
    flat_script = Script(np.random.default_rng(seed), sites, p_decline=0.15, p_silent=0.1)
    rng = np.random.default_rng(100 + seed)
    rig = Rig(tree, bids, rig_script, deadline_ms=500, max_rounds=4)
    try:
        for k in range(3):  # new auctions each step, in the same agents
            target, reserve = _target(bids, rng), float(rng.choice([0.0, 20.0]))
            step_bids = {s: Bid(k, b.segments, b.reserve_price_eur_mw_h, b.baseline_kw)
                         for s, b in bids.items()}
            flat = run_flat_step(sites, step_bids, step=k, target_kw=target,
                                 reserve_kw=reserve, window_start_s=k * 900.0,
                                 answer=flat_script, deadline_ms=500, max_rounds=4).outcome
            _same(rig.step(k, target, reserve), flat)
        assert all(r.steps == 3 for r in rig.regions.values())
        assert "rejected" not in rig.dropped()
    finally:
        rig.close()


class Intruder(Agent):
    """Sends whatever it is told to, from the sites' host."""

    role = "intruder"


def _two_regions():
    import networkx as nx
    from vpp.coordination.hierarchy.topology import Topology

    g = nx.DiGraph()
    g.add_node("portfolio", kind="root")
    for r in ("r0", "r1"):
        g.add_node(r, kind="region")
        g.add_edge("portfolio", r)
    for i in range(4):
        g.add_node(f"s{i}", kind="site", order=i)
        g.add_edge("r0" if i < 2 else "r1", f"s{i}")
    bids = {f"sites/s{i}": Bid(0, [BidSegment(50.0, 10.0 + 5 * i)], 2.0, 0.0)
            for i in range(4)}
    return Topology(g), bids


def _accept(site, award):
    return Accept(award.step, award.power_kw, award.reserve_kw)


def test_messages_from_outside_the_tree_or_the_step_are_dropped_and_the_step_goes_on():
    tree, bids = _two_regions()
    rig = Rig(tree, bids, _accept)
    intruder = rig.site_host.add(Intruder("intruder"))
    try:
        call = CallForBids(0, 0.0, 900.0, 120.0, 0.0, 2000)
        award = RegionAward(0, 1, 50.0, 0.0, 20.0, Clearing(1))
        junk = [("agg/r0", call, "merit-order/0"),          # a call not from its parent
                ("agg/r0", award, "merit-order/0"),         # an award not from its parent
                ("agg/portfolio", Bid(0, [], 0.0, 0.0), "merit-order/0"),  # not a child
                ("agg/portfolio", AggregateBid(0, [], [], [], [], [], [], []),
                 "merit-order/0"),
                ("agg/r1", Accept(0, 1.0, 0.0), "merit-order/7"),  # another conversation
                ("agg/portfolio", RegionAnswer(0, 1, 0.0, 0.0), "merit-order/0")]
        for receiver, body, conversation in junk:
            intruder.send(receiver, body, conversation=conversation)
        rig.loop.run_once(0.05)  # delivered (and refused) before the step starts
        outcome = rig.step(0, 120.0)
        flat = run_flat_step(rig.addresses, bids, step=0, target_kw=120.0).outcome
        _same(outcome, flat)
        assert outcome.site_power_kw == {"sites/s0": 50.0, "sites/s1": 50.0,
                                         "sites/s2": 20.0, "sites/s3": 0.0}
        assert rig.dropped().get("rejected") == len(junk)
        # mid-step junk: the second step still equals the flat one
        rig.clock.advance_to(900.0)
        rig.root.begin_step(1, 900.0, 900.0, 60.0)
        for receiver, body, conversation in junk:
            intruder.send(receiver, body, conversation=conversation.replace("/0", "/1"))
        assert rig.loop.run_until(lambda: rig.root.step_done, 30.0, horizon_s=1800.0)
        bids1 = {s: Bid(1, b.segments, b.reserve_price_eur_mw_h, b.baseline_kw)
                 for s, b in bids.items()}
        _same(rig.root.outcomes[-1], run_flat_step(rig.addresses, bids1, step=1,
                                                   target_kw=60.0,
                                                   window_start_s=900.0).outcome)
        assert rig.dropped()["rejected"] >= 2 * len(junk) - 1
    finally:
        rig.close()


def _envelope(kind: str, sender: str, receiver: str, conversation: str) -> Envelope:
    return Envelope(WIRE_VERSION, kind, sender, receiver, conversation, 0, 0.0,
                    msgspec.Raw(b""))


def test_a_region_refuses_what_is_not_its_conversation():
    tree, bids = _two_regions()
    rig = Rig(tree, bids, _accept)
    region = rig.regions["r0"]
    try:
        call = CallForBids(3, 0.0, 900.0, 10.0, 0.0, 1000)
        env = _envelope("CallForBids", "agg/portfolio", "agg/r0", "merit-order/3")
        with pytest.raises(ProtocolError, match="not its parent"):
            region.handle(_envelope("CallForBids", "sites/s0", "agg/r0", "merit-order/3"),
                          call)
        with pytest.raises(ProtocolError, match="expected 'merit-order/3'"):
            region.handle(_envelope("CallForBids", "agg/portfolio", "agg/r0", "x"), call)
        with pytest.raises(ProtocolError, match="outside its negotiation"):
            region.handle(_envelope("RegionAward", "agg/portfolio", "agg/r0",
                                    "merit-order/3"), RegionAward(3, 1, 0.0, 0.0, None,
                                                                  Clearing(1)))
        region.handle(env, call)  # accepted: it calls its two sites
        assert region.auction.waiting_for == {"sites/s0", "sites/s1"}
        with pytest.raises(ProtocolError, match="late or duplicate"):
            region.handle(env, call)
        with pytest.raises(ProtocolError, match="not a site below agg/r0"):
            region.handle(_envelope("Bid", "sites/s2", "agg/r0", "merit-order/3"),
                          Bid(3, [], 0.0, 0.0))
        with pytest.raises(ProtocolError):  # an award before the curve went up
            region.handle(_envelope("RegionAward", "agg/portfolio", "agg/r0",
                                    "merit-order/3"), RegionAward(3, 1, 0.0, 0.0, None,
                                                                  Clearing(1)))
        assert region.auction.waiting_for == {"sites/s0", "sites/s1"}  # still waiting
    finally:
        rig.close()
