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
import time
from typing import Any

from vpp.agents.hierarchy.admm_region import AdmmRegionAgent
from vpp.agents.hierarchy.admm_root import AdmmRootAgent, gathered_result
from vpp.coordination.admm.model import Coupling
from vpp.coordination.admm.outcome import AdmmResult
from vpp.coordination.hierarchy.topology import SITE, Topology, build_topology
from vpp.runs.modes.admm.mode import AdmmMode, AdmmRun
from vpp.runs.modes.admm.records import negotiation_outcome
from vpp.runs.modes.admm.sites import (
    admm_settings,
    coupling_for,
    price_series,
    window_steps,
)
from vpp.runs.modes.base import RunContext
from vpp.runs.placement.base import Fleet
from vpp.runs.scenario import Scenario, step_times, target_series


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
        # the flat run's set-up, with the root and the regions as its aggregator
        self.scenario = scenario
        self.seed = context.seed
        self.steps = scenario.steps
        self.times = step_times(scenario)
        self.window_s = scenario.step_minutes * 60.0
        where = str(context.scenario_path or scenario.name)
        self.targets = (target_series(scenario, context.scenario_path)
                        if scenario.target is not None else [])
        self.prices = price_series(scenario, context.scenario_path)
        self.market = self.prices is not None
        self.window = window_steps(scenario)
        self.admm = admm_settings(scenario)
        self.negotiations: list[tuple[int, int, AdmmResult, float]] = []
        self.records: list[dict] = []
        self._window_start = 0
        self._tolerance_kw = 0.0
        self._gaps: list[float] = []
        assert scenario.topology is not None
        self.topology = build_topology(scenario.topology, scenario.site_names())
        context.meta.setdefault("coordination", "admm")
        context.meta.setdefault("regions", len(self.topology.regions))
        self.fleet: Fleet = context.placement.open(
            scenario, context, lambda s, entries, streams: mode.sites(
                s, entries, streams, where=where))
        self.hosts = self.fleet.hosts
        self.sites = self.fleet.local_sites
        self.step_index = 0
        try:
            addresses = node_addresses(self.topology, self.fleet)
            self.regions = {r: self.fleet.host.add(AdmmRegionAgent(r, self.topology,
                                                                   addresses))
                            for r in self.topology.regions}
            self.aggregator = self.fleet.host.add(AdmmRootAgent(
                self.topology.root, self.topology, addresses, self.admm))
        except BaseException:
            self.fleet.close()
            raise

    def _negotiate(self, k: int, horizon: int) -> int:
        """Negotiate the window that starts at step ``k`` through the regions; return its
        iterations."""
        coupling = coupling_for(self.scenario, k, horizon, self.targets, self.prices)
        root, local = self.aggregator, self.fleet.local_sites
        done_before = [s.negotiations for s in local]
        t0 = time.perf_counter()
        root.begin(k, coupling, horizon, self.scenario.dt_h)
        self.fleet.wait(lambda: root.done and all(
            s.negotiations > n for s, n in zip(local, done_before)),
            f"the ADMM negotiation of step {k}", self._negotiation_timeout_s())
        (*_, seconds), self._tolerance_kw = negotiation_outcome(root, k, horizon, t0)
        result = self.flat_result(coupling)
        self.negotiations.append((k, horizon, result, seconds))
        self._window_start = k
        return result.iterations

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
