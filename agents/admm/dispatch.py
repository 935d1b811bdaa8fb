"""ADMM agents that deliver what they negotiated: plan over a window, then run the devices.

:class:`AdmmDispatchSite` builds its private ADMM model from its devices' live state when
a negotiation starts (round 0), answers the rounds like any
:class:`~agents.admm.AdmmSiteAgent`, keeps its exact final device schedules, and runs its
physics devices at them step by step when the aggregator broadcasts ``StepCleared``.
:class:`AdmmDispatchAggregator` announces each planned step. The sequence:
``docs/protocols/admm.md`` ("In a scenario run").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from vpp.agents.admm.negotiation import AdmmAggregatorAgent, AdmmSiteAgent
from vpp.agents.dispatch.devices import SiteDevice
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.admm.costs import step_costs_eur
from vpp.coordination.admm.messages import AdmmDone, AdmmRound
from vpp.coordination.admm.model import SiteModel
from vpp.coordination.admm.site import DIRECT, AdmmSiteSolver
from vpp.coordination.dispatch import DISPATCH_TOPIC, Applied, StepCleared
from vpp.physics.battery import Battery
from vpp.physics.loads import EVCharger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SitePlan:
    """A site's private ADMM model for one window, and how a solution drives its devices.

    ``setpoints(parts, t)`` maps the solution's device schedules (``charge``,
    ``discharge``, ``generation``, ``load``; kW) at step ``t`` of the window to a set-point
    per device name (kW, + injection). ``battery`` names the device whose stored energy
    the plan's ``energy`` schedule describes (None without one).
    """

    model: SiteModel
    setpoints: Callable[[Mapping[str, np.ndarray], int], dict[str, float]]
    battery: str | None = None


Planner = Callable[[int], SitePlan]
"""Builds a site's plan for the next ``horizon`` steps from its devices' present state;
raises ``ValueError`` (naming the field) when the state has no valid model."""


class AdmmDispatchSite(AdmmSiteAgent):
    """A site that plans by ADMM and then runs its devices at the plan.

    A forced outage is drawn at the start of each negotiation (probability
    ``outage_probability``, the site's own seeded generator): a tripped site answers
    nothing, is dropped at the round's deadline, and runs its devices at their baselines
    through the window, as does a site that was dropped for any other reason.

    Args:
        name: the site's name.
        devices: its devices (physics models with prices).
        planner: builds its :class:`SitePlan` for a horizon (from the devices' live state).
        horizon: the first window's length (its plan, and its local solver, are built now).
        dt_h: the step length in hours.
        outage_probability: the chance of a trip per negotiation.
        rng: the site's random generator (seeded by the swarm).
    """

    def __init__(self, name: str, devices: Sequence[SiteDevice], planner: Planner, *,
                 horizon: int, dt_h: float, outage_probability: float = 0.0,
                 rng: np.random.Generator | None = None) -> None:
        plan = planner(horizon)
        super().__init__(name, plan.model, solver=DIRECT)
        self.devices = list(devices)
        self.planner = planner
        self.plan = plan
        self.dt_h = dt_h
        self.outage_probability = outage_probability
        self.rng = rng or np.random.default_rng(0)
        self.tripped = False
        self.negotiations = 0
        self.power_kw = 0.0
        self.reserve_kw = 0.0
        self.planned_kw: float | None = None
        self.cost_eur = 0.0
        self.device_power_kw: dict[str, float] = {d.name: 0.0 for d in self.devices}
        self.battery_energy_gap_kwh: float | None = None
        self.last_cleared_step = -1
        self._fresh = True
        self._parts: dict[str, np.ndarray] | None = None
        self._schedule: np.ndarray | None = None
        self._costs: np.ndarray | None = None
        self._t = 0
        self.on(StepCleared, self._on_cleared)

    def started(self) -> None:
        """Listen to the aggregator's step announcements."""
        self.host.subscribe(self, DISPATCH_TOPIC)

    @property
    def stored_kwh(self) -> float:
        """Energy in the site's stores: batteries and vehicles (a shiftable load's
        ``energy_kwh`` is what it must consume, not a store)."""
        return float(sum(d.model.energy_kwh for d in self.devices
                         if isinstance(d.model, (Battery, EVCharger))))

    def applied(self, step: int) -> Applied:
        """What the site ran in ``step`` (its last), the power its plan held for it (None
        at its baselines), the plan's private cost of the step and its battery's energy
        minus the plan's."""
        return Applied(step, self.power_kw, 0.0, self.stored_kwh, planned_kw=self.planned_kw,
                       cost_eur=self.cost_eur,
                       battery_energy_gap_kwh=self.battery_energy_gap_kwh)

    def skip_step(self) -> None:
        """Run one step that never came at the devices' baselines (it counts against the
        plan's window)."""
        for device in self.devices:
            device.run(device.offer(self.dt_h).baseline_kw, self.dt_h)
        self._t += 1

    def _on_round(self, envelope: Envelope, msg: AdmmRound) -> None:
        if msg.round == 0:
            self.tripped = (self.outage_probability > 0
                            and bool(self.rng.random() < self.outage_probability))
            if self.tripped:
                self.log.info("site %s: forced outage, silent in %s", self.name,
                         envelope.conversation)
                return
            if not self._fresh or self.plan.model.horizon != msg.horizon:
                try:
                    self.plan = self.planner(msg.horizon)
                except ValueError as exc:
                    # no answer: the aggregator drops this site at the deadline
                    self.log.warning("site %s cannot plan %s: %s", self.name,
                                envelope.conversation, exc)
                    self.tripped = True
                    return
                self.model = self.plan.model
                self.solver = AdmmSiteSolver(self.model, DIRECT)
            self._fresh = False
        elif self.tripped:
            return
        super()._on_round(envelope, msg)

    def _on_done(self, envelope: Envelope, msg: AdmmDone) -> None:
        super()._on_done(envelope, msg)
        self.negotiations += 1
        self._t = 0
        solution = self.solver.last_solution
        if msg.included and solution is not None and not self.tripped:
            self._parts = solution.parts
            self._schedule = solution.schedule_kw
            self._costs = step_costs_eur(self.model, solution.parts, solution.schedule_kw)
        else:
            self._parts = self._schedule = self._costs = None

    def _on_cleared(self, envelope: Envelope, cleared: StepCleared) -> None:
        t = self._t
        self._t += 1
        parts = self._parts
        if parts is not None and t < self.model.horizon:
            setpoints = self.plan.setpoints(parts, t)
            self.planned_kw = float(self._schedule[t])
            self.cost_eur = float(self._costs[t])
        else:  # not in the plan (dropped, or past its window): the baselines
            setpoints = {d.name: d.offer(self.dt_h).baseline_kw for d in self.devices}
            self.planned_kw = None
            self.cost_eur = 0.0
        self.power_kw = 0.0
        for d in self.devices:
            ran = d.run(setpoints[d.name], self.dt_h)
            self.device_power_kw[d.name] = ran
            self.power_kw += ran
        self.battery_energy_gap_kwh = None
        if parts is not None and t < self.model.horizon and self.plan.battery is not None:
            battery = next(d for d in self.devices if d.name == self.plan.battery)
            self.battery_energy_gap_kwh = float(battery.model.energy_kwh
                                                - parts["energy"][t + 1])
        self.last_cleared_step = cleared.step


class AdmmDispatchAggregator(AdmmAggregatorAgent):
    """An ADMM aggregator that says each planned step's outcome (``StepCleared``, which the
    run's placement delivers to the sites), after which they run their devices at the
    plan."""

    def cleared(self, step: int, offset: int, target_kw: float) -> StepCleared:
        """The ``StepCleared`` of absolute ``step``, step ``offset`` of the last
        negotiation's window (the run's placement delivers it). ``served_kw`` is the
        planned total of the sites still included; ``unserved_kw`` what of ``|target_kw|``
        it leaves; the price is the negotiated one of that step."""
        if not self.results or self.negotiation is None or not self.negotiation.done:
            raise RuntimeError("no finished ADMM negotiation to dispatch")
        result = self.results[-1]
        planned = float(sum(x[offset] for x in result.schedules_kw.values()))
        price = float(result.price_eur_mwh[offset])
        return StepCleared(step, target_kw, planned,
                           max(abs(target_kw) - abs(planned), 0.0) if planned * target_kw >= 0
                           else abs(target_kw),
                           price if math.isfinite(price) else None)
