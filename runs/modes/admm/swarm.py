"""The local swarm coordinated by ADMM (``coordination: admm``): plan by messages, deliver
through the physics models.

Like :class:`vpp.runs.modes.merit_order.swarm.SwarmModel`: two hosts in this process (``agg`` and ``sites``)
over ``inproc://``, a ``mesa.Model`` stepping simulated time, a ``DataCollector``, the
trace. At the first step of each window the aggregator negotiates the window's schedules
with every site over ZeroMQ (``docs/protocols/admm.md``); then, step by step, it announces
the step and each site runs its devices at its planned set-points. What the devices
delivered is compared with the plan.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import mesa
from vpp.agents.admm.dispatch import AdmmDispatchAggregator, AdmmDispatchSite
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.admm.protocol import AdmmResult
from vpp.runs.modes.admm.sites import (
    SitePlanner,
    admm_settings,
    coupling_for,
    price_series,
    window_steps,
)
from vpp.runs.modes.merit_order.swarm import (
    STEP_TIMEOUT_S,
    LocalSwarm,
    SiteMember,
    build_site_devices,
)
from vpp.runs.scenario import AdmmSpec, Scenario, ScenarioError, target_series

log = logging.getLogger(__name__)


class AdmmWindows:
    """What a run of a ``coordination: admm`` scenario does whether its sites are in this
    process (:class:`AdmmSwarmModel`) or in others
    (:class:`vpp.runs.modes.admm.distributed.AdmmAggregatorRun`): plan a window by negotiation when
    one starts, deliver it step by step, record each step.

    The run has ``scenario``, ``trace``, ``aggregator`` and ``step_index``; it calls
    :meth:`_init_windows` once and gives ``_negotiate(k, horizon)``, which ends with
    :meth:`_negotiated`.
    """

    def _init_windows(self, scenario: Scenario, scenario_path: Path | None) -> None:
        """Read the targets or prices, the window and the ADMM settings; no step run yet."""
        self.targets = (target_series(scenario, scenario_path)
                        if scenario.target is not None else [])
        self.prices = price_series(scenario, scenario_path)
        self.market = self.prices is not None
        self.window = window_steps(scenario)
        self.admm = admm_settings(scenario)
        self.negotiations: list[tuple[int, int, AdmmResult, float]] = []
        self.records: list[dict] = []
        self._window_start = 0
        self._tolerance_kw = 0.0

    def _negotiation_timeout_s(self) -> float:
        """How long one negotiation may take: every round to its deadline, and a step's."""
        return STEP_TIMEOUT_S + self.admm.max_iterations * self.admm.deadline_ms / 1e3

    def _plan_step(self, k: int) -> tuple[int, int, float, float, AdmmResult]:
        """Begin step ``k``, negotiating a new window when one starts; return the
        iterations that took (0: none), the step's offset in its window, the planned
        total, the target (the planned total under a market coupling) and the window's
        result."""
        iterations = 0
        if k % self.window == 0:
            iterations = self._negotiate(k, min(self.window, self.scenario.steps - k))
        offset = k - self._window_start
        result = self.negotiations[-1][2]
        planned = float(sum(x[offset] for x in result.schedules_kw.values()))
        return iterations, offset, planned, planned if self.market else self.targets[k], result

    def _negotiated(self, k: int, horizon: int, started: float) -> int:
        """Keep the finished negotiation of the window that starts at step ``k``; return
        its iterations."""
        entry, self._tolerance_kw = negotiation_outcome(self.aggregator, k, horizon, started)
        self.negotiations.append(entry)
        self._window_start = k
        return entry[2].iterations

    def _record_step(self, k: int, start_s: float, *, target: float, planned: float,
                     served: float, deviation: float, cost: float, price: float,
                     iterations: int, silent: list[str],
                     dispatch: list[tuple[str, float, float, float]]) -> dict:
        """Keep step ``k``'s record (:func:`step_record`), trace it and flush the trace;
        return the record."""
        record = step_record(target, planned, served, deviation, cost, price, iterations,
                             tolerance_kw=self._tolerance_kw,
                             sale_price=float(self.prices[k]) if self.market else None,
                             dt_h=self.scenario.dt_h)
        self.records.append(record)
        self.trace.step(
            step=k, sim_time=start_s, target_kw=target, served_kw=served,
            unserved_kw=record["unserved_kw"], reserve_target_kw=0.0, reserve_served_kw=0.0,
            marginal_price=price, cost_eur=record["cost_eur"], rounds=iterations,
            silent=silent, dispatch=dispatch)
        self.trace.flush()
        return record


