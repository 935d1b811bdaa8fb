"""The ADMM mode (``coordination: admm``): at the first step of each window the aggregator
negotiates the window's schedules with every site by ADMM over messages
(``docs/protocols/admm.md``); then, step by step, it announces the step and each site runs
its devices at its planned set-points. What the devices delivered is compared with the
plan. Runs in every placement: the negotiation and its answer are the same.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from vpp.agents.admm.dispatch import AdmmDispatchAggregator, AdmmDispatchSite
from vpp.coordination.admm.outcome import AdmmResult
from vpp.runs.fleet.devices import build_devices
from vpp.runs.modes.admm.records import admm_totals, negotiation_outcome, step_record
from vpp.runs.modes.admm.sites import (
    SitePlanner,
    admm_settings,
    check_admm_scenario,
    coupling_for,
    price_series,
    window_steps,
)
from vpp.runs.modes.base import (
    Fail,
    Mode,
    RunContext,
    StepRecord,
    names_cell,
    phase_deadline_ms,
)
from vpp.runs.placement.base import STEP_TIMEOUT_S, Fleet
from vpp.runs.scenario import (
    AdmmSpec,
    Scenario,
    ScenarioError,
    SiteEntry,
    step_times,
    target_series,
)

ADMM_SITE_CALL_MS = 2.0
"""How long a site process may take, per site, to answer one ADMM round to all its sites
(the allowance behind its link timeout and the round deadline's floor). A battery site's
local solve took 0.5 ms cold (a negotiation's first round) and 0.1 ms warm on this
project's 2-core machine, before its messages: 2 ms leaves room for a slower machine."""


class AdmmMode(Mode):
    """Schedules negotiated by ADMM over a window, delivered step by step."""

    name = "admm"
    title = "ADMM consensus over each window, then its delivery step by step"
    placements = frozenset({"local", "processes", "remote"})

    def applies(self, scenario: Any) -> bool:
        """A scenario with ``coordination: admm`` and no grid event."""
        return (isinstance(scenario, Scenario) and scenario.coordination == "admm"
                and scenario.grid is None)

    def check(self, scenario: Scenario, fail: Fail) -> None:
        """What ADMM can represent of each site, its coupling, and a target unless it sells
        at market prices."""
        if scenario.market is not None:
            fail("market", "the sold position is dispatched by the merit-order negotiation: "
                           "a `market` section needs `coordination: merit_order`")
        if scenario.target is None and not (scenario.admm is not None
                                            and scenario.admm.coupling == "market"):
            fail("target", "Expected a target (or `admm.coupling: market`, which sells the "
                           "net position at market prices)")
        check_admm_scenario(scenario, fail)

    def sites(self, scenario: Scenario, entries: Sequence[SiteEntry],
              streams: Sequence[np.random.Generator] | None, *, where: str,
              allow_plugins: bool = False, remote: bool = False,
              own: set[str] | None = None) -> list:
        """The ADMM dispatch sites of ``entries``, each with its planner and first window
        (ADMM sites load no plug-ins); a site ADMM cannot represent is a ScenarioError
        naming its devices."""
        from vpp.agents.admm.remote import RemoteAdmmSite
        from vpp.runs.stages import announce

        announce(f"building {len(entries)} site{'s' if len(entries) != 1 else ''}")

        times = step_times(scenario)
        horizon = min(window_steps(scenario), scenario.steps)
        options = scenario.admm or AdmmSpec()
        cls = RemoteAdmmSite if remote else AdmmDispatchSite
        out = []
        for n, entry in enumerate(entries):
            devices = build_devices(scenario, entry.entry, times, where)
            try:
                planner = SitePlanner(entry.name, entry.spec.devices, devices, scenario.dt_h,
                                      options)
                out.append(cls(entry.name, devices, planner, horizon=horizon,
                               dt_h=scenario.dt_h,
                               outage_probability=entry.spec.outage_probability,
                               rng=None if streams is None else streams[n]))
            except ValueError as exc:
                raise ScenarioError(f"{where}: site {entry.name}: {exc} - at "
                                    f"`$.sites[{entry.entry}].devices`") from None
        return out

    def build(self, scenario: Scenario, context: RunContext) -> AdmmRun:
        """Open the placement's fleet with ADMM sites and add the aggregator."""
        return AdmmRun(self, scenario, context)

    def summary_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The run's totals for the terminal."""
        converged = sum(1 for n in summary["negotiations"] if n["converged"])
        rows = [
            ("sites", summary["sites"]), ("steps", summary["steps"]),
            ("coordination", f"admm ({summary['coupling']})"),
            ("negotiations converged", f"{converged} of {len(summary['negotiations'])}"),
            ("ADMM iterations", summary["iterations"]),
            ("target energy (kWh)", summary["target_kwh"]),
            ("planned energy (kWh)", summary["planned_kwh"]),
            ("delivered energy (kWh)", summary["served_kwh"]),
            ("unserved energy (kWh)", summary["unserved_kwh"]),
            ("largest gap to the target (kW)", f"{summary['max_target_gap_kw']:.3g}"),
            ("delivered minus planned (kWh, summed |.|)",
             f"{summary['plan_deviation_kwh']:.3g}"),
            ("cost (EUR, sites' private costs"
             + (" less market revenue)" if summary["coupling"] == "market" else ")"),
             summary["cost_eur"]),
            ("sites dropped", names_cell([f"{k} ({v})"
                                          for k, v in summary["dropped_sites"].items()])),
            ("messages", summary["messages"]), ("messages dropped", summary["dropped"]),
        ]
        if summary.get("infeasible"):
            rows.insert(4, ("infeasible", ("yes: the target is beyond what the fleet can do "
                                           "(unserved energy reported per step)")))
        if "lost_sites" in summary:
            rows.append(("sites lost", names_cell(summary["lost_sites"])))
        return rows

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """``dispatch.png``, and ``rounds.png`` (residuals per iteration, tolerances)."""
        from vpp.runs.plots import plot_rounds, plot_run

        return [plot_run(run_dir), plot_rounds(run_dir)]


class AdmmRun:
    """One ADMM run, built for a placement; the runner steps it.

    Attributes:
        scenario: the scenario.
        fleet: the placement's fleet.
        aggregator: the ADMM aggregator agent.
        negotiations: (first step, horizon, result, wall seconds) of each window.
        records: each step's record (``steps.csv``'s columns).
        sites: the site agents of this process (for the ops metrics).
    """

    def __init__(self, mode: AdmmMode, scenario: Scenario, context: RunContext) -> None:
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
        context.meta.setdefault("coordination", "admm")
        context.site_call_ms = ADMM_SITE_CALL_MS
        self.fleet: Fleet = self.placement(context).open(
            scenario, context, lambda s, entries, streams: mode.sites(
                s, entries, streams, where=where))
        self.hosts = self.fleet.hosts
        self.sites = self.fleet.local_sites
        self.step_index = 0
        try:
            self.admm = dataclasses.replace(self.admm, deadline_ms=phase_deadline_ms(
                self.admm.deadline_ms, self.fleet, context, field="admm.deadline_ms"))
            self.aggregator = self.add_aggregator()
        except BaseException:
            self.fleet.close()
            raise

    # -- what a variant of the run changes (the hierarchy: the root and its regions) -----
    def placement(self, context: RunContext) -> Any:
        """The placement the fleet is opened with: the context's."""
        return context.placement

    def add_aggregator(self) -> Any:
        """The aggregator side of the negotiation, added to the fleet's host: one
        :class:`AdmmDispatchAggregator` calling every site."""
        return self.fleet.host.add(AdmmDispatchAggregator(
            "aggregator", self.fleet.site_addresses(), self.admm))

    def prepare_negotiation(self) -> None:
        """Before a window's negotiation: call the sites still in the fleet."""
        self.aggregator.sites = self.fleet.site_addresses()

    def negotiated(self, entry: tuple[int, int, AdmmResult, float],
                   coupling: Any) -> tuple[int, int, AdmmResult, float]:
        """A finished negotiation's record ``(first step, horizon, result, seconds)`` as
        the run keeps it: the aggregator's, unchanged."""
        return entry

    def planned_kw(self, result: AdmmResult, offset: int) -> float:
        """The fleet's planned power in step ``offset`` of the window: the sum of the
        included sites' schedules."""
        return float(sum(x[offset] for x in result.schedules_kw.values()))

    def step_time(self, k: int):
        """The start instant (UTC) of step ``k``."""
        return self.times[k]

    def _negotiation_timeout_s(self) -> float:
        """How long one negotiation may take: every round to its deadline, and a step's."""
        return STEP_TIMEOUT_S + self.admm.max_iterations * self.admm.deadline_ms / 1e3

    def _negotiate(self, k: int, horizon: int) -> int:
        """Negotiate the window that starts at step ``k``; return its iterations."""
        coupling = coupling_for(self.scenario, k, horizon, self.targets, self.prices)
        agg, local = self.aggregator, self.fleet.local_sites
        self.prepare_negotiation()
        done_before = [s.negotiations for s in local]
        t0 = time.perf_counter()
        agg.begin(k, coupling, horizon, self.scenario.dt_h)
        self.fleet.wait(lambda: agg.done and all(
            s.negotiations > n for s, n in zip(local, done_before)),
            f"the ADMM negotiation of step {k}", self._negotiation_timeout_s())
        entry, self._tolerance_kw = negotiation_outcome(agg, k, horizon, t0)
        entry = self.negotiated(entry, coupling)
        self.negotiations.append(entry)
        self._window_start = k
        return entry[2].iterations

    def step(self, k: int) -> StepRecord:
        """Negotiate a new window when one starts, then deliver step ``k`` of the plan."""
        fleet, agg = self.fleet, self.aggregator
        start_s = k * self.window_s
        fleet.begin_step(k, start_s, start_s + self.window_s)
        iterations = 0
        if k % self.window == 0:
            iterations = self._negotiate(k, min(self.window, self.scenario.steps - k))
        offset = k - self._window_start
        result = self.negotiations[-1][2]
        planned = self.planned_kw(result, offset)
        target = planned if self.market else self.targets[k]
        cleared = agg.cleared(k, offset, target)
        applied = fleet.deliver(k, cleared, agg, conversation=agg.conversation,
                                round=agg.negotiation.round)
        order = [n for n in fleet.names if n in applied]
        served = sum(applied[n].power_kw for n in order)
        deviation = sum(applied[n].power_kw - applied[n].planned_kw for n in order
                        if applied[n].planned_kw is not None)
        cost = sum(applied[n].cost_eur for n in order)
        self._gaps = [abs(applied[n].battery_energy_gap_kwh) for n in order
                      if applied[n].battery_energy_gap_kwh is not None]
        record = step_record(target, planned, served, deviation, cost,
                             cleared.marginal_price_eur_mwh, iterations,
                             tolerance_kw=self._tolerance_kw,
                             sale_price=float(self.prices[k]) if self.market else None,
                             dt_h=self.scenario.dt_h)
        self.records.append(record)
        fleet.trace.step(
            step=k, sim_time=start_s, target_kw=target, served_kw=served,
            unserved_kw=record["unserved_kw"], reserve_target_kw=0.0, reserve_served_kw=0.0,
            marginal_price=cleared.marginal_price_eur_mwh, cost_eur=record["cost_eur"],
            rounds=iterations, silent=sorted(result.dropped),
            dispatch=[(fleet.address_of(n), applied[n].power_kw, 0.0, applied[n].cost_eur)
                      for n in order])
        fleet.trace.flush()
        self.step_index = k + 1
        sites = [{"site": n, "power_kw": applied[n].power_kw,
                  "planned_kw": applied[n].planned_kw,
                  "plan_deviation_kw": (None if applied[n].planned_kw is None
                                        else applied[n].power_kw - applied[n].planned_kw),
                  "stored_kwh": applied[n].stored_kwh} for n in order]
        return StepRecord(record, sites)

    def summary(self) -> dict[str, Any]:
        """Totals over the steps run, each negotiation's outcome, and the placement's
        part (messages; processes, lost sites)."""
        self.fleet.finish()
        return {
            **admm_totals(self.scenario, self.records, self.negotiations, self._gaps,
                          market=self.market, seed=self.seed, sites=len(self.fleet.names)),
            **self.fleet.summary(),
        }

    @property
    def ops_host(self):
        """The aggregator's host."""
        return self.fleet.host

    def register_metrics(self, metrics: Any) -> None:
        """The negotiations' figures, the local sites', the placement's."""
        from vpp.runs.ops.swarm_metrics import admm_metrics

        admm_metrics(self, metrics)
        self.fleet.register_metrics(metrics)

    def applier(self, scenario_path: Path) -> None:
        """None: hot reload of ADMM runs is not built."""
        return

    def close(self) -> None:
        """Close the fleet (stopping its sites)."""
        self.fleet.close()
