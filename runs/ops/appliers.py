"""Which scenario fields a running swarm can take live, and how each is applied.

An applier lists live-changeable path prefixes (any list index written ``[]``) and
applies a validated scenario's changes to its running objects; every other change needs
a restart (topology, transport, keys, the horizon, the device types...).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vpp.agents.ops.messages import FieldChange
from vpp.agents.ops.reload import indices, matches
from vpp.runs.scenario import Scenario, ScenarioError, reserve_series, target_series
from vpp.runs.scenario.devices import FlexibleSpec

Apply = Callable[[FieldChange, Scenario], None]


def _spec_sites(scenario: Scenario, sites: Sequence[Any]) -> list[list[Any]]:
    """The running site objects of each ``scenario.sites[i]`` (``count`` expanded)."""
    by_name = {s.name: s for s in sites}
    out = []
    for spec in scenario.sites:
        out.append([by_name[n] for n in spec.names() if n in by_name])
    return out


class Applier:
    """Live rules: (path prefix, how to apply a change under it)."""

    def __init__(self) -> None:
        self.rules: list[tuple[str, Apply]] = []

    @property
    def live_prefixes(self) -> list[str]:
        """The prefixes of the fields that can change live."""
        return [prefix for prefix, _ in self.rules]

    def live(self, change: FieldChange, scenario: Scenario) -> bool:
        """True when ``change`` lies under a live prefix (and so can be applied)."""
        return any(matches(change.path, p) for p in self.live_prefixes)

    def prepare(self, changes: Sequence[FieldChange], scenario: Scenario) -> None:
        """Compute, off the run's thread, what applying ``changes`` needs (files read,
        strategies built); raise :class:`~runs.scenario.ScenarioError` naming the field
        when it cannot be done, so that the edit is rejected before anything changes."""

    def apply(self, changes: Sequence[FieldChange], scenario: Scenario) -> None:
        """Apply each change by the first rule whose prefix it lies under."""
        for change in changes:
            for prefix, fn in self.rules:
                if matches(change.path, prefix):
                    fn(change, scenario)
                    break


class SwarmApplier(Applier):
    """Live fields of a merit-order run whose sites are in this process
    (:class:`~vpp.runs.modes.merit_order.mode.MeritOrderRun`).

    Targets and reserve (from the next step on), the negotiation's deadline and rounds,
    each site's outage probability and strategy (``use`` and ``params``), each device's
    prices, and the power limits of flexible units.
    """

    def __init__(self, model, scenario_path: Path | None) -> None:
        super().__init__()
        self.model = model
        self.scenario_path = scenario_path
        self.rules = [
            ("$.description", lambda c, s: None),
            ("$.target", self._target),
            ("$.reserve_kw", lambda c, s: setattr(model, "reserves", reserve_series(s))),
            ("$.negotiation.deadline_ms",
             lambda c, s: setattr(model.aggregator, "deadline_ms", s.negotiation.deadline_ms)),
            ("$.negotiation.max_rounds",
             lambda c, s: setattr(model.aggregator, "max_rounds", s.negotiation.max_rounds)),
            ("$.sites[].outage_probability", self._outage),
            ("$.sites[].strategy", self._strategy),
            ("$.sites[].devices[].cost_eur_mwh", self._device_attr("cost_eur_mwh")),
            ("$.sites[].devices[].absorb_price_eur_mwh",
             self._device_attr("absorb_price_eur_mwh")),
            ("$.sites[].devices[].p_max_kw", self._flexible_limit("p_max_kw")),
            ("$.sites[].devices[].p_min_kw", self._flexible_limit("p_min_kw")),
        ]

    def live(self, change: FieldChange, scenario: Scenario) -> bool:
        """True when ``change`` can be applied to this swarm (a power limit only on a
        flexible unit, whose model keeps it as a plain attribute)."""
        if matches(change.path, "$.sites[].devices[].p_max_kw") or matches(
                change.path, "$.sites[].devices[].p_min_kw"):
            i, j = indices(change.path)[:2]
            return isinstance(scenario.sites[i].devices[j], FlexibleSpec)
        return super().live(change, scenario)

    def prepare(self, changes: Sequence[FieldChange], scenario: Scenario) -> None:
        """Read a changed target profile and build changed strategies now."""
        from vpp.runs.fleet.strategies import PluginError, make_strategy

        self._prepared: dict[str, object] = {}
        if any(matches(c.path, "$.target") for c in changes):
            self._prepared["targets"] = target_series(scenario, self.scenario_path)
        for i in sorted({indices(c.path)[0] for c in changes
                         if matches(c.path, "$.sites[].strategy")}):
            spec = scenario.sites[i].strategy
            ref, params = (spec, {}) if isinstance(spec, str) else (spec.use, spec.params)
            try:
                allow = self.model.allow_plugins  # the run's own --allow-plugins
                self._prepared[f"strategy{i}"] = [make_strategy(ref, params, allow_import=allow)
                                                  for _ in self._sites(scenario, i)]
            except PluginError as exc:
                raise ScenarioError(f"{exc} - at `$.sites[{i}].strategy`") from None

    def _target(self, change: FieldChange, scenario: Scenario) -> None:
        self.model.targets = self._prepared["targets"]

    def _sites(self, scenario: Scenario, i: int) -> list:
        return _spec_sites(scenario, self.model.sites)[i]

    def _outage(self, change: FieldChange, scenario: Scenario) -> None:
        i = indices(change.path)[0]
        for site in self._sites(scenario, i):
            site.outage_probability = scenario.sites[i].outage_probability

    def _strategy(self, change: FieldChange, scenario: Scenario) -> None:
        i = indices(change.path)[0]
        for site, strategy in zip(self._sites(scenario, i), self._prepared[f"strategy{i}"]):
            site.strategy = strategy

    def _device_attr(self, attr: str) -> Apply:
        def apply(change: FieldChange, scenario: Scenario) -> None:
            i, j = indices(change.path)[:2]
            for site in self._sites(scenario, i):
                setattr(site.devices[j], attr, float(change.new))
        return apply

    def _flexible_limit(self, attr: str) -> Apply:
        def apply(change: FieldChange, scenario: Scenario) -> None:
            i, j = indices(change.path)[:2]
            for site in self._sites(scenario, i):
                setattr(site.devices[j].model, attr, float(change.new))
        return apply


class FrequencyApplier(Applier):
    """Live fields of frequency-responsive sites: each response group's service (droop
    or trigger settings, or a preset name) and its contracted power, from the next
    frequency sample on."""

    def __init__(self, sites: Sequence[Any]) -> None:
        super().__init__()
        self.sites = list(sites)
        self.rules = [
            ("$.description", lambda c, s: None),
            ("$.grid.response[].service", self._service),
            ("$.grid.response[].contracted_kw", self._contracted),
        ]

    def _group_sites(self, scenario: Scenario, i: int) -> list:
        """The sites whose first matching response group is ``i``."""
        groups = scenario.grid.response
        out = []
        for site in self.sites:
            first = next((k for k, g in enumerate(groups)
                          if any(fnmatch.fnmatchcase(site.name, p) for p in g.sites)), None)
            if first == i:
                out.append(site)
        return out

    def _service(self, change: FieldChange, scenario: Scenario) -> None:
        from vpp.coordination.frequency import presets

        i = indices(change.path)[0]
        group = scenario.grid.response[i]
        spec = (None if group.service is None
                else presets.service(group.service, scenario.grid.f0_hz))
        for site in self._group_sites(scenario, i):
            site.rule.set_service(spec)
            site.refresh_limits()

    def _contracted(self, change: FieldChange, scenario: Scenario) -> None:
        i = indices(change.path)[0]
        kw = scenario.grid.response[i].contracted_kw
        for site in self._group_sites(scenario, i):
            if kw is not None:
                site.rule.contracted_kw = float(kw)
                site.rule.set_limits(kw, kw)
                site.refresh_limits()
