"""The local swarm: a ``mesa.Model`` that hosts the aggregator and the sites and steps time.

Two hosts live in this process, ``agg`` (the aggregator) and ``sites`` (every site), wired
over ``inproc://``: each aggregator-site message crosses ZeroMQ and is traced. Each step the
model moves the simulated clock, the aggregator negotiates the step's target, the sites
run their devices at the outcome, and a ``DataCollector`` records the step.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import mesa
import zmq
from vpp.agents.kinds import default_registry
from vpp.agents.merit_order.aggregator import AggregatorAgent
from vpp.agents.merit_order.site import SiteAgent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.runs.fleet.devices import build_devices
from vpp.runs.fleet.strategies import site_strategies
from vpp.runs.scenario import Scenario, reserve_series, step_times, target_series

log = logging.getLogger(__name__)

_RUN_IDS = itertools.count()
STEP_TIMEOUT_S = 60.0


def build_site_devices(scenario: Scenario, where: str):
    """The devices of every site (``count`` expanded), built before anything else so that
    a bad value fails the run cleanly; errors name the field path."""
    times = step_times(scenario)
    return iter([build_devices(scenario, i, times, where)
                 for i, spec in enumerate(scenario.sites) for _ in range(spec.count)])


class SiteMember(mesa.Agent):
    """The mesa face of a site agent: what the DataCollector reads each step."""

    def __init__(self, model: SwarmModel, site: SiteAgent) -> None:
        super().__init__(model)
        self.site = site

    @property
    def name(self) -> str:
        """The site's name."""
        return self.site.name

    @property
    def power_kw(self) -> float:
        """The power the site ran in the last step."""
        return self.site.power_kw

    @property
    def reserve_kw(self) -> float:
        """The reserve the site held in the last step."""
        return self.site.reserve_kw

    @property
    def stored_kwh(self) -> float:
        """Energy in the site's stores."""
        return sum(getattr(d.model, "energy_kwh", 0.0) for d in self.site.devices)


def merit_order_totals(outs: list, dt_h: float) -> dict:
    """The energy, cost and negotiation totals of a merit-order run's step outcomes."""
    return {
        "target_kwh": sum(abs(o.target_kw) for o in outs) * dt_h,
        "served_kwh": sum(abs(o.served_kw) for o in outs) * dt_h,
        "unserved_kwh": sum(o.unserved_kw for o in outs) * dt_h,
        "steps_with_unserved": sum(1 for o in outs if o.unserved_kw > 0),
        "reserve_shortfall_kwh": sum(o.reserve_target_kw - o.reserve_served_kw
                                     for o in outs) * dt_h,
        "cost_eur": sum(o.cost_eur for o in outs),
        "declines": sum(len(o.declined) for o in outs),
        "rounds": sum(o.rounds for o in outs),
    }


