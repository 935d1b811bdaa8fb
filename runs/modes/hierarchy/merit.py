"""The merit-order mode through regional aggregators (a scenario with a ``topology:``).

Each step, the portfolio aggregator at the tree's root runs the contract net with its
regions, each region with its sites (``docs/protocols/hierarchy.md``); the dispatch is
the flat run's, bit for bit, so ``steps.csv`` and ``sites.csv`` equal those of the same
scenario without ``topology:``. In the ``local`` placement the sites are built as in the
flat mode and the regional aggregators and the root join the aggregator's host (every
message still crosses ZeroMQ and is traced); with ``--processes N`` whole regions, their
agents and sites, go to each site process (:mod:`.merit_processes`); in the ``remote``
placement (``vpp aggregator``) each region joins from a region process of its own
(``vpp aggregator --region``, :mod:`.merit_remote`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vpp.agents.hierarchy.merit_common import addressed
from vpp.agents.hierarchy.merit_region import RegionAgent
from vpp.agents.hierarchy.merit_root import PortfolioAgent
from vpp.coordination.hierarchy.topology import Topology, TopologyError, build_topology
from vpp.runs.modes.base import Fail, RunContext, StepRecord, names_cell, phase_deadline_ms
from vpp.runs.modes.hierarchy.merit_processes import SubtreeProcesses
from vpp.runs.modes.hierarchy.merit_remote import RemoteRegions
from vpp.runs.modes.merit_order.mode import (
    MeritOrderMode,
    MeritOrderRun,
    outcome_window,
)
from vpp.runs.scenario import (
    Scenario,
    ScenarioError,
    reserve_series,
    step_times,
    target_series,
)


def scenario_tree(scenario: Scenario) -> Topology:
    """The scenario's hierarchy over its fleet, nodes by name (checked by the scenario's
    checks already)."""
    assert scenario.topology is not None
    return build_topology(scenario.topology, scenario.site_names())


def live_topology(topology: Topology, live: Sequence[str]) -> Topology:
    """``topology`` without the sites not in ``live`` and the regions left with nothing
    below them (the root keeps at least one child: with no site live the placement stops
    the run before the step)."""
    graph = topology.graph.copy()
    keep = set(live)
    graph.remove_nodes_from([s for s in topology.sites if s not in keep])
    while True:
        empty = [n for n in topology.regions if n in graph and not graph.out_degree(n)]
        if not empty:
            return Topology(graph)
        graph.remove_nodes_from(empty)


def subtree_placement(placement: Any, tree: Topology) -> Any:
    """``placement`` dealing whole regions: ``processes`` as :class:`SubtreeProcesses`,
    ``remote`` as :class:`RemoteRegions` (region processes join), ``local`` as it is."""
    if placement.name == "processes" and not isinstance(placement, SubtreeProcesses):
        try:
            return SubtreeProcesses.replacing(placement, tree)  # regions whole
        except ValueError as exc:  # more processes than regions under the root
            raise ScenarioError(str(exc)) from None
    if placement.name == "remote" and not isinstance(placement, RemoteRegions):
        return RemoteRegions(placement, tree)
    return placement


class MeritHierarchyMode(MeritOrderMode):
    """Merit order through the scenario's regional aggregators."""

    name = "merit_hierarchy"
    title = "merit-order contract net through regional aggregators, every step"
    live_edits = False
    placements = frozenset({"local", "processes", "remote"})

    def applies(self, scenario: Any) -> bool:
        """A merit-order scenario with a ``topology`` and no grid event."""
        return super().applies(scenario) and scenario.topology is not None

    def check(self, scenario: Scenario, fail: Fail) -> None:
        """A target; no market section (not run through regions); node names that can
        name agents."""
        if scenario.market is not None:
            fail("market", "a market section is not run through regional aggregators yet; "
                           "remove `topology` to run it flat")
        super().check(scenario, fail)
        try:
            tree = scenario_tree(scenario)
        except TopologyError:
            return  # the scenario's own check names the node and the field
        for node in (tree.root, *tree.regions):
            if not node or "/" in node or "*" in node:
                fail("topology", f"the aggregator name {node!r} must be non-empty, without "
                                 "'/' or '*' (it names an agent)")

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """The flat mode's ``dispatch.png`` and ``topology.png``: the tree, served and
        unserved energy per node."""
        from vpp.runs.modes.hierarchy.merit_figure import plot_topology

        return [*super().plot(run_dir, run), plot_topology(run_dir)]

    def build(self, scenario: Scenario, context: RunContext) -> MeritHierarchyRun:
        """Open the placement's fleet with the flat mode's sites, add the regions and the
        root to the aggregator's host."""
        return MeritHierarchyRun(self, scenario, context)

    def summary_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The flat mode's rows, with the regions after the sites."""
        rows = super().summary_rows(summary)
        rows.insert(1, ("regional aggregators", summary["regions"]))
        if summary.get("silent_regions"):
            rows.append(("regions silent", names_cell(summary["silent_regions"])))
        return rows


