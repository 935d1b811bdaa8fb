"""Scenario files: YAML validated into typed structures.

Every error names the file, the field path (``$.sites[2].devices[0].p_max_kw``) and what
was expected, and unknown fields are errors (a typo is never silently ignored).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from vpp.runs.fleet.devices import DeviceSpec, FlexibleSpec, check_device
from vpp.runs.modes.merit_order.plan import PlanSpec
from vpp.runs.scenario.grid import GridSpec
from vpp.runs.scenario.limits import Limits, LimitsError

BUNDLED = Path(__file__).resolve().parent.parent / "scenarios"
"""Where the bundled scenarios live."""

DEFAULT_SCENARIO = BUNDLED / "default.yaml"


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message names the file and the field."""


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


class ProfileSpec(msgspec.Struct, **_Strict):
    """A target shaped by one column of a CSV time series, rescaled to a kW range.

    The column is read over the scenario's horizon, linearly interpolated to the step, and
    mapped so that its lowest value becomes ``low_kw`` and its highest ``high_kw``.
    """

    csv: str
    column: str
    low_kw: float
    high_kw: float
    timestamp_column: str = "timestamp_utc"


class TargetSpec(msgspec.Struct, **_Strict):
    """The aggregator's target: given values (one per step) or a CSV profile."""

    values_kw: list[float] | None = None
    profile: ProfileSpec | None = None


class NegotiationSpec(msgspec.Struct, **_Strict):
    """How the contract net runs."""

    deadline_ms: Annotated[int, msgspec.Meta(ge=1)] = 2000
    max_rounds: Annotated[int, msgspec.Meta(ge=1)] = 5


class PriceSeriesSpec(msgspec.Struct, **_Strict):
    """Market prices in EUR/MWh, one per step: given values, or a CSV column read as it is
    (each step takes the value in force at its start)."""

    values_eur_mwh: list[float] | None = None
    csv: str | None = None
    column: str = "price_eur_mwh"
    timestamp_column: str = "timestamp_utc"


class AdmmSpec(msgspec.Struct, **_Strict):
    """How ADMM plans (``coordination: admm``); ``docs/scenarios.md`` explains each field.

    ``window_steps``: the planning horizon (the whole scenario when None), replanned from
    the devices' live state at the start of each window. ``coupling``: follow the target,
    or (``market``) sell the net position at ``prices`` within ``import_max_kw`` and
    ``export_max_kw``.
    """

    window_steps: Annotated[int, msgspec.Meta(ge=1)] | None = None
    coupling: Literal["target", "market"] = "target"
    prices: PriceSeriesSpec | None = None
    import_max_kw: Annotated[float, msgspec.Meta(ge=0)] | None = None
    export_max_kw: Annotated[float, msgspec.Meta(ge=0)] | None = None
    rho: Annotated[float, msgspec.Meta(gt=0)] = 0.005
    eps_abs: Annotated[float, msgspec.Meta(gt=0)] = 1e-4
    eps_rel: Annotated[float, msgspec.Meta(ge=0)] = 1e-5
    max_iterations: Annotated[int, msgspec.Meta(ge=1)] = 500
    relaxation: Annotated[float, msgspec.Meta(gt=0, lt=2)] = 1.6
    deadline_ms: Annotated[int, msgspec.Meta(ge=1)] = 2000
    curtailment_eur_mwh: float = 0.0
    discomfort_eur_kw2h: Annotated[float, msgspec.Meta(ge=0)] = 1e-3
    keep_state_of_charge: bool = True


class DayAheadSpec(msgspec.Struct, **_Strict):
    """The day-ahead auction the VPP sells into (``docs/markets.md``): the rest of the
    market is a price-taking residual curve of ``residual_mw`` each way at ``prices``."""

    prices: PriceSeriesSpec
    residual_mw: Annotated[float, msgspec.Meta(gt=0)] = 10_000.0
    plan: PlanSpec | None = None  # the aggregator bids its CVaR plan (runs/modes/merit_order/plan.py)


class AncillarySpec(msgspec.Struct, **_Strict):
    """Reserve capacity the VPP offers before the day-ahead auction, from what its
    batteries can hold for ``duration_h`` given their state of charge (``docs/markets.md``).
    The system operator procures ``requirement_mw`` for the whole horizon."""

    product: str = "reserve_up"
    requirement_mw: Annotated[float, msgspec.Meta(gt=0)]
    price_eur_mw_h: float
    duration_h: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid"


class MarketSpec(msgspec.Struct, **_Strict):
    """What the aggregator sells before the run; its cleared position is the target."""

    day_ahead: DayAheadSpec
    ancillary: AncillarySpec | None = None


