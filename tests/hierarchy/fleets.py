"""Random fleets and hierarchies for the hierarchy tests."""

from __future__ import annotations

import networkx as nx
import numpy as np

from vpp.coordination.hierarchy.topology import Topology
from vpp.coordination.merit_order.messages import Accept, Award, Bid, BidSegment, Decline

PRICES = [-20.0, 0.0, 10.0, 25.5, 40.0, 80.0]  # few values: many ties


def random_topology(rng: np.random.Generator, sites: list[str], max_regions: int = 5,
                    direct_share: float = 0.1) -> Topology:
    """A random tree: regions under the root or under earlier regions (nesting), sites in
    random regions (a few right under the root); empty regions are pruned."""
    n_regions = int(rng.integers(1, max_regions + 1))
    regions = [f"r{k}" for k in range(n_regions)]
    parent = {r: (["portfolio"] + regions[:k])[int(rng.integers(0, k + 1))]
              for k, r in enumerate(regions)}
    graph = nx.DiGraph()
    graph.add_node("portfolio", kind="root")
    for r in regions:
        graph.add_node(r, kind="region")
        graph.add_edge(parent[r], r)
    for i, s in enumerate(sites):
        graph.add_node(s, kind="site", order=i)
        home = "portfolio" if rng.random() < direct_share else regions[int(rng.integers(n_regions))]
        graph.add_edge(home, s)
    while True:
        empty = [n for n, k in graph.nodes(data="kind") if k == "region" and not graph.out_degree(n)]
        if not empty:
            break
        graph.remove_nodes_from(empty)
    return Topology(graph)


def random_bids(rng: np.random.Generator, sites: list[str], step: int = 0) -> dict[str, Bid]:
    """Each site: 0-3 segments (injection and absorption), prices with ties, a baseline,
    a reserve price with ties."""
    bids = {}
    for s in sites:
        segments = []
        for _ in range(int(rng.integers(0, 4))):
            q = float(rng.uniform(1.0, 120.0)) * (1 if rng.random() < 0.6 else -1)
            segments.append(BidSegment(round(q, 3), float(rng.choice(PRICES))))
        bids[s] = Bid(step, segments, float(rng.choice([0.0, 2.0, 5.0])),
                      round(float(rng.uniform(-30.0, 30.0)), 2) if rng.random() < 0.5 else 0.0)
    return bids


class Script:
    """Each site's answer to its k-th award: accept, decline or stay silent, drawn once."""

    def __init__(self, rng: np.random.Generator, sites: list[str], p_decline: float,
                 p_silent: float) -> None:
        self.plan = {(s, k): rng.choice(["accept", "decline", "silent"],
                                        p=[1 - p_decline - p_silent, p_decline, p_silent])
                     for s in sites for k in range(8)}
        self.seen: dict[str, int] = {}

    def __call__(self, site: str, award: Award) -> Accept | Decline | None:
        k = self.seen.get(site, 0)
        self.seen[site] = k + 1
        what = self.plan[(site, min(k, 7))]
        if what == "accept":
            return Accept(award.step, award.power_kw, award.reserve_kw)
        if what == "decline":
            return Decline(award.step, f"{site} trips ({k})")
        return None