class MeritHierarchyRun(MeritOrderRun):
    """One merit-order run through regions; steps, tables and summary as the flat run's.

    Attributes (besides :class:`MeritOrderRun`'s):
        tree: the hierarchy, nodes by name.
        topology: the same tree, nodes by agent address.
        regions: the regional aggregator agents, parents before children.
        aggregator: the root (:class:`PortfolioAgent`).
    """

    def __init__(self, mode: MeritHierarchyMode, scenario: Scenario,
                 context: RunContext) -> None:
        self.scenario = scenario
        self.seed = context.seed
        self.steps = scenario.steps
        self.times = step_times(scenario)
        self.window_s = scenario.step_minutes * 60.0
        self.allow_plugins = bool(context.options.get("allow_plugins"))
        where = str(context.scenario_path or scenario.name)
        self.targets = target_series(scenario, context.scenario_path)
        self.reserves = reserve_series(scenario)
        self.tree = scenario_tree(scenario)
        context.meta["regions"] = len(self.tree.regions)
        placement = self.placement = subtree_placement(context.placement, self.tree)
        self._hosts_version = None
        self.fleet = placement.open(
            scenario, context, lambda s, entries, streams: mode.sites(
                s, entries, streams, where=where, allow_plugins=self.allow_plugins))
        self.hosts = self.fleet.hosts
        self.sites = self.fleet.local_sites
        self.step_index = 0
        self.day_ahead = None
        try:
            host = self.fleet.host
            if hasattr(placement, "node_address"):  # the regions are in their processes
                self.topology = addressed(self.tree, placement.node_address(self.fleet))
                self.regions = []
            else:
                sites = set(self.tree.sites)
                self.topology = addressed(self.tree, lambda n: self.fleet.address_of(n)
                                          if n in sites else f"{host.name}/{n}")
                self.regions = [host.add(RegionAgent(r, self.topology))
                                for r in self.tree.regions]
            self.aggregator = PortfolioAgent(
                self.tree.root, self.topology,
                deadline_ms=phase_deadline_ms(scenario.negotiation.deadline_ms, self.fleet,
                                              context),
                max_rounds=scenario.negotiation.max_rounds,
                outcome_window=outcome_window(self.steps, context.options))
            host.add(self.aggregator)
        except BaseException:
            self.fleet.close()
            raise

    def step(self, k: int) -> StepRecord:
        """The flat run's step, the root negotiating over the subtrees still up: the
        sites of a region process found lost are not called (as the flat run does not
        call lost sites); they were silent in the step that found their region silent."""
        version = getattr(self.placement, "hosts_version", None)
        if version is not None and (v := version(self.fleet)) != self._hosts_version:
            # a region that joined late (--min-sites) or again: addressed at its host now
            self._hosts_version = v
            self.topology = addressed(self.tree, self.placement.node_address(self.fleet))
        live = self.fleet.site_addresses()
        self.aggregator.topology = (self.topology if len(live) == len(self.topology.sites)
                                    else live_topology(self.topology, live))
        return super().step(k)

    def summary(self) -> dict[str, Any]:
        """The flat run's summary, with the number of regions and those that went
        silent."""
        summary = super().summary()
        silent = {r for names in self.aggregator.silent_regions.values() for r in names}
        silent |= {r for agent in self.regions for r in getattr(agent.auction, "silent_regions",
                                                                   ())}
        summary["regions"] = len(self.tree.regions)
        summary["silent_regions"] = sorted(r.rpartition("/")[2] for r in silent)
        return summary

    def applier(self, scenario_path: Any) -> Any:
        """None: live edits are not applied through regions (the mode says so up
        front)."""
        return None