class Scenario(msgspec.Struct, **_Strict):
    """A whole scenario: the horizon, the aggregator's target and reserve, the sites.

    ``coordination`` chooses the aggregator's protocol: ``merit_order`` (each step's
    contract net, the default) or ``admm`` (schedules over a horizon, options in ``admm``).
    """

    name: str
    description: str = ""
    seed: int = 0
    start: datetime
    step_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 15
    steps: Annotated[int, msgspec.Meta(ge=1)]
    target: TargetSpec | None = None
    market: MarketSpec | None = None
    reserve_kw: Annotated[float, msgspec.Meta(ge=0)] | list[float] = 0.0
    negotiation: NegotiationSpec = msgspec.field(default_factory=NegotiationSpec)
    coordination: Literal["merit_order", "admm"] = "merit_order"
    admm: AdmmSpec | None = None
    sites: list[SiteSpec]
    grid: GridSpec | None = None  # a grid event instead of the dispatch (runs/scenario/grid.py)

    @property
    def dt_h(self) -> float:
        """The step length in hours."""
        return self.step_minutes / 60.0

    def site_names(self) -> list[str]:
        """Every site's name, ``count`` expanded."""
        names = []
        for spec in self.sites:
            if spec.count == 1:
                names.append(spec.name)
            else:
                names.extend(f"{spec.name}-{i}" for i in range(1, spec.count + 1))
        return names


def current_limits(limits: Limits | None = None) -> Limits:
    """``limits``, or the caps of this process's environment (:meth:`Limits.from_env`);
    a bad ``VPP_MAX_...`` variable is a ScenarioError naming it."""
    if limits is not None:
        return limits
    try:
        return Limits.from_env()
    except LimitsError as exc:
        raise ScenarioError(str(exc)) from None


def _check_size(scenario: Scenario, limits: Limits, fail) -> None:
    """The caps on sites and steps, before anything grows with them."""
    sites = sum(spec.count for spec in scenario.sites)
    if sites > limits.max_sites:
        fail("sites", f"{sites:,} sites (`count` expanded) is more than the cap of "
                      f"{limits.max_sites:,} ({Limits.variable('max_sites')} raises it)")
    if scenario.steps > limits.max_steps:
        fail("steps", f"{scenario.steps:,} steps is more than the cap of {limits.max_steps:,} "
                      f"({Limits.variable('max_steps')} raises it)")
    if sites * scenario.steps > limits.max_site_steps:
        fail("steps", f"{sites:,} sites times {scenario.steps:,} steps is more than the cap of "
                      f"{limits.max_site_steps:,} site-steps "
                      f"({Limits.variable('max_site_steps')} raises it)")


def _check_devices(scenario: Scenario, fail) -> None:
    """Each device's values as its model checks them (once per site entry, not per
    ``count``): ordered bounds such as ``soc_min <= state_of_charge <= soc_max``."""
    for i, site in enumerate(scenario.sites):
        for j, dev in enumerate(site.devices):
            try:
                check_device(dev, scenario.steps, scenario.dt_h)
            except ValueError as exc:
                fail(f"sites[{i}].devices[{j}]", str(exc))


def check_scenario(scenario: Scenario, where: str, limits: Limits | None = None) -> None:
    """The one check of a scenario's content, shared by ``vpp validate``, ``vpp run`` and
    every other loader: sizes within ``limits``, finite numbers within the physical caps
    of their unit (:mod:`vpp.runs.scenario.numbers`), each device's values as its model checks
    them, and the sections' own rules. A scenario received over the network (a site
    process's) goes through it too. Raises ScenarioError naming the field."""
    from vpp.runs.scenario.numbers import check_numbers

    def fail(path: str, msg: str) -> None:
        raise ScenarioError(f"{where}: {msg} - at `$.{path}`")

    _check_size(scenario, current_limits(limits), fail)
    check_numbers(scenario, fail)
    if scenario.start.tzinfo is None:
        fail("start", "Expected a time with a zone (e.g. 2019-01-16T00:00:00Z)")
    if not scenario.sites:
        fail("sites", "Expected at least one site")
    names = scenario.site_names()
    seen: set[str] = set()
    for name in names:
        if name in seen:
            fail("sites", f"Site name {name!r} is used twice")
        if not name or "/" in name or "*" in name:
            fail("sites", f"Site name {name!r} must be non-empty, without '/' or '*'")
        seen.add(name)
    for i, site in enumerate(scenario.sites):
        if not site.devices:
            fail(f"sites[{i}].devices", "Expected at least one device")
        device_names = [d.name for d in site.devices]
        if len(set(device_names)) != len(device_names):
            fail(f"sites[{i}].devices", f"Device names must be unique, got {device_names}")
        for j, dev in enumerate(site.devices):
            if isinstance(dev, FlexibleSpec) and isinstance(dev.availability, list):
                if not dev.availability or any(not 0 <= a <= 1 for a in dev.availability):
                    fail(f"sites[{i}].devices[{j}].availability",
                         "Expected a non-empty list of fractions in [0, 1]")
    _check_devices(scenario, fail)
    target = scenario.target
    if scenario.market is not None:
        from vpp.runs.modes.merit_order.market import check_market_scenario

        check_market_scenario(scenario, fail)
    elif target is None and scenario.grid is None and not (
            scenario.admm is not None and scenario.admm.coupling == "market"):
        fail("target", "Expected a target (or a `market` section, whose cleared position "
                       "becomes the target; a `grid` event needs none)")
    if target is not None and (target.values_kw is None) == (target.profile is None):
        fail("target", "Expected exactly one of `values_kw` or `profile`")
    if target is not None and target.values_kw is not None:
        if len(target.values_kw) < scenario.steps:
            fail("target.values_kw", f"Expected at least {scenario.steps} values (one per "
                 f"step), got {len(target.values_kw)}")
        if not all(math.isfinite(v) for v in target.values_kw):
            fail("target.values_kw", "Expected finite numbers")
    if isinstance(scenario.reserve_kw, list) and len(scenario.reserve_kw) < scenario.steps:
        fail("reserve_kw", f"Expected a number or at least {scenario.steps} values")
    if scenario.grid is not None and scenario.grid.voltage is not None:
        from vpp.runs.modes.volt_var import check_voltage

        check_voltage(scenario, fail)
    if scenario.coordination == "admm":
        from vpp.runs.modes.admm.sites import check_admm_scenario

        check_admm_scenario(scenario, fail)
    elif scenario.admm is not None:
        fail("admm", "ADMM options are given but `coordination` is `merit_order`")


