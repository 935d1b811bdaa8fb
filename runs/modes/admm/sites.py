"""A scenario site's devices as an ADMM site model, and the ADMM side of a scenario.

ADMM's site model (``coordination/admm/model.py``) holds at most one battery, one
curtailable generator and one load that may shift. Each scenario device maps onto one of
these slots (``docs/scenarios.md``, "Coordination by ADMM"):

- ``battery`` -> the battery (present power limits, efficiencies, SoC window; its
  ``cost_eur_mwh`` is paid per MWh of throughput, charge plus discharge);
- ``pv``, ``wind`` -> the generator: the forecast is its availability, ``cost_eur_mwh`` its
  fuel cost, ``admm.curtailment_eur_mwh`` the cost of what it spills;
- ``flexible`` with ``p_min_kw = 0`` -> the generator (availability = ``p_max_kw`` times its
  availability), at ``cost_eur_mwh``;
- ``curtailable-load`` -> a fixed load of its demand plus the generator: the part it may
  shed, priced at its value of lost load;
- ``shiftable-load``, ``ev`` -> the flexible load: at most its power while the window is
  open, the energy it must take within the horizon, discomfort
  ``admm.discomfort_eur_kw2h`` away from an even spread;
- ``load`` -> fixed consumption added to the load slot.

A device that has no slot (a second battery, a second generator-like or shifting device, a
``flexible`` device that absorbs) is an error naming ``$.sites[i].devices[j]`` and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from vpp.agents.admm.dispatch import SitePlan
from vpp.agents.dispatch.devices import SiteDevice
from vpp.coordination.admm.model import (
    WEAR_EUR_KW2H,
    AdmmFlexibleLoad,
    AdmmGenerator,
    MarketCoupling,
    SiteModel,
    TargetCoupling,
)
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.physics.battery import BatteryParams
from vpp.runs.scenario.devices import (
    BatterySpec,
    CurtailableLoadSpec,
    DeviceSpec,
    EVSpec,
    FlexibleSpec,
    LoadSpec,
    PVSpec,
    ShiftableLoadSpec,
    WindSpec,
)

SLOT_BATTERY, SLOT_GENERATOR, SLOT_SHIFT, SLOT_FIXED = "battery", "generator", "shift", "fixed"


def device_slot(spec: DeviceSpec) -> str:
    """The ADMM site model's slot for ``spec``; ``ValueError`` says why there is none."""
    if isinstance(spec, BatterySpec):
        if spec.cost_eur_mwh is not None and spec.cost_eur_mwh < 0:
            raise ValueError("ADMM pays a battery's cost_eur_mwh per MWh of throughput: "
                             "it must be >= 0")
        return SLOT_BATTERY
    if isinstance(spec, FlexibleSpec):
        if spec.p_min_kw < 0:
            raise ValueError("a flexible device that absorbs (p_min_kw < 0) has no ADMM "
                             "model: ADMM's generator only injects (model a store as a "
                             "battery, or use coordination: merit_order)")
        return SLOT_GENERATOR
    if isinstance(spec, (PVSpec, WindSpec, CurtailableLoadSpec)):
        return SLOT_GENERATOR
    if isinstance(spec, (ShiftableLoadSpec, EVSpec)):
        return SLOT_SHIFT
    if isinstance(spec, LoadSpec):
        return SLOT_FIXED
    raise ValueError(f"device type {type(spec).__name__} has no ADMM model")


_SLOT_TEXT = {SLOT_BATTERY: "one battery",
              SLOT_GENERATOR: "one generator-like device (pv, wind, flexible, curtailable-load)",
              SLOT_SHIFT: "one shifting load (shiftable-load, ev)"}


def site_slots(devices: Sequence[DeviceSpec]) -> list[tuple[int, str | None, str]]:
    """``(j, slot, why)`` per device: ``slot`` None when device ``j`` cannot be modelled."""
    out: list[tuple[int, str | None, str]] = []
    taken: dict[str, int] = {}
    for j, spec in enumerate(devices):
        try:
            slot = device_slot(spec)
        except ValueError as exc:
            out.append((j, None, str(exc)))
            continue
        if slot != SLOT_FIXED and slot in taken:
            why = (f"ADMM's site model holds {_SLOT_TEXT[slot]}; this site has one already "
                   f"(devices[{taken[slot]}]): put this device in a site of its own")
            out.append((j, None, why))
            continue
        taken.setdefault(slot, j)
        out.append((j, slot, ""))
    return out


