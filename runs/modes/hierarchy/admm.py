"""The ADMM mode through regional aggregators (``coordination: admm`` with a ``topology:``).

The flat ADMM run (:mod:`vpp.runs.modes.admm.mode`), with the aggregator replaced by the
hierarchy: a root agent (:class:`~vpp.agents.hierarchy.admm_root.AdmmRootAgent`) that
negotiates with the regions and the sites right under it, and one agent per region
(:class:`~vpp.agents.hierarchy.admm_region.AdmmRegionAgent`) that relays each iteration's
signal to its sites and passes their sums up (the hierarchical sharing form,
``docs/protocols/hierarchy.md``). The sites, the delivery step by step and the run's
record are the flat run's; the negotiation's iterations and cost equal the flat run's
within the ADMM tolerance. In the ``local`` placement the regions join the aggregator's
host; with ``--processes N`` whole regions, their agents and sites, go to each site
process (:mod:`.admm_processes`), and the step-by-step record equals the one-process
run's. Each window's negotiation calls the subtrees still up (a lost region process's
sites are not called; they were dropped in the negotiation that found them silent).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vpp.agents.hierarchy.admm_region import AdmmRegionAgent
from vpp.agents.hierarchy.admm_root import AdmmRootAgent, gathered_result
from vpp.coordination.admm.model import Coupling
from vpp.coordination.admm.outcome import AdmmResult
from vpp.coordination.hierarchy.topology import SITE, Topology, build_topology
from vpp.runs.modes.admm.mode import AdmmMode, AdmmRun
from vpp.runs.modes.base import RunContext
from vpp.runs.modes.hierarchy.admm_processes import AdmmSubtreeProcesses
from vpp.runs.modes.hierarchy.admm_processes import node_addresses as subtree_addresses
from vpp.runs.modes.hierarchy.merit import live_topology
from vpp.runs.placement.base import Fleet
from vpp.runs.scenario import Scenario, ScenarioError


class HierarchyAdmmMode(AdmmMode):
    """ADMM schedules negotiated through regional aggregators, delivered step by step."""

    name = "admm_regions"
    title = "ADMM through regional aggregators (hierarchical sharing form), then delivery"
    placements = frozenset({"local", "processes"})

    def applies(self, scenario: Any) -> bool:
        """A scenario with ``coordination: admm``, a ``topology`` and no grid event."""
        return super().applies(scenario) and scenario.topology is not None

    def build(self, scenario: Scenario, context: RunContext) -> HierarchyAdmmRun:
        """Open the placement's fleet with ADMM sites; add the root and the regions."""
        return HierarchyAdmmRun(self, scenario, context)


def node_addresses(topology: Topology, fleet: Fleet) -> dict[str, str]:
    """Where each node of ``topology`` is served: the sites where the fleet has them, the
    root and the regions on the aggregator's host (agents named after their nodes)."""
    host = fleet.host.name
    return {node: (fleet.address_of(node) if topology.kind(node) == SITE
                   else f"{host}/{node}") for node in topology.graph.nodes}


class HierarchyAdmmRun(AdmmRun):
    """One ADMM run through regions, built for a placement; the runner steps it (the
    flat :class:`AdmmRun`'s steps, summary and record).

    Attributes:
        topology: the fleet's hierarchy.
        aggregator: the root agent.
        regions: the region agents, by name.
    """

    def __init__(self, mode: HierarchyAdmmMode, scenario: Scenario,
                 context: RunContext) -> None:
        assert scenario.topology is not None
        self.topology = build_topology(scenario.topology, scenario.site_names())
        self.regions: dict[str, AdmmRegionAgent] = {}
        context.meta.setdefault("regions", len(self.topology.regions))
        self.subtrees: AdmmSubtreeProcesses | None = None
        super().__init__(mode, scenario, context)

    def placement(self, context: RunContext) -> Any:
        """The context's placement; ``processes`` becomes :class:`AdmmSubtreeProcesses`
        (whole regions in each process; a ScenarioError naming ``--processes`` when there
        are fewer regions under the root than processes)."""
        placement = context.placement
        if placement.name == "processes" and not isinstance(placement, AdmmSubtreeProcesses):
            try:
                placement = AdmmSubtreeProcesses.replacing(placement, self.topology)
            except ValueError as exc:
                raise ScenarioError(str(exc)) from None
        if isinstance(placement, AdmmSubtreeProcesses):
            self.subtrees = placement
        return placement

    def add_aggregator(self) -> AdmmRootAgent:
        """The root on the aggregator's host; the regions there too, unless they are in
        their processes."""
        if self.subtrees is not None:
            addresses = subtree_addresses(self.topology, self.subtrees.homes)
        else:
            addresses = node_addresses(self.topology, self.fleet)
            self.regions = {r: self.fleet.host.add(AdmmRegionAgent(r, self.topology,
                                                                   addresses))
                            for r in self.topology.regions}
        return self.fleet.host.add(AdmmRootAgent(self.topology.root, self.topology,
                                                 addresses, self.admm))

    def prepare_negotiation(self) -> None:
        """The root calls the subtrees still up (all of them unless sites were lost)."""
        live = [a.rpartition("/")[2] for a in self.fleet.site_addresses()]
        self.aggregator.topology = (self.topology if len(live) == len(self.topology.sites)
                                    else live_topology(self.topology, live))

    def negotiated(self, entry: tuple[int, int, AdmmResult, float],
                   coupling: Coupling) -> tuple[int, int, AdmmResult, float]:
        """The root's outcome in the flat run's terms (:meth:`flat_result`)."""
        k, horizon, _, seconds = entry
        return k, horizon, self.flat_result(coupling), seconds

    def planned_kw(self, result: AdmmResult, offset: int) -> float:
        """The planned total the root holds (its children's summed ``sum_x``: the same
        number wherever the regions run)."""
        return float(self.aggregator.results[-1].total_kw[offset])

    def flat_result(self, coupling: Coupling) -> AdmmResult:
        """The root's last outcome with the schedules and costs the regions (and the root,
        for its own sites) hold, in the flat run's terms: sites by address. With the
        regions in their processes only the root's own sites' schedules are at hand: the
        cost is then the root's summed one."""
        flat = gathered_result(self.aggregator, self.regions.values(), coupling,
                               self.scenario.dt_h)
        if self.subtrees is not None:
            flat = dataclasses.replace(flat, cost_eur=self.aggregator.results[-1].cost_eur)
        at = self.fleet.address_of
        return dataclasses.replace(
            flat, schedules_kw={at(s): x for s, x in flat.schedules_kw.items()},
            site_cost_eur={at(s): c for s, c in flat.site_cost_eur.items()},
            dropped={at(s): why for s, why in flat.dropped.items()})
