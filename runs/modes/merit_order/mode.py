"""The merit-order mode: every step, the aggregator's contract net with its sites (call for
bids, award in price order, re-award on declines), then the dispatch delivered and each
site's devices run at its set-point. ``docs/protocols/merit-order.md``.

With a ``market`` section the fleet first sells its flexibility day-ahead (and reserve, and
optionally bids its CVaR plan): the cleared position becomes the target (``market.py``,
``plan.py``). Runs in every placement, except that a market section runs in one process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
from vpp.agents.merit_order.aggregator import AggregatorAgent
from vpp.coordination.dispatch import StepCleared
from vpp.runs.modes.base import (
    Fail,
    Mode,
    RunContext,
    StepRecord,
    names_cell,
    phase_deadline_ms,
)
from vpp.runs.modes.merit_order.sites import merit_order_sites
from vpp.runs.placement.base import Fleet
from vpp.runs.record.columns import Columns
from vpp.runs.scenario import (
    Scenario,
    SiteEntry,
    reserve_series,
    step_times,
    target_series,
)

#: A run of more steps than this keeps only the last OUTCOME_WINDOW step outcomes (a
#: 15-minute month is 2,880 steps); its totals are summed as it goes, the same numbers.
OUTCOMES_KEPT_WHOLE = 3_000
#: The step outcomes a long run keeps (a 15-minute day).
OUTCOME_WINDOW = 96


_POWER, _RESERVE, _STORED = (attrgetter(a) for a in ("power_kw", "reserve_kw", "stored_kwh"))


def site_columns(names: Sequence[str], applied: Mapping[str, Any]) -> Columns:
    """A step's ``sites.csv`` rows, as columns: each site of ``names`` (in fleet order)
    that ``applied`` has (what it ran: power, reserve held, energy stored)."""
    got = list(map(applied.get, names))
    if None in got:  # a site lost or not taking part: no row
        kept = [(name, a) for name, a in zip(names, got) if a is not None]
        names, got = [name for name, _ in kept], [a for _, a in kept]
    return Columns({"site": list(names), "power_kw": list(map(_POWER, got)),
                    "reserve_kw": list(map(_RESERVE, got)),
                    "stored_kwh": list(map(_STORED, got))})


def outcome_window(steps: int, options: Mapping[str, Any]) -> int | None:
    """The outcomes a run keeps: the run's option ``outcome_window`` when given (a
    benchmark's slice of a year, a test), else every one up to ``OUTCOMES_KEPT_WHOLE``
    steps and the last ``OUTCOME_WINDOW`` beyond."""
    window = options.get("outcome_window")
    if window is not None:
        return int(window)
    return OUTCOME_WINDOW if steps > OUTCOMES_KEPT_WHOLE else None


class MeritOrderMode(Mode):
    """Each step's contract net (the default mode of a scenario without a ``grid`` event)."""

    name = "merit_order"
    title = "merit-order contract net, every step (optionally after a day-ahead sale)"
    live_edits = True
    placements = frozenset({"local", "processes", "remote"})

    def applies(self, scenario: Any) -> bool:
        """A scenario coordinated by merit order, without a grid event."""
        return (isinstance(scenario, Scenario) and scenario.coordination == "merit_order"
                and scenario.grid is None)

    def check(self, scenario: Scenario, fail: Fail) -> None:
        """A target, or a market section (checked), whose cleared position is the target."""
        if scenario.market is not None:
            from vpp.runs.modes.merit_order.market import check_market_scenario

            check_market_scenario(scenario, fail)
        elif scenario.target is None:
            fail("target", "Expected a target (or a `market` section, whose cleared position "
                           "becomes the target; a `grid` event needs none)")

    def placement_problem(self, scenario: Scenario, placement: str) -> str | None:
        """A market section runs in one process."""
        if scenario.market is not None and placement != "local":
            return ("$.market: a market section runs in one process for now; run it "
                    "without --processes")
        return super().placement_problem(scenario, placement)

    def sites(self, scenario: Scenario, entries: Sequence[SiteEntry],
              streams: Sequence[np.random.Generator] | None, *, where: str,
              allow_plugins: bool = False, remote: bool = False,
              own: set[str] | None = None) -> list:
        """The site agents of ``entries`` (see
        :func:`~vpp.runs.modes.merit_order.sites.merit_order_sites`)."""
        return merit_order_sites(scenario, entries, streams, where=where,
                                 allow_plugins=allow_plugins, remote=remote, own=own)

    def build(self, scenario: Scenario, context: RunContext) -> MeritOrderRun:
        """Open the placement's fleet with this mode's sites, add the aggregator, sell
        day-ahead first when the scenario has a market."""
        return MeritOrderRun(self, scenario, context)

    def summary_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The run's totals for the terminal (the market's first, when it sold)."""
        rows: list[tuple[str, Any]] = [
            ("sites", summary["sites"]), ("steps", summary["steps"]),
            ("target energy (kWh)", summary["target_kwh"]),
            ("served energy (kWh)", summary["served_kwh"]),
            ("unserved energy (kWh)", summary["unserved_kwh"]),
            ("steps with unserved energy", summary["steps_with_unserved"]),
            ("reserve shortfall (kWh)", summary["reserve_shortfall_kwh"]),
            ("dispatch cost (EUR, pay-as-bid)", summary["cost_eur"]),
            ("declined awards", summary["declines"]),
            ("negotiation rounds", summary["rounds"]),
            ("messages", summary["messages"]), ("messages dropped", summary["dropped"]),
        ]
        if "market" in summary:
            from vpp.runs.modes.merit_order.market import market_rows

            rows[2:2] = market_rows(summary)
        if "lost_sites" in summary:
            rows.append(("sites lost", names_cell(summary["lost_sites"])))
        if (window := summary.get("outcomes_window")) is not None:
            held = (f"the last {window['kept']} (a window of {window['window']}; "
                    "totals over every step)")
            rows.append(("step outcomes held", held))
        return rows

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """``dispatch.png``: target vs served, dispatch by site, reserve, unserved."""
        from vpp.runs.plots import plot_run

        return [plot_run(run_dir)]


class MeritOrderRun:
    """One merit-order run, built for a placement; the runner steps it.

    Attributes:
        scenario: the scenario.
        fleet: the placement's fleet (hosts, loop, sites).
        aggregator: the aggregator agent (its outcomes, one per step: the last
            ``OUTCOME_WINDOW`` only in a run of more than ``OUTCOMES_KEPT_WHOLE`` steps,
            which its summary's ``outcomes_window`` says).
        targets: the target per step (kW), the cleared position's with a market.
        reserves: the upward reserve per step (kW).
        sites: the site agents of this process (for the market and the ops metrics).
    """

    def __init__(self, mode: MeritOrderMode, scenario: Scenario, context: RunContext) -> None:
        self.scenario = scenario
        self.seed = context.seed
        self.steps = scenario.steps
        self.times = step_times(scenario)
        self.window_s = scenario.step_minutes * 60.0
        self.allow_plugins = bool(context.options.get("allow_plugins"))
        where = str(context.scenario_path or scenario.name)
        # with a market, the cleared position is the target (set once the fleet is up)
        self.targets = (target_series(scenario, context.scenario_path)
                        if scenario.market is None else [])
        self.reserves = reserve_series(scenario)
        self.fleet: Fleet = context.placement.open(
            scenario, context, lambda s, entries, streams: mode.sites(
                s, entries, streams, where=where, allow_plugins=self.allow_plugins))
        self.hosts = self.fleet.hosts
        self.sites = self.fleet.local_sites
        self.step_index = 0
        try:
            self.aggregator = AggregatorAgent(
                "aggregator", self.fleet.site_addresses(),
                deadline_ms=phase_deadline_ms(scenario.negotiation.deadline_ms, self.fleet,
                                              context),
                max_rounds=scenario.negotiation.max_rounds,
                outcome_window=outcome_window(self.steps, context.options))
            self.fleet.host.add(self.aggregator)
            self.day_ahead = None
            if scenario.market is not None:
                from vpp.runs.modes.merit_order.market import sell_day_ahead

                self.day_ahead = sell_day_ahead(self, context.scenario_path)
                self.targets = self.day_ahead.targets_kw
        except BaseException:
            self.fleet.close()
            raise

    def step_time(self, k: int):
        """The start instant (UTC) of step ``k``."""
        return self.times[k]

    def step(self, k: int) -> StepRecord:
        """Negotiate step ``k`` with the sites taking part, deliver its outcome, record."""
        fleet, agg = self.fleet, self.aggregator
        start_s = k * self.window_s
        fleet.begin_step(k, start_s, start_s + self.window_s)
        agg.sites = fleet.site_addresses()
        agg.begin_step(k, start_s, self.window_s, self.targets[k], self.reserves[k])
        fleet.wait(lambda: agg.step_done, f"step {k}'s negotiation")
        out = agg.outcomes[-1]
        applied = fleet.deliver(
            k, StepCleared(out.step, out.target_kw, out.served_kw, out.unserved_kw,
                           out.marginal_price_eur_mwh),
            agg, conversation=agg.conversation, round=agg.auction.round)
        fleet.trace.flush()
        self.step_index = k + 1
        row = {"target_kw": out.target_kw, "served_kw": out.served_kw,
               "unserved_kw": out.unserved_kw, "reserve_target_kw": out.reserve_target_kw,
               "reserve_served_kw": out.reserve_served_kw,
               "marginal_price_eur_mwh": out.marginal_price_eur_mwh,
               "cost_eur": out.cost_eur, "rounds": out.rounds,
               "declined": len(out.declined), "silent": " ".join(out.silent)}
        return StepRecord(row, site_columns(fleet.names, applied))

    def summary(self) -> dict[str, Any]:
        """Totals over the steps run: energy asked for, served and unserved, cost,
        messages; the placement's part (processes, lost sites) and the market's."""
        self.fleet.finish()
        history = self.aggregator.history
        totals = history.totals
        summary = {
            "scenario": self.scenario.name,
            "coordination": "merit_order",
            "seed": self.seed,
            "steps": totals.steps,
            "sites": len(self.fleet.names),
            **totals.summary(self.scenario.dt_h),
            **self.fleet.summary(),
            **(self.day_ahead.summary(totals.cost_eur.value)
               if self.day_ahead is not None else {}),
        }
        if history.window is not None:   # the outcomes held: the last ones only
            summary["outcomes_window"] = {"kept": len(history), "window": history.window,
                                          "dropped": history.dropped}
        return summary

    @property
    def ops_host(self):
        """The aggregator's host."""
        return self.fleet.host

    def register_metrics(self, metrics: Any) -> None:
        """The negotiation's figures, the local sites', the placement's."""
        from vpp.runs.ops.swarm_metrics import merit_order_metrics

        merit_order_metrics(self, metrics)
        self.fleet.register_metrics(metrics)

    def applier(self, scenario_path: Path) -> Any:
        """Targets, reserve, negotiation settings; with the sites in this process, their
        strategies, outage probabilities and device prices and limits too."""
        from vpp.runs.ops.appliers import SwarmApplier
        from vpp.runs.ops.wiring import AggregatorApplier

        return (SwarmApplier(self, scenario_path) if self.sites
                else AggregatorApplier(self, scenario_path))

    def close(self) -> None:
        """Close the fleet (stopping its sites)."""
        self.fleet.close()
