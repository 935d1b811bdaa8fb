"""The scenario's schema: the horizon, the aggregator's target and reserve, the sites, and
the sections each mode reads (``market``, ``admm``, ``grid``; a plug-in mode's ``options``).

Unknown fields are errors (a typo is never silently ignored). A site entry with ``count``
stands for that many alike sites; :meth:`Scenario.entries` expands them, once, for
everyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.physics.timeseries import SeriesMapping
from vpp.runs.scenario.admm import AdmmSpec
from vpp.runs.scenario.devices import DeviceSpec
from vpp.runs.scenario.grid import GridSpec
from vpp.runs.scenario.market import MarketSpec

_Strict = dict(forbid_unknown_fields=True, kw_only=True)


class StrategySpec(msgspec.Struct, **_Strict):
    """A bidding strategy: an entry-point name or ``module:Class``, with its parameters."""

    use: str
    params: dict[str, Any] = {}


class SiteSpec(msgspec.Struct, **_Strict):
    """A site (or ``count`` alike sites, named ``name-1`` ... ``name-N``)."""

    name: str
    devices: list[DeviceSpec]
    strategy: str | StrategySpec = "marginal-cost"
    outage_probability: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    count: Annotated[int, msgspec.Meta(ge=1)] = 1

    def names(self) -> list[str]:
        """The sites this entry stands for: its name, or ``name-1`` ... ``name-N`` with
        ``count`` (the one expansion of ``count`` that everything uses)."""
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(1, self.count + 1)]


class ProfileSpec(msgspec.Struct, **_Strict):
    """A target shaped by one column of a time series, rescaled to a kW range.

    The series is a CSV file (``csv``), a bundled dataset or a mapping (``data``, else the
    scenario's own ``data``; ``docs/data.md``). The column is read over the scenario's
    horizon, brought to the step as ``resample`` says (linear interpolation by default),
    and mapped so that its lowest value becomes ``low_kw`` and its highest ``high_kw``.
    """

    csv: str | None = None
    data: str | SeriesMapping | None = None
    column: str
    low_kw: float
    high_kw: float
    timestamp_column: str = "timestamp_utc"
    resample: Literal["mean", "first", "interpolate"] = "interpolate"


class TargetSpec(msgspec.Struct, **_Strict):
    """The aggregator's target: given values (one per step) or a CSV profile."""

    values_kw: list[float] | None = None
    profile: ProfileSpec | None = None


class NegotiationSpec(msgspec.Struct, **_Strict):
    """How the contract net runs."""

    deadline_ms: Annotated[int, msgspec.Meta(ge=1)] = 2000
    max_rounds: Annotated[int, msgspec.Meta(ge=1)] = 5


class Scenario(msgspec.Struct, **_Strict):
    """A whole scenario: the horizon, the aggregator's target and reserve, the sites.

    ``coordination`` chooses the aggregator's protocol: ``merit_order`` (each step's
    contract net, the default) or ``admm`` (schedules over a horizon, options in ``admm``).
    ``topology`` places the sites under regional aggregators (a tree checked against the
    fleet: ``docs/protocols/hierarchy.md``); without it the aggregator calls every site.
    ``mode`` names the run mode when the sections alone do not (a plug-in mode: ``vpp
    modes`` lists them), and ``options`` holds that mode's own settings, which it checks.
    """

    name: str
    description: str = ""
    seed: int = 0
    start: datetime
    step_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 15
    steps: Annotated[int, msgspec.Meta(ge=1)]
    data: str | SeriesMapping | None = None  # the series sections read by default (docs/data.md)
    target: TargetSpec | None = None
    market: MarketSpec | None = None
    reserve_kw: Annotated[float, msgspec.Meta(ge=0)] | list[float] = 0.0
    negotiation: NegotiationSpec = msgspec.field(default_factory=NegotiationSpec)
    coordination: Literal["merit_order", "admm"] = "merit_order"
    admm: AdmmSpec | None = None
    sites: list[SiteSpec]
    grid: GridSpec | None = None  # a grid event instead of the dispatch (runs/scenario/grid.py)
    topology: TopologySpec | None = None  # regional aggregators (docs/protocols/hierarchy.md)
    mode: str | None = None
    options: dict[str, Any] = {}

    @property
    def dt_h(self) -> float:
        """The step length in hours."""
        return self.step_minutes / 60.0

    def entries(self) -> Iterator[SiteEntry]:
        """Every site, ``count`` expanded (:meth:`SiteSpec.names`), in scenario order."""
        index = 0
        for entry, spec in enumerate(self.sites):
            for name in spec.names():
                yield SiteEntry(index, entry, spec, name)
                index += 1

    def site_names(self) -> list[str]:
        """Every site's name, ``count`` expanded."""
        return [e.name for e in self.entries()]


class SiteEntry(NamedTuple):
    """One site of a scenario, ``count`` expanded.

    Attributes:
        index: its position among all the scenario's sites (its random stream's index).
        entry: the index of its entry in ``scenario.sites`` (error paths use it).
        spec: that entry.
        name: the site's own name.
    """

    index: int
    entry: int
    spec: SiteSpec
    name: str


def step_times(scenario: Scenario) -> list[datetime]:
    """The start instant (UTC) of every step."""
    start = scenario.start.astimezone(timezone.utc)
    dt = timedelta(minutes=scenario.step_minutes)
    return [start + i * dt for i in range(scenario.steps)]
