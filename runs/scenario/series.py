"""A scenario's time series: the aggregator's target and reserve per step (the steps'
instants are :func:`vpp.runs.scenario.schema.step_times`)."""

from __future__ import annotations

from pathlib import Path

from vpp.runs.scenario.errors import ScenarioError
from vpp.runs.scenario.schema import Scenario


def target_series(scenario: Scenario, scenario_path: Path | None = None) -> list[float]:
    """The aggregator's target per step, in kW (a scenario that sells at market prices
    has none: see ``vpp.runs.modes.merit_order.market`` and ``vpp.runs.modes.admm.sites``)."""
    if scenario.target is None:
        raise ScenarioError("target: the scenario has no target (it sells at market prices "
                            "instead: a `market` section or ADMM's `coupling: market`)")
    if scenario.target.values_kw is not None:
        return list(scenario.target.values_kw[: scenario.steps])
    from vpp.runs.scenario.prices import step_values

    spec = scenario.target.profile
    assert spec is not None
    values = step_values(spec, scenario, scenario_path, "target.profile")
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        return [spec.low_kw] * scenario.steps
    scaled = spec.low_kw + (values - lo) * (spec.high_kw - spec.low_kw) / (hi - lo)
    return [float(v) for v in scaled]


def reserve_series(scenario: Scenario) -> list[float]:
    """The upward reserve wanted per step, in kW."""
    if isinstance(scenario.reserve_kw, list):
        return list(scenario.reserve_kw[: scenario.steps])
    return [float(scenario.reserve_kw)] * scenario.steps