class LocalSwarm(mesa.Model):
    """What every one-process swarm shares: run the steps, write the outputs, close.

    A subclass provides ``step``, ``finished``, ``step_index``, ``summary``, the hosts
    (``agg_host``, ``site_host``), ``trace``, ``context``, ``datacollector`` and ``out_dir``.
    """

    def open_hosts(self, scenario: Scenario, seed: int, **meta) -> None:
        """Set up what every one-process swarm runs on: the simulated clock at the
        scenario's start, a ZeroMQ context, the trace shard (``local``, with ``meta``), and
        the aggregator's and the sites' hosts on ``inproc://``, connected both ways."""
        self.window_s = scenario.step_minutes * 60.0
        self.step_index = 0
        self.clock = SimulatedClock(scenario.start)
        self.context = zmq.Context()
        self.trace = TraceRecorder(shard_path(self.out_dir, "local"), "local")
        self.trace.set_meta(scenario=scenario.name, seed=seed, steps=scenario.steps,
                            step_minutes=scenario.step_minutes, start=scenario.start.isoformat(),
                            processes=1, **meta)
        run = f"vpp-{id(self)}-{next(_RUN_IDS)}"
        common = {"context": self.context, "clock": self.clock,
                  "registry": default_registry(), "trace": self.trace}
        self.agg_host = Host("agg", f"inproc://{run}-agg", pub_endpoint=f"inproc://{run}-pub",
                             **common)
        self.site_host = Host("sites", f"inproc://{run}-sites", **common)
        self.agg_host.connect("sites", self.site_host.endpoint)
        self.site_host.connect("agg", self.agg_host.endpoint, self.agg_host.pub_endpoint)

    def run(self, progress: Callable[[int], None] | None = None) -> dict:
        """Run every remaining step, write the results, return the summary."""
        t0 = time.perf_counter()
        while not self.finished:
            self.step()
            if progress is not None:
                progress(self.step_index)
        summary = self.summary(wall_s=time.perf_counter() - t0)
        self.write_results(summary)
        return summary

    def write_results(self, summary: dict) -> None:
        """Write ``summary.json``, ``steps.csv`` and ``sites.csv`` into the run directory."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        model = self.datacollector.get_model_vars_dataframe()
        model.index.name = "step"
        model.to_csv(self.out_dir / "steps.csv")
        self.datacollector.get_agent_vars_dataframe().to_csv(self.out_dir / "sites.csv")

    def close(self) -> None:
        """Close the hosts, the trace shard and the ZeroMQ context."""
        self.agg_host.close()
        self.site_host.close()
        self.trace.close()
        self.context.term()


class SwarmModel(LocalSwarm):
    """A scenario run in one process.

    Args:
        scenario: the validated scenario.
        out_dir: the run's directory (trace shards, time series, summary).
        scenario_path: the scenario file, to resolve the paths it names.
        seed: overrides the scenario's seed.
        allow_plugins: build ``module:Class`` strategies (``--allow-plugins``); without
            it only the built-ins and registered entry points load.
    """

    def __init__(self, scenario: Scenario, out_dir: Path | str, *,
                 scenario_path: Path | None = None, seed: int | None = None,
                 allow_plugins: bool = False) -> None:
        seed = scenario.seed if seed is None else seed
        super().__init__(seed=seed)
        self.scenario = scenario
        self.out_dir = Path(out_dir)
        self.allow_plugins = allow_plugins
        # with a market, the cleared position is the target (set once the hosts are up)
        self.targets = target_series(scenario, scenario_path) if scenario.market is None else []
        self.reserves = reserve_series(scenario)
        strategies = iter(site_strategies(scenario, str(scenario_path or scenario.name),
                                          allow_import=allow_plugins))
        devices = build_site_devices(scenario, str(scenario_path or scenario.name))
        self.open_hosts(scenario, seed)
        self.sites: list[SiteAgent] = []
        streams = self.rng.spawn(len(scenario.site_names()))
        names = iter(scenario.site_names())
        for spec in scenario.sites:
            for _ in range(spec.count):
                site = SiteAgent(next(names), next(devices), next(strategies),
                                 dt_h=scenario.dt_h, outage_probability=spec.outage_probability,
                                 rng=streams[len(self.sites)])
                self.site_host.add(site)
                self.sites.append(site)
                SiteMember(self, site)
        self.aggregator = AggregatorAgent(
            "aggregator", [s.address for s in self.sites],
            deadline_ms=scenario.negotiation.deadline_ms,
            max_rounds=scenario.negotiation.max_rounds)
        self.agg_host.add(self.aggregator)
        self.loop = EventLoop(self.agg_host, self.site_host)
        self.loop.run_once(0.0)  # let the subscriptions reach the publisher
        self.day_ahead = None
        if scenario.market is not None:
            from vpp.runs.modes.merit_order.market import sell_day_ahead

            self.day_ahead = sell_day_ahead(self, scenario_path)
            self.targets = self.day_ahead.targets_kw
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "target_kw": lambda m: m.last.target_kw,
                "served_kw": lambda m: m.last.served_kw,
                "unserved_kw": lambda m: m.last.unserved_kw,
                "reserve_target_kw": lambda m: m.last.reserve_target_kw,
                "reserve_served_kw": lambda m: m.last.reserve_served_kw,
                "marginal_price_eur_mwh": lambda m: m.last.marginal_price_eur_mwh,
                "cost_eur": lambda m: m.last.cost_eur,
                "rounds": lambda m: m.last.rounds,
                "declined": lambda m: len(m.last.declined),
            },
            agent_reporters={"site": "name", "power_kw": "power_kw",
                             "reserve_kw": "reserve_kw", "stored_kwh": "stored_kwh"},
        )

    @property
    def last(self):
        """The outcome of the last step."""
        return self.aggregator.outcomes[-1]

    @property
    def finished(self) -> bool:
        """True once every step of the scenario has run."""
        return self.step_index >= self.scenario.steps

    def step(self) -> None:
        """Negotiate and run one step."""
        if self.finished:
            raise RuntimeError("the scenario has no steps left")
        k = self.step_index
        start_s = k * self.window_s
        self.clock.advance_to(start_s)
        self.aggregator.begin_step(k, start_s, self.window_s, self.targets[k], self.reserves[k])
        ok = self.loop.run_until(self._step_finished(k), STEP_TIMEOUT_S)
        if not ok:
            raise TimeoutError(f"step {k} did not finish within {STEP_TIMEOUT_S} s")
        self.trace.flush()
        self.datacollector.collect(self)
        self.step_index += 1

    def _step_finished(self, k: int) -> Callable[[], bool]:
        """A check that step ``k`` is negotiated and every site has run it (each site is
        looked at until it has, not on every pass of the loop)."""
        sites, seen = self.sites, 0

        def finished() -> bool:
            nonlocal seen
            if not self.aggregator.step_done:
                return False
            while seen < len(sites) and sites[seen].last_cleared_step == k:
                seen += 1
            return seen == len(sites)

        return finished

    def summary(self, wall_s: float | None = None) -> dict:
        """Totals over the steps run: energy asked for, served and unserved, cost, messages."""
        dt_h = self.scenario.dt_h
        outs = self.aggregator.outcomes
        return {
            "scenario": self.scenario.name,
            "coordination": "merit_order",
            "seed": self._seed,
            "steps": len(outs),
            "sites": len(self.sites),
            **merit_order_totals(outs, dt_h),
            "messages": self.agg_host.stats.sent + self.site_host.stats.sent,
            "dropped": self.agg_host.stats.dropped_total + self.site_host.stats.dropped_total,
            "wall_s": wall_s,
            "out_dir": str(self.out_dir),
            **(self.day_ahead.summary(sum(o.cost_eur for o in outs))
               if self.day_ahead is not None else {}),
        }


def build_swarm(scenario: Scenario, out_dir: Path | str, *, scenario_path: Path | None = None,
                seed: int | None = None, allow_plugins: bool = False):
    """The local swarm of ``scenario``'s coordination: a :class:`SwarmModel` (merit order)
    or an :class:`~runs.admm_swarm.AdmmSwarmModel` (``coordination: admm``, which has no
    plug-ins). ``allow_plugins``: ``module:Class`` strategies may load."""
    if scenario.coordination == "admm":
        from vpp.runs.modes.admm.swarm import AdmmSwarmModel

        return AdmmSwarmModel(scenario, out_dir, scenario_path=scenario_path, seed=seed)
    return SwarmModel(scenario, out_dir, scenario_path=scenario_path, seed=seed,
                      allow_plugins=allow_plugins)