def check_admm_scenario(scenario, fail: Callable[[str, str], None]) -> None:
    """The checks of a scenario with ``coordination: admm``; ``fail(path, message)``."""
    spec = scenario.admm
    reserve = scenario.reserve_kw
    if (any(r > 0 for r in reserve) if isinstance(reserve, list) else reserve > 0):
        fail("reserve_kw", "ADMM's coupling holds no reserve: set reserve_kw to 0 or use "
                           "coordination: merit_order")
    for i, site in enumerate(scenario.sites):
        if site.strategy != "marginal-cost":
            fail(f"sites[{i}].strategy", "a bidding strategy has no role in ADMM (sites "
                                         "answer with their cost-minimal schedules)")
        for j, slot, why in site_slots(site.devices):
            if slot is None:
                fail(f"sites[{i}].devices[{j}]", why)
    if spec is None:
        return
    if spec.coupling == "market":
        if scenario.target is not None:
            fail("target", "`coupling: market` sells the net position at `prices`: leave "
                           "`target` out")
        if spec.prices is None:
            fail("admm.prices", "Expected prices for `coupling: market`")
        for name in ("import_max_kw", "export_max_kw"):
            if getattr(spec, name) is None:
                fail(f"admm.{name}", "Expected a limit (kW) for `coupling: market`")
    elif spec.prices is not None or spec.import_max_kw is not None \
            or spec.export_max_kw is not None:
        fail("admm.prices", "prices and import/export limits belong to `coupling: market`")
    if spec.prices is not None:
        from vpp.runs.scenario.prices import check_price_values

        check_price_values(spec.prices, scenario.steps, "admm.prices", fail)


def admm_settings(scenario) -> AdmmSettings:
    """The negotiation's settings from the scenario's ``admm`` section (or the defaults)."""
    from vpp.runs.scenario import AdmmSpec

    spec = scenario.admm or AdmmSpec()
    return AdmmSettings(rho=spec.rho, eps_abs=spec.eps_abs, eps_rel=spec.eps_rel,
                        max_iterations=spec.max_iterations, relaxation=spec.relaxation,
                        deadline_ms=spec.deadline_ms)


def window_steps(scenario) -> int:
    """Steps per ADMM window (the whole scenario unless ``admm.window_steps`` says less)."""
    spec = scenario.admm
    if spec is None or spec.window_steps is None:
        return scenario.steps
    return min(spec.window_steps, scenario.steps)


def price_series(scenario, scenario_path: Path | None = None) -> list[float] | None:
    """The market prices per step (EUR/MWh) of ``coupling: market``; None otherwise."""
    from vpp.runs.scenario.prices import step_prices

    spec = scenario.admm
    if spec is None or spec.prices is None:
        return None
    return step_prices(spec.prices, scenario, scenario_path, "admm.prices")


def coupling_for(scenario, start: int, horizon: int, targets: Sequence[float],
                 prices: Sequence[float] | None) -> TargetCoupling | MarketCoupling:
    """The aggregator's coupling over steps ``start`` .. ``start + horizon - 1``."""
    spec = scenario.admm
    window = slice(start, start + horizon)
    if spec is not None and spec.coupling == "market":
        assert prices is not None
        return MarketCoupling(tuple(prices[window]), float(spec.import_max_kw),
                              float(spec.export_max_kw))
    return TargetCoupling(tuple(float(v) for v in targets[window]))