class AdmmSiteMember(SiteMember):
    """The mesa face of an ADMM site: also its planned power and the plan's deviation."""

    @property
    def planned_kw(self) -> float | None:
        """The power planned for the last step (None when it ran at its baselines)."""
        return self.site.planned_kw

    @property
    def plan_deviation_kw(self) -> float | None:
        """Delivered minus planned power in the last step."""
        planned = self.site.planned_kw
        return None if planned is None else self.site.power_kw - planned

    @property
    def stored_kwh(self) -> float:
        """Energy in the site's stores."""
        return self.site.stored_kwh


class AdmmSwarmModel(AdmmWindows, LocalSwarm):
    """A scenario with ``coordination: admm`` run in one process.

    Args:
        scenario: the validated scenario.
        out_dir: the run's directory (trace shard, time series, summary).
        scenario_path: the scenario file, to resolve the paths it names.
        seed: overrides the scenario's seed.
    """

    def __init__(self, scenario: Scenario, out_dir: Path | str, *,
                 scenario_path: Path | None = None, seed: int | None = None) -> None:
        seed = scenario.seed if seed is None else seed
        super().__init__(seed=seed)
        where = str(scenario_path or scenario.name)
        self.scenario = scenario
        self.out_dir = Path(out_dir)
        self._init_windows(scenario, scenario_path)
        options = scenario.admm or AdmmSpec()
        devices = build_site_devices(scenario, where)
        self.open_hosts(scenario, seed, coordination="admm")
        self.sites: list[AdmmDispatchSite] = []
        streams = self.rng.spawn(len(scenario.site_names()))
        names = iter(scenario.site_names())
        first = min(self.window, scenario.steps)
        for i, spec in enumerate(scenario.sites):
            for _ in range(spec.count):
                name = next(names)
                site_devices = next(devices)
                try:
                    planner = SitePlanner(name, spec.devices, site_devices, scenario.dt_h,
                                          options)
                    site = AdmmDispatchSite(name, site_devices, planner, horizon=first,
                                            dt_h=scenario.dt_h,
                                            outage_probability=spec.outage_probability,
                                            rng=streams[len(self.sites)])
                except ValueError as exc:
                    raise ScenarioError(f"{where}: site {name}: {exc} - at "
                                        f"`$.sites[{i}].devices`") from None
                self.site_host.add(site)
                self.sites.append(site)
                AdmmSiteMember(self, site)
        self.aggregator = AdmmDispatchAggregator(
            "aggregator", [s.address for s in self.sites], self.admm)
        self.agg_host.add(self.aggregator)
        self.loop = EventLoop(self.agg_host, self.site_host)
        self.loop.run_once(0.0)  # let the subscriptions reach the publisher
        self.datacollector = mesa.DataCollector(
            model_reporters={k: (lambda m, k=k: m.records[-1][k]) for k in (
                "target_kw", "planned_kw", "served_kw", "unserved_kw", "plan_deviation_kw",
                "price_eur_mwh", "cost_eur", "iterations")},
            agent_reporters={"site": "name", "power_kw": "power_kw",
                             "planned_kw": "planned_kw",
                             "plan_deviation_kw": "plan_deviation_kw",
                             "stored_kwh": "stored_kwh"},
        )

    @property
    def finished(self) -> bool:
        """True once every step of the scenario has run."""
        return self.step_index >= self.scenario.steps

    def step(self) -> None:
        """Negotiate a new window when one starts, then deliver one step of the plan."""
        if self.finished:
            raise RuntimeError("the scenario has no steps left")
        k = self.step_index
        start_s = k * self.window_s
        self.clock.advance_to(start_s)
        iterations, offset, planned, target, result = self._plan_step(k)
        cleared = self.aggregator.clear_step(k, offset, target)
        ok = self.loop.run_until(lambda: all(s.last_cleared_step == k for s in self.sites),
                                 STEP_TIMEOUT_S)
        if not ok:
            raise TimeoutError(f"step {k} was not delivered within {STEP_TIMEOUT_S} s")
        served = sum(s.power_kw for s in self.sites)
        # the plan each site committed to (its exact final step), where it has one
        planned_sites = [s for s in self.sites if s.planned_kw is not None]
        deviation = sum(s.power_kw - s.planned_kw for s in planned_sites)
        cost = sum(s.cost_eur for s in self.sites)
        self._record_step(
            k, start_s, target=target, planned=planned, served=served, deviation=deviation,
            cost=cost, price=cleared.marginal_price_eur_mwh, iterations=iterations,
            silent=sorted(result.dropped),
            dispatch=[(s.address, s.power_kw, 0.0, s.cost_eur) for s in self.sites])
        self.datacollector.collect(self)
        self.step_index += 1

    def _negotiate(self, k: int, horizon: int) -> int:
        coupling = coupling_for(self.scenario, k, horizon, self.targets, self.prices)
        done_before = [s.negotiations for s in self.sites]
        t0 = time.perf_counter()
        self.aggregator.begin(k, coupling, horizon, self.scenario.dt_h)
        timeout = self._negotiation_timeout_s()
        ok = self.loop.run_until(
            lambda: self.aggregator.done and all(
                s.negotiations > n for s, n in zip(self.sites, done_before)), timeout)
        if not ok:
            raise TimeoutError(f"the ADMM negotiation of step {k} did not end in {timeout} s")
        return self._negotiated(k, horizon, t0)

    def summary(self, wall_s: float | None = None) -> dict:
        """Totals over the steps run, and each negotiation's outcome."""
        gaps = [abs(s.battery_energy_gap_kwh) for s in self.sites
                if s.battery_energy_gap_kwh is not None]
        return {
            **admm_totals(self.scenario, self.records, self.negotiations, gaps,
                          market=self.market, seed=self._seed, sites=len(self.sites)),
            "messages": self.agg_host.stats.sent + self.site_host.stats.sent,
            "dropped": self.agg_host.stats.dropped_total + self.site_host.stats.dropped_total,
            "wall_s": wall_s,
            "out_dir": str(self.out_dir),
        }

