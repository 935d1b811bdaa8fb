"""An ADMM scenario (``coordination: admm``) with its sites in other processes.

:class:`AdmmAggregatorRun` is the :class:`~runs.distributed.AggregatorRun` of an ADMM
scenario: the same join, heartbeats, acknowledged dispatch and stop, but each window is
planned by ADMM with the sites of live hosts (``vpp.agents.admm.dispatch``), and each step
of the plan is sent to every site by address and acknowledged with ``Applied`` (which
carries what the site ran, its planned power and the plan's private cost of the step).
A site process that dies mid-negotiation is dropped at the round's deadline and the
coupling re-targeted over the others, as in one process; its host is then named lost.
The sequence: ``docs/protocols/distributed.md`` ("ADMM").
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

from vpp.agents.admm.dispatch import AdmmDispatchAggregator
from vpp.runs.modes.admm.sites import coupling_for
from vpp.runs.modes.admm.swarm import AdmmWindows, admm_totals
from vpp.runs.placement.remote import AggregatorRun, DistributedError
from vpp.runs.scenario import Scenario

log = logging.getLogger(__name__)


class LinkedAdmmAggregator(AdmmDispatchAggregator):
    """The ADMM aggregator of a distributed run: it sends nothing to a site whose host
    the coordinator has lost (the host's route is gone; the site is dropped at the
    round's deadline, or is already out of the negotiation).

    Args:
        name: the agent's name.
        settings: the scenario's ADMM settings.
        members: the coordinator's live hosts (read at each send).
    """

    def __init__(self, name: str, settings, members) -> None:
        super().__init__(name, [], settings)
        self.members = members
        self.unsent = 0
        """Messages not sent because the site's host was lost."""

    def send(self, receiver: str, body, *, conversation: str = "", round: int = 0) -> None:
        """Send ``body``, unless ``receiver``'s host is a lost site host."""
        host = receiver.partition("/")[0]
        if host != self.host.name and host not in self.members:
            self.unsent += 1
            self.log.info("%s not sent to %s: its host is lost", type(body).__name__, receiver)
            return
        super().send(receiver, body, conversation=conversation, round=round)


class AdmmAggregatorRun(AdmmWindows, AggregatorRun):
    """A ``coordination: admm`` scenario whose sites are other processes.

    It takes the arguments of :class:`~runs.distributed.AggregatorRun`; its summary has
    the keys of the one-process ADMM run (``vpp.runs.modes.admm.swarm``) plus the distributed ones
    (absent, lost, unstopped hosts, liveness events).
    """

    aggregator: AdmmDispatchAggregator

    def _make_aggregator(self, scenario: Scenario, scenario_path: Path | None):
        """The ADMM aggregator (its targets, prices, window and settings read here)."""
        self._init_windows(scenario, scenario_path)
        self.trace.set_meta(coordination="admm")
        return LinkedAdmmAggregator("aggregator", self.admm, self.coordinator.members)

    def step(self) -> None:
        """Plan a new window with the live sites when one starts, then send step k of the
        plan to every live site and collect their acknowledgements."""
        k = self.step_index
        start_s = k * self.window_s
        self.clock.advance_to(start_s)
        self.coordinator.next_step = k + 1
        iterations, offset, planned, target, result = self._plan_step(k)
        cleared = self.aggregator.cleared(k, offset, target)
        acks = self.deliver(k, cleared)
        order = [n for n in self.coordinator.site_names if n in acks]
        served = sum(acks[n].power_kw for n in order)
        deviation = sum(acks[n].power_kw - acks[n].planned_kw for n in order
                        if acks[n].planned_kw is not None)
        cost = sum(acks[n].cost_eur for n in order)
        holder = self.coordinator.holder
        self._record_step(
            k, start_s, target=target, planned=planned, served=served, deviation=deviation,
            cost=cost, price=cleared.marginal_price_eur_mwh, iterations=iterations,
            silent=sorted(result.dropped),
            dispatch=[(f"{holder.get(n, '?')}/{n}", acks[n].power_kw, 0.0, acks[n].cost_eur)
                      for n in order])
        self.step_index += 1

    def _negotiate(self, k: int, horizon: int) -> int:
        coupling = coupling_for(self.scenario, k, horizon, self.targets, self.prices)
        self.aggregator.sites = self.coordinator.live_sites()
        t0 = time.perf_counter()
        self.aggregator.begin(k, coupling, horizon, self.scenario.dt_h)
        timeout = self._negotiation_timeout_s()
        if not self.loop.run_until(lambda: self.aggregator.done, timeout):
            raise DistributedError(f"the ADMM negotiation of step {k} did not end in "
                                   f"{timeout:g} s")
        return self._negotiated(k, horizon, t0)

    def summary(self, wall_s: float | None = None) -> dict:
        """The one-process ADMM run's totals, plus who was absent, lost, unstopped."""
        last = self.applied[-1] if self.applied else {}
        gaps = [abs(a.battery_energy_gap_kwh) for a in last.values()
                if a.battery_energy_gap_kwh is not None]
        return {
            **admm_totals(self.scenario, self.records, self.negotiations, gaps,
                          market=self.market, seed=self.seed,
                          sites=len(self.coordinator.site_names)),
            **self.membership_summary(wall_s),
        }

    def write_results(self, summary: dict) -> None:
        """Write ``summary.json``, ``steps.csv`` (the one-process columns) and
        ``sites.csv`` (what each site acknowledged)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        columns = ["target_kw", "planned_kw", "served_kw", "unserved_kw", "plan_deviation_kw",
                   "price_eur_mwh", "cost_eur", "iterations"]
        with open(self.out_dir / "steps.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", *columns])
            for k, rec in enumerate(self.records):
                w.writerow([k, *(rec[c] for c in columns)])
        names = self.coordinator.site_names
        with open(self.out_dir / "sites.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["Step", "AgentID", "site", "power_kw", "planned_kw",
                        "plan_deviation_kw", "stored_kwh"])
            for k, acks in enumerate(self.applied):
                for i, name in enumerate(names):
                    a = acks.get(name)
                    if a is not None:
                        deviation = None if a.planned_kw is None else a.power_kw - a.planned_kw
                        w.writerow([k + 1, i + 1, name, a.power_kw, a.planned_kw, deviation,
                                    a.stored_kwh])

