"""Backtest scenarios: a small YAML of its own, validated into typed structures, and the
runner that writes the report (tables, CSV, PNG plots).

Errors name the file and the field path (``$.traders[1].params``), like the swarm's
scenarios (:mod:`vpp.runs.scenario`); unknown fields are errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import msgspec
from vpp.markets.trading.risk import RiskLimits
from vpp.markets.trading.types import Fees, StorageSpec
from vpp.physics.timeseries import SeriesMapping
from vpp.runs.scenario import BUNDLED, ScenarioError, current_limits, read_mapping
from vpp.runs.scenario.limits import Limits
from vpp.runs.scenario.numbers import check_numbers

__all__ = ["BacktestScenario", "DEFAULT_BACKTEST", "load_backtest", "run"]

log = logging.getLogger(__name__)

DEFAULT_BACKTEST = BUNDLED / "backtest_de_lu_2019.yaml"
"""The bundled backtest: DE-LU 2019, three strategies, one battery each."""

_Strict = dict(forbid_unknown_fields=True, kw_only=True)


class DataSpec(msgspec.Struct, **_Strict):
    """Where prices come from (``docs/data.md``): ``simulated`` (everything simulated), a
    bundled dataset by name (``de_lu_2019``: real day-ahead and load; simulated intraday
    and FCR), or a mapping of one's own file (a CSV or a market's export, e.g. ERCOT's);
    optionally only some days. Its currency is the report's.

    ``price``, ``load_actual``, ``load_forecast``: which values of the data play those
    parts (default: the dataset's own roles; a mapping's ``price`` value, or its only
    value; no load when none is named). Hour 0 is the data's first hour.
    """

    source: str | SeriesMapping = "de_lu_2019"
    price: str | None = None
    load_actual: str | None = None
    load_forecast: str | None = None
    first_day: Annotated[int, msgspec.Meta(ge=0)] = 0
    days: Annotated[int, msgspec.Meta(ge=2)] | None = None
    intraday_volatility_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 4.0
    intraday_persistence: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.7
    half_spread_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    fcr_mean_eur_mw_h: Annotated[float, msgspec.Meta(gt=0)] = 10.0

    @property
    def label(self) -> str:
        """The source, for messages: a name, or the mapping's file."""
        return self.source if isinstance(self.source, str) else self.source.file


class TraderSpec(msgspec.Struct, **_Strict):
    """One trader: a strategy (a built-in name or ``module:Class``) and its parameters."""

    use: str
    name: str | None = None
    params: dict[str, Any] = {}


class ShockSpec(msgspec.Struct, **_Strict):
    """A user's stress shock: the price jumps to ``price_eur_mwh`` (in the data's
    currency), e.g. a 2021-style spike to the market's cap."""

    name: str
    price_eur_mwh: float


class BacktestScenario(msgspec.Struct, **_Strict):
    """A whole backtest: data, battery, fees, risk limits, capital and traders.

    Every trader gets its own battery (``storage``) and capital, so they compare. With
    ``risk.stress_limit_eur``, an order is refused when a shock would lose more than it:
    the shocks are the traded series' lowest and highest hour and day
    (:func:`~vpp.markets.trading.risk.series_shocks`) and the ``stress`` shocks given here.
    """

    name: str
    description: str = ""
    seed: int = 0
    data: DataSpec = msgspec.field(default_factory=DataSpec)
    storage: StorageSpec = msgspec.field(default_factory=StorageSpec)
    fees: Fees = msgspec.field(default_factory=Fees)
    risk: RiskLimits = msgspec.field(default_factory=RiskLimits)
    capital_eur: Annotated[float, msgspec.Meta(gt=0)] = 1_000_000.0
    imbalance_penalty_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 50.0
    stress: list[ShockSpec] = []
    traders: list[TraderSpec]


