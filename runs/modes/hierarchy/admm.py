"""The ADMM mode through regional aggregators (``coordination: admm`` with a ``topology:``).

The flat ADMM run (:mod:`vpp.runs.modes.admm.mode`), with the aggregator replaced by the
hierarchy: a root agent (:class:`~vpp.agents.hierarchy.admm_root.AdmmRootAgent`) that
negotiates with the regions and the sites right under it, and one agent per region
(:class:`~vpp.agents.hierarchy.admm_region.AdmmRegionAgent`) that relays each iteration's
signal to its sites and passes their sums up (the hierarchical sharing form,
``docs/protocols/hierarchy.md``). The sites, the delivery step by step and the run's
record are the flat run's; the negotiation's iterations and cost equal the flat run's
within the ADMM tolerance. The regions live in the aggregator's process (``local``).
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
from vpp.runs.placement.base import Fleet
from vpp.runs.scenario import Scenario


class HierarchyAdmmMode(AdmmMode):
    """ADMM schedules negotiated through regional aggregators, delivered step by step."""

    name = "admm_regions"
    title = "ADMM through regional aggregators (hierarchical sharing form), then delivery"
    placements = frozenset({"local"})

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
        super().__init__(mode, scenario, context)

    def add_aggregator(self) -> AdmmRootAgent:
        """The regions and the root, on the aggregator's host."""
        addresses = node_addresses(self.topology, self.fleet)
        self.regions = {r: self.fleet.host.add(AdmmRegionAgent(r, self.topology, addresses))
                        for r in self.topology.regions}
        return self.fleet.host.add(AdmmRootAgent(self.topology.root, self.topology,
                                                 addresses, self.admm))

    def prepare_negotiation(self) -> None:
        """Nothing: the root calls its children, the regions theirs."""

    def negotiated(self, entry: tuple[int, int, AdmmResult, float],
                   coupling: Coupling) -> tuple[int, int, AdmmResult, float]:
        """The root's outcome in the flat run's terms (:meth:`flat_result`)."""
        k, horizon, _, seconds = entry
        return k, horizon, self.flat_result(coupling), seconds

    def flat_result(self, coupling: Coupling) -> AdmmResult:
        """The root's last outcome with the schedules and costs the regions (and the root,
        for its own sites) hold, in the flat run's terms: sites by address."""
        flat = gathered_result(self.aggregator, self.regions.values(), coupling,
                               self.scenario.dt_h)
        at = self.fleet.address_of
        return dataclasses.replace(
            flat, schedules_kw={at(s): x for s, x in flat.schedules_kw.items()},
            site_cost_eur={at(s): c for s, c in flat.site_cost_eur.items()},
            dropped={at(s): why for s, why in flat.dropped.items()})
