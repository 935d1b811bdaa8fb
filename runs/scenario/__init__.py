"""Scenarios: YAML validated into typed structures, in one package that imports no run mode.

- :mod:`~vpp.runs.scenario.schema`: the scenario and its site entries (``count``
  expanded once by :meth:`Scenario.entries`); the sections: :mod:`~.devices`,
  :mod:`~.market`, :mod:`~.admm`, :mod:`~.grid`;
- :mod:`~vpp.runs.scenario.loading`: reading a file within bounds (:mod:`~.yaml_bounds`,
  :mod:`~.limits`), its data paths confined (:mod:`~.data_files`);
- :mod:`~vpp.runs.scenario.checks`: the one check shared by ``validate`` and ``run`` (finite
  numbers, ordered bounds, physical caps: :mod:`~.numbers`), plus the checks run modes
  register for their sections;
- :mod:`~vpp.runs.scenario.series`: the steps' instants, the target and reserve per step.

Every error names the file, the field path (``$.sites[2].devices[0].p_max_kw``) and what
was expected.
"""

from __future__ import annotations

from pathlib import Path

from vpp.runs.scenario.admm import AdmmSpec
from vpp.runs.scenario.checks import check_scenario, current_limits, register_check
from vpp.runs.scenario.errors import ScenarioError
from vpp.runs.scenario.loading import load, parse, read_mapping, resolve
from vpp.runs.scenario.market import (
    AncillarySpec,
    DayAheadSpec,
    MarketSpec,
    PlanSpec,
    PriceSeriesSpec,
)
from vpp.runs.scenario.schema import (
    NegotiationSpec,
    ProfileSpec,
    Scenario,
    SiteEntry,
    SiteSpec,
    StrategySpec,
    TargetSpec,
    step_times,
)
from vpp.runs.scenario.series import reserve_series, target_series

BUNDLED = Path(__file__).resolve().parent.parent / "scenarios"
"""Where the bundled scenarios live."""

DEFAULT_SCENARIO = BUNDLED / "default.yaml"
"""The scenario ``vpp run`` runs when given none."""

__all__ = [
    "BUNDLED", "DEFAULT_SCENARIO", "AdmmSpec", "AncillarySpec", "DayAheadSpec", "MarketSpec",
    "NegotiationSpec", "PlanSpec", "PriceSeriesSpec", "ProfileSpec", "Scenario",
    "ScenarioError", "SiteEntry", "SiteSpec", "StrategySpec", "TargetSpec", "check_scenario",
    "current_limits", "load", "parse", "read_mapping", "register_check", "reserve_series",
    "resolve", "step_times", "target_series",
]