def parse_backtest(data: Any, where: str = "<backtest>",
                   limits: Limits | None = None) -> BacktestScenario:
    """Validate parsed YAML into a :class:`BacktestScenario`; errors name ``$.path``."""
    try:
        spec = msgspec.convert(data, BacktestScenario, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if " - at `$" not in text:
            text += " - at `$`"
        raise ScenarioError(f"{where}: {text}") from None
    def fail(path: str, message: str) -> None:
        raise ScenarioError(f"{where}: {message} - at `$.{path}`")

    check_numbers(spec, fail)  # finite, within the caps of their units (traders' params aside)
    if spec.stress and spec.risk.stress_limit_eur is None:
        fail("stress", "stress shocks are given but `risk.stress_limit_eur` is not set")
    limits = current_limits(limits)
    hours = (spec.data.first_day + (spec.data.days or 365)) * 24
    if hours > limits.max_steps:
        fail("data.days", f"{hours:,} hours is more than the cap of {limits.max_steps:,} steps "
                          f"({Limits.variable('max_steps')} raises it)")
    if isinstance(spec.data.source, str) and spec.data.source != "simulated":
        from vpp.physics.datasets import DATASETS

        if spec.data.source not in DATASETS:
            fail("data.source", f"Expected `simulated`, a bundled dataset "
                 f"({', '.join(sorted(DATASETS))}) or a mapping, got {spec.data.source[:80]!r}")
    if not spec.traders:
        raise ScenarioError(f"{where}: Expected at least one trader - at `$.traders`")
    names = [t.name or t.use for t in spec.traders]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError(f"{where}: Trader name {name!r} is used twice (give `name`) "
                                f"- at `$.traders[{i}].name`")
    return spec


def load_backtest(path: str | Path, limits: Limits | None = None) -> BacktestScenario:
    """Read and validate a backtest scenario file (within ``limits``)."""
    return parse_backtest(read_mapping(path, limits=limits), str(path), limits)


def stress_shocks(spec: BacktestScenario, data: Any) -> tuple | None:
    """The shocks a backtest's stress limit checks (None without a stress limit): the
    traded series' own (:func:`~vpp.markets.trading.risk.series_shocks`), then the file's
    ``stress`` shocks."""
    from vpp.markets.trading.risk import StressScenario, day_ahead_shocks

    if spec.risk.stress_limit_eur is None:
        return None
    own = day_ahead_shocks(data)
    given = tuple(StressScenario(s.name, s.price_eur_mwh, "given", "the backtest file")
                  for s in spec.stress)
    return own + given


def market_data(spec: BacktestScenario, where: str | Path | None = None):
    """The scenario's :class:`MarketData` (the days it asks for); ``where``: the backtest
    file, whose folder a mapping's ``file`` is relative to (and confined to)."""
    from vpp.markets.trading.market_data import (
        de_lu_2019_market_data,
        simulated_market_data,
    )

    d = spec.data
    kwargs = dict(intraday_volatility_eur_mwh=d.intraday_volatility_eur_mwh,
                  intraday_persistence=d.intraday_persistence,
                  half_spread_eur_mwh=d.half_spread_eur_mwh,
                  fcr_mean_eur_mw_h=d.fcr_mean_eur_mw_h)
    if d.source == "simulated":
        data = simulated_market_data(d.first_day + (d.days or 365), spec.seed, **kwargs)
    elif d.source == "de_lu_2019" and d.price is None and d.load_actual is None \
            and d.load_forecast is None:
        data = de_lu_2019_market_data(spec.seed, **kwargs)
    else:
        data = _market_data_from(spec, where, kwargs)
    total = data.hours // 24
    days = (total - d.first_day) if d.days is None else d.days
    if d.first_day + days > total or days < 2:
        raise ScenarioError(f"data: days {d.first_day}..{d.first_day + days} are not in the "
                            f"{total} days of {d.label} - at `$.data.days`")
    return data.days(d.first_day, days)


def _market_data_from(spec: BacktestScenario, where, kwargs: dict):
    """Market data from a bundled dataset or a mapping, read by the one reader, hourly."""
    import numpy as np
    import pandas as pd
    from vpp.markets.trading.market_data import market_data_from_prices
    from vpp.physics.datasets import dataset, read_dataset
    from vpp.physics.timeseries import Bounds, TimeSeriesError, read_series
    from vpp.runs.scenario.data_files import resolve_data

    d = spec.data
    roles: dict[str, str] = {}
    try:
        if isinstance(d.source, str):
            found = dataset(d.source)
            roles = dict(found.roles)
            series = read_dataset(d.source)
            label = f"{d.source} ({found.source})"
        else:
            path = resolve_data(None if where in (None, "<backtest>") else where,
                                d.source.file, "data.source.file")
            series = read_series(d.source, path, bounds=Bounds(
                max_bytes=current_limits().max_data_file_bytes))
            label = Path(d.source.file).name
        names = series.names

        def pick(role: str, given: str | None, required: bool) -> str | None:
            name = given or roles.get(role)
            if name is None and role == "price":
                name = "price" if "price" in names else names[0] if len(names) == 1 else None
            if name is None and required:
                raise ScenarioError(f"{where}: say which value is the price (`price`: one of "
                                    f"{', '.join(names)}) - at `$.data.price`")
            if name is not None and name not in names:
                raise ScenarioError(f"{where}: the data has no value {name[:80]!r} (it has: "
                                    f"{', '.join(names)}) - at `$.data.{role}`")
            return name

        price = pick("price", d.price, True)
        load_actual = pick("load_actual", d.load_actual, False)
        load_forecast = pick("load_forecast", d.load_forecast, False)
        start = series.times[0]
        hours = pd.date_range(start, series.times[-1], freq="h")
        how = None if isinstance(d.source, str) else d.source.resample

        def hourly(name: str | None):
            return None if name is None else np.asarray(
                series.at(name, hours, pd.Timedelta(hours=1), how=how), dtype=float)

        values = hourly(price), hourly(load_forecast), hourly(load_actual)
    except TimeSeriesError as exc:
        field = "data.source" + (f".{exc.field}" if exc.field and not isinstance(d.source, str)
                                 and exc.field not in ("gaps", "horizon") else "")
        raise ScenarioError(f"{where}: data: {exc} - at `$.{field}`") from None
    stamps = np.asarray(hours.tz_localize(None).values, dtype="datetime64[s]")
    return market_data_from_prices(stamps, values[0], values[1], values[2],
                                   f"day-ahead: {label}", spec.seed,
                                   currency=series.currency or "EUR", **kwargs)


TRADER_GROUP = "vpp.trading_strategies"
"""The entry-point group where installed packages register trading strategies."""


def strategies(spec: BacktestScenario, where: str = "<backtest>", *,
               allow_import: bool = False) -> list:
    """One strategy object per trader: a built-in, an entry point of
    ``vpp.trading_strategies``, or ``module:Class`` with ``allow_import``
    (``--allow-plugins``); errors name ``$.traders[i]``."""
    from vpp.coordination.plugins import PluginError, load_class
    from vpp.markets.trading.strategies import BUILT_IN, Strategy, make_trading_strategy

    out = []
    for i, trader in enumerate(spec.traders):
        params = dict(trader.params)
        if trader.name is not None:
            params.setdefault("name", trader.name)
        try:
            if trader.use in BUILT_IN or trader.use == "multi":
                strategy = make_trading_strategy(trader.use, **params)
            else:
                cls = load_class(trader.use, builtins={}, group=TRADER_GROUP,
                                 allow_import=allow_import, what="trading strategy")
                strategy = cls(**params)
        except (ValueError, TypeError, PluginError) as exc:
            raise ScenarioError(f"{where}: {exc} - at `$.traders[{i}]`") from None
        if not isinstance(strategy, Strategy):
            raise ScenarioError(f"{where}: {trader.use} has no name and decide(view, book) "
                                f"- at `$.traders[{i}].use`")
        out.append(strategy)
    return out


def run(spec: BacktestScenario, where: str = "<backtest>", agents: bool = False, *,
        allow_plugins: bool = False):
    """Build the traders and run the backtest; returns the :class:`BacktestResult`.

    ``agents``: trade through the market agents over ZeroMQ (:mod:`vpp.runs.modes.backtest.agents`)
    instead of the engine's price-taking exchange. ``allow_plugins``: ``module:Class``
    traders may load (``--allow-plugins``).
    """
    from vpp.markets.trading.backtest import run_backtest
    from vpp.markets.trading.engine import TradingEngine

    data = market_data(spec, where)
    engines = [TradingEngine(s, spec.storage, data.hours, fees=spec.fees, limits=spec.risk,
                             capital_eur=spec.capital_eur,
                             imbalance_penalty_eur_mwh=spec.imbalance_penalty_eur_mwh,
                             shocks=stress_shocks(spec, data))
               for s in strategies(spec, where, allow_import=allow_plugins)]
    if agents:
        from vpp.runs.modes.backtest.agents import run_with_agents

        return run_with_agents(data, engines)
    return run_backtest(data, engines, spec.fees)