def parse(data: Any, where: str = "<scenario>", limits: Limits | None = None) -> Scenario:
    """Validate already-parsed YAML/JSON data into a :class:`Scenario` (the one check,
    within ``limits``: default :meth:`Limits.from_env`)."""
    try:
        scenario = msgspec.convert(data, Scenario, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if " - at `$" not in text:
            text += " - at `$`"
        raise ScenarioError(f"{where}: {text}") from None
    check_scenario(scenario, where, limits)
    return scenario


def load(path: str | Path, limits: Limits | None = None) -> Scenario:
    """Read and validate a scenario file; the data files it names must be inside its
    folder, the bundled data or a ``--data-dir`` (:mod:`vpp.runs.scenario.data_files`; they are
    read when used)."""
    from vpp.runs.scenario.data_files import data_paths, resolve_data

    scenario = parse(read_mapping(path, limits=limits), str(path), limits)
    for field, relative in data_paths(scenario):
        resolve_data(path, relative, field)
    return scenario


def read_mapping(path: str | Path, content: bytes | None = None,
                 limits: Limits | None = None) -> dict:
    """Read a YAML file (or ``content``, the file's bytes already read) whose top level is
    a mapping, within ``limits`` (file size, YAML nodes with aliases expanded, depth:
    :mod:`vpp.runs.scenario.yaml_bounds`); errors name the file."""
    from vpp.runs.scenario.yaml_bounds import YamlError, read_yaml

    try:
        data = read_yaml(path, content, limits)
    except (YamlError, LimitsError) as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: Expected a mapping at the top level - at `$`")
    return data


def resolve(scenario_path: Path | None, relative: str, field: str = "csv") -> Path:
    """The data file a scenario names in ``field`` (relative to the scenario's folder, or
    ``bundled:NAME``), confined to the scenario's folder, the bundled data and any
    ``--data-dir`` (:func:`vpp.runs.scenario.data_files.resolve_data`)."""
    from vpp.runs.scenario.data_files import resolve_data

    return resolve_data(scenario_path, relative, field)


def step_times(scenario: Scenario) -> list[datetime]:
    """The start instant (UTC) of every step."""
    start = scenario.start.astimezone(timezone.utc)
    dt = timedelta(minutes=scenario.step_minutes)
    return [start + i * dt for i in range(scenario.steps)]


def target_series(scenario: Scenario, scenario_path: Path | None = None) -> list[float]:
    """The aggregator's target per step, in kW (a scenario that sells at market prices
    has none: see ``vpp.runs.modes.merit_order.market`` and ``vpp.runs.modes.admm.sites``)."""
    if scenario.target is None:
        raise ScenarioError("target: the scenario has no target (it sells at market prices "
                            "instead: a `market` section or ADMM's `coupling: market`)")
    if scenario.target.values_kw is not None:
        return list(scenario.target.values_kw[: scenario.steps])
    import numpy as np
    import pandas as pd
    from vpp.runs.scenario.data_files import numeric_column, read_csv, time_column

    spec = scenario.target.profile
    assert spec is not None
    field = "target.profile.csv"
    where = resolve(scenario_path, spec.csv, field)
    frame = read_csv(where, field)
    stamps = time_column(frame, spec.timestamp_column, "target.profile.timestamp_column", where)
    column = numeric_column(frame, spec.column, "target.profile.column", where)
    seconds = (stamps - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy()
    wanted = np.array([t.timestamp() for t in step_times(scenario)])
    if wanted[0] < seconds.min() or wanted[-1] > seconds.max():
        raise ScenarioError(f"target.profile: {where} covers {stamps.min()} to "
                            f"{stamps.max()}, not the scenario's horizon from {scenario.start}")
    values = np.interp(wanted, seconds, column)
    if not np.isfinite(values).all():
        raise ScenarioError(f"target.profile: column {spec.column!r} of {where} has gaps in "
                            f"the scenario's horizon - at `$.target.profile.column`")
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