def negotiation_outcome(aggregator, k: int, horizon: int, started: float,
                        ) -> tuple[tuple[int, int, AdmmResult, float], float]:
    """A finished negotiation of ``aggregator`` (begun at step ``k``, ``started`` by
    ``time.perf_counter``): its record ``(k, horizon, result, seconds)`` and the
    tolerance its summed plan meets the coupling to, sqrt(N) * eps_pri (kW, 2-norm over
    the steps; 0 unless it converged). A negotiation that did not converge is logged."""
    result = aggregator.results[-1]
    if not result.converged:
        log.warning("ADMM negotiation at step %d did not converge: %s", k, result.reason)
    last = aggregator.negotiation.records[-1] if result.converged else None
    tolerance = math.sqrt(max(last.active, 1)) * last.eps_pri if last is not None else 0.0
    return (k, horizon, result, time.perf_counter() - started), tolerance


def step_record(target: float, planned: float, served: float, deviation: float,
                cost: float, price: float, iterations: int, *, tolerance_kw: float,
                sale_price: float | None, dt_h: float) -> dict:
    """One delivered step of an ADMM run, as ``steps.csv`` has it: what was unserved (none
    when the delivery met the target to the negotiation's primal tolerance) and the cost,
    the portfolio's sales at ``sale_price`` (EUR/MWh, a market coupling) counted as
    revenue."""
    if sale_price is not None:  # the portfolio's sales are revenue: a negative cost
        cost -= sale_price * served * dt_h / 1000.0
    unserved = (max(abs(target) - abs(served), 0.0) if served * target >= 0
                else abs(target))
    if abs(served - target) <= tolerance_kw:
        unserved = 0.0  # met to the negotiation's primal tolerance
    return {"target_kw": target, "planned_kw": planned, "served_kw": served,
            "unserved_kw": unserved, "plan_deviation_kw": deviation,
            "price_eur_mwh": price, "cost_eur": cost, "iterations": iterations}