class SitePlanner:
    """Builds one scenario site's :class:`SitePlan` from its devices' live state.

    Args:
        name: the site's name.
        specs: its devices' scenario specs (already checked by :func:`site_slots`).
        devices: the devices built from them, in the same order.
        dt_h: the step length in hours.
        options: the scenario's ``admm`` section.
    """

    def __init__(self, name: str, specs: Sequence[DeviceSpec], devices: Sequence[SiteDevice],
                 dt_h: float, options) -> None:
        self.name = name
        self.dt_h = dt_h
        self.options = options
        self.slots: dict[str, SiteDevice] = {}
        self.fixed: list[SiteDevice] = []
        self.kinds: dict[str, DeviceSpec] = {}
        for (j, slot, why), spec, device in zip(site_slots(specs), specs, devices):
            if slot is None:
                raise ValueError(why)
            self.kinds[device.name] = spec
            if slot == SLOT_FIXED:
                self.fixed.append(device)
            else:
                self.slots[slot] = device

    def __call__(self, horizon: int) -> SitePlan:
        """The site's plan for the next ``horizon`` steps."""
        dt, opts = self.dt_h, self.options
        battery = generator = load = None
        pinned = np.zeros(horizon)  # consumption that does not move (kW, positive)
        for device in self.fixed:
            pinned += -np.asarray(device.model.flexibility(horizon, dt).p_min_kw)
        bat = self.slots.get(SLOT_BATTERY)
        if bat is not None:
            model = bat.model
            p = model.params
            flex = model.flexibility(1, dt)
            soc = min(max(model.soc, p.soc_min), p.soc_max)
            # the same battery at its present state (capacity, live power limits, charge)
            battery = BatteryParams(
                capacity_kwh=model.capacity_kwh, p_charge_max_kw=-flex.p_min_kw[0],
                p_discharge_max_kw=flex.p_max_kw[0], eta_c=p.eta_c, eta_d=p.eta_d,
                soc_min=p.soc_min, soc_max=p.soc_max, soc_init=soc,
                soc_final_min=soc if opts.keep_state_of_charge else p.soc_min,
                degradation_eur_mwh=bat.cost_eur_mwh, wear_eur_kw2h=WEAR_EUR_KW2H)
        gen = self.slots.get(SLOT_GENERATOR)
        shed_demand = None
        if gen is not None:
            flex = gen.model.flexibility(horizon, dt)
            spec = self.kinds[gen.name]
            if isinstance(spec, CurtailableLoadSpec):
                shed_demand = -np.asarray(flex.p_min_kw)
                floor = -np.asarray(flex.p_max_kw)  # what it consumes when fully shed
                pinned += shed_demand
                generator = AdmmGenerator(tuple(float(v) for v in shed_demand - floor),
                                          fuel_eur_mwh=gen.cost_eur_mwh, curtail_quad=0.0)
            elif isinstance(spec, (PVSpec, WindSpec)):
                generator = AdmmGenerator(tuple(float(v) for v in flex.p_max_kw),
                                          fuel_eur_mwh=gen.cost_eur_mwh,
                                          curtail_eur_mwh=opts.curtailment_eur_mwh)
            else:  # a dispatchable unit: nothing is spilled when it stays off
                generator = AdmmGenerator(tuple(float(v) for v in flex.p_max_kw),
                                          fuel_eur_mwh=gen.cost_eur_mwh, curtail_quad=0.0)
        shift = self.slots.get(SLOT_SHIFT)
        if shift is not None or self.fixed or shed_demand is not None:
            top = np.zeros(horizon)
            spread = np.zeros(horizon)
            if shift is not None:
                flex = shift.model.flexibility(horizon, dt)
                top = -np.asarray(flex.p_min_kw)
                # the energy it must take within the horizon (all that is left when its
                # window closes inside it)
                total = max(-flex.e_max_kwh[-1], 0.0) / dt
                if top.sum() > 0:
                    spread = total * top / top.sum()
            load = AdmmFlexibleLoad(
                baseline_kw=tuple(float(v) for v in pinned + spread),
                min_kw=tuple(float(v) for v in pinned),
                max_kw=tuple(float(v) for v in pinned + top),
                discomfort_quad=opts.discomfort_eur_kw2h)
        model = SiteModel(self.name, horizon, dt, battery, generator, load)
        return SitePlan(model, self._setpoints(pinned, shed_demand),
                        bat.name if bat is not None else None)

    def _setpoints(self, pinned: np.ndarray, shed_demand: np.ndarray | None,
                   ) -> Callable[[Mapping[str, np.ndarray], int], dict[str, float]]:
        """Device set-points from a solution; ``shed_demand`` is a curtailable load's own
        demand when it holds the generator slot (its set-point is demand minus shed)."""
        bat = self.slots.get(SLOT_BATTERY)
        gen = self.slots.get(SLOT_GENERATOR)
        shift = self.slots.get(SLOT_SHIFT)
        fixed = [d.name for d in self.fixed]

        def setpoints(parts: Mapping[str, np.ndarray], t: int) -> dict[str, float]:
            out = {name: 0.0 for name in fixed}  # a fixed load ignores its set-point
            if bat is not None:
                out[bat.name] = float(parts["discharge"][t] - parts["charge"][t])
            if gen is not None:
                g = float(parts["generation"][t])
                out[gen.name] = g if shed_demand is None else -(float(shed_demand[t]) - g)
            if shift is not None:
                out[shift.name] = -float(parts["load"][t] - pinned[t])
            return out

        return setpoints
