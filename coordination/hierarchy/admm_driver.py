"""The hierarchical sharing ADMM driven in one process, message by message, no sockets.

Like ``coordination/admm/driver.py``: every message is handed to its receiver at once; when
nothing is in flight and an aggregator still waits, the deadlines fire, the deepest
regions' first. ``silent`` maps a site to the first round it misses, ``dead_regions`` a
region to the first round it misses (the way a lost process would).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import Coupling, MarketCoupling, SiteModel
from vpp.coordination.admm.protocol import AdmmResult, AdmmSettings, Outgoing
from vpp.coordination.admm.reference import check_instance
from vpp.coordination.admm.site import DIRECT, AdmmSiteSolver
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_region import RegionalAdmm
from vpp.coordination.hierarchy.admm_root import HierarchicalAdmm, HierarchyAdmmResult
from vpp.coordination.hierarchy.messages import (
    RegionalDone,
    RegionalRound,
    RegionalSums,
)
from vpp.coordination.hierarchy.topology import SITE, Topology


def as_flat_result(result: HierarchyAdmmResult, coupling: Coupling, dt_h: float,
                   schedules: Mapping[str, np.ndarray],
                   costs: Mapping[str, float]) -> AdmmResult:
    """The root's outcome with the sites' schedules and costs gathered from the regions,
    in the flat negotiation's terms (``AdmmResult``)."""
    keep = {s: x for s, x in schedules.items() if s not in result.dropped}
    site_cost = {s: costs[s] for s in keep if s in costs}
    cost = sum(site_cost.values())
    if isinstance(coupling, MarketCoupling) and keep:
        total = np.sum(list(keep.values()), axis=0)
        cost -= float(np.asarray(coupling.price_eur_mwh, dtype=float) @ total) * dt_h / 1000.0
    return AdmmResult(
        converged=result.converged, reason=result.reason, iterations=result.iterations,
        schedules_kw=keep, site_cost_eur=site_cost, cost_eur=cost,
        price_eur_mwh=result.price_eur_mwh, rho=result.rho,
        primal_residual=result.primal_residual, dual_residual=result.dual_residual,
        dropped=dict(result.dropped), relaxation_dropped_at=result.relaxation_dropped_at,
        infeasible=result.infeasible, unserved_kwh=result.unserved_kwh)


def negotiate_hierarchy(
        sites: Sequence[SiteModel], coupling: Coupling, topology: Topology,
        settings: AdmmSettings | None = None, *, solver: str = DIRECT,
        silent: Mapping[str, int] | None = None, dead_regions: Mapping[str, int] | None = None,
) -> tuple[AdmmResult, HierarchicalAdmm, dict[str, RegionalAdmm], dict[str, AdmmSiteSolver]]:
    """Run a whole negotiation through ``topology``; see the module's doc.

    Returns the result in flat terms (schedules gathered from the regions), the root, the
    regions and the site solvers.
    """
    horizon, dt_h = check_instance(sites, coupling)
    names = {s.name for s in sites}
    if names != set(topology.sites):
        raise ValueError(f"the sites and the topology's differ: "
                         f"{sorted(names ^ set(topology.sites))[:5]}")
    silent = dict(silent or {})
    dead = dict(dead_regions or {})
    solvers = {s.name: AdmmSiteSolver(s, solver) for s in sites}
    root = HierarchicalAdmm(topology, coupling, horizon, dt_h, settings)
    regions = {r: RegionalAdmm(r, topology, horizon) for r in topology.regions}
    queue: deque[tuple[str, Outgoing]] = deque((topology.root, o) for o in root.start())

    def handle(machine, call: Callable[[], list[Outgoing]]) -> list[Outgoing]:
        try:
            return call()
        except ProtocolError:
            return machine.take_after_error()

    def deliver(sender: str, out: Outgoing) -> list[Outgoing]:
        receiver, body = out.receiver, out.body
        kind = topology.kind(receiver)
        if kind == SITE:
            site = solvers[receiver]
            if isinstance(body, AdmmDone):
                site.on_done(body)
                return []
            assert isinstance(body, AdmmRound)
            if receiver in silent and out.round >= silent[receiver]:
                return []
            return [Outgoing(sender, site.on_round(body), out.round)]
        if kind == "region" and receiver in dead and out.round >= dead[receiver]:
            return []
        node = root if kind == "root" else regions[receiver]
        if isinstance(body, RegionalRound):
            return handle(node, lambda: node.on_round(body))
        if isinstance(body, RegionalDone):
            return node.on_done(body)
        if isinstance(body, AdmmSchedule):
            return handle(node, lambda: node.on_schedule(sender, body))
        if isinstance(body, RegionalSums):
            return handle(node, lambda: node.on_sums(sender, body))
        raise TypeError(f"no route for {type(body).__name__} to {receiver}")

    def alive(region: str) -> bool:
        return region not in dead or root.round < dead[region]

    while True:
        while queue:
            sender, out = queue.popleft()
            queue.extend((out.receiver, o) for o in deliver(sender, out))
        if root.done:
            break
        waiting = [r for r in regions.values() if r.waiting_for and alive(r.region)]
        if waiting:
            deepest = max(topology.depth(r.region) for r in waiting)
            for r in waiting:
                if topology.depth(r.region) == deepest:
                    queue.extend((r.region, o) for o in r.on_deadline())
        else:
            queue.extend((topology.root, o) for o in root.on_deadline())
    schedules: dict[str, np.ndarray] = {}
    costs: dict[str, float] = {}
    for machine in regions.values():
        x, c = machine.site_schedules()
        schedules.update(x)
        costs.update(c)
    kids = root.children
    for s in kids.active:
        if kids.is_site[s] and kids.schedule(s) is not None:
            schedules[s] = kids.schedule(s).copy()
            costs[s] = kids.costs[s]
    result = as_flat_result(root.result(), coupling, dt_h, schedules, costs)
    return result, root, regions, solvers