def admm_totals(scenario: Scenario, records: list[dict],
                negotiations: list[tuple[int, int, AdmmResult, float]], gaps: list[float], *,
                market: bool, seed: int, sites: int) -> dict:
    """The totals of an ADMM run (one process or site processes): energies, gaps, cost,
    and each negotiation's outcome, from the step ``records`` and the ``negotiations``
    (first step, horizon, result, wall seconds); ``gaps`` are the last step's battery
    energy gaps to the plan (kWh, absolute). A negotiation whose target the sites cannot
    meet says ``infeasible`` and, per step of its window, the energy it plans to leave
    unserved (``unserved_kwh_by_step``); ``infeasible`` on the whole run is any of them."""
    dt_h = scenario.dt_h
    recs = records
    dropped: dict[str, str] = {}
    out = []
    for k, horizon, result, seconds in negotiations:
        out.append({
            "step": k, "horizon": horizon, "converged": result.converged,
            "reason": result.reason, "iterations": result.iterations,
            "cost_eur": result.cost_eur, "primal_residual": result.primal_residual,
            "dual_residual": result.dual_residual, "dropped": dict(result.dropped),
            "relaxation_dropped_at": result.relaxation_dropped_at, "wall_s": seconds,
            "infeasible": result.infeasible,
            "unserved_kwh_by_step": (None if result.unserved_kwh is None
                                     else [float(v) for v in result.unserved_kwh])})
        for site, why in result.dropped.items():
            dropped.setdefault(site, f"step {k}: {why}")
    return {
        "scenario": scenario.name,
        "coordination": "admm",
        "coupling": "market" if market else "target",
        "seed": seed,
        "steps": len(recs),
        "sites": sites,
        "target_kwh": sum(abs(r["target_kw"]) for r in recs) * dt_h,
        "planned_kwh": sum(abs(r["planned_kw"]) for r in recs) * dt_h,
        "served_kwh": sum(abs(r["served_kw"]) for r in recs) * dt_h,
        "unserved_kwh": sum(r["unserved_kw"] for r in recs) * dt_h,
        "steps_with_unserved": sum(1 for r in recs if r["unserved_kw"] > 1e-6),
        "max_target_gap_kw": max((abs(r["served_kw"] - r["target_kw"]) for r in recs),
                                 default=0.0),
        "plan_deviation_kwh": sum(abs(r["plan_deviation_kw"]) for r in recs) * dt_h,
        "max_plan_deviation_kw": max((abs(r["plan_deviation_kw"]) for r in recs),
                                     default=0.0),
        "max_battery_energy_gap_kwh": max(gaps, default=None),
        "reserve_shortfall_kwh": 0.0,
        "cost_eur": sum(r["cost_eur"] for r in recs),
        "converged": all(n["converged"] for n in out),
        "infeasible": any(n["infeasible"] for n in out),
        "iterations": sum(n["iterations"] for n in out),
        "negotiations": out,
        "dropped_sites": dropped,
        "declines": 0,
        "rounds": sum(n["iterations"] for n in out),
    }
