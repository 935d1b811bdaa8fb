"""The time series a scenario reads (``target.profile``, ``admm.prices``,
``market.day_ahead.prices``), through the one reader (:mod:`vpp.physics.timeseries`).

A series section names its data by a CSV path (``csv``, with ``column`` and
``timestamp_column``), by ``data`` (a bundled dataset's name such as ``de_lu_2019``, or a
mapping: ``docs/data.md``), or not at all, and then the scenario's own ``data`` is read.
Paths are confined to the scenario's folder, the bundled data and ``--data-dir``
(:mod:`vpp.runs.scenario.data_files`) before the reader opens them. The values are brought
to the scenario's steps as the section's ``resample`` says.

The currency of a scenario's money is that of its price data (EUR when no data says
otherwise): :func:`scenario_currency`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries import SeriesMapping, TimeSeriesError, ValueColumn

if TYPE_CHECKING:
    from vpp.physics.timeseries.series import TimeSeries

__all__ = ["CurrencyNote", "check_price_values", "read_section", "scenario_currency", "step_prices",
           "step_values"]


def _source(spec, scenario, field: str):
    """``(kind, value, field of the source)``: ``csv``, ``dataset`` or ``mapping``."""
    from vpp.runs.scenario.errors import ScenarioError

    csv, data = getattr(spec, "csv", None), getattr(spec, "data", None)
    if csv is not None and data is not None:
        raise ScenarioError(f"{field}: give `csv` or `data`, not both - at `$.{field}`")
    if csv is not None:
        return "csv", csv, f"{field}.csv"
    where = f"{field}.data"
    if data is None:
        data, where = scenario.data, "data"
    if data is None:
        raise ScenarioError(f"{field}: no data: give `csv` or `data` here, or the scenario's "
                            f"`data` (e.g. `data: de_lu_2019`) - at `$.{field}`")
    return ("dataset" if isinstance(data, str) else "mapping"), data, where


def _fail(exc: TimeSeriesError, field: str, where: str, kind: str):
    from vpp.runs.scenario.errors import ScenarioError

    if exc.field == "horizon":
        return ScenarioError(f"{field}: {exc}: not the scenario's horizon - at `$.{field}`")
    if exc.field == "resample":
        path = f"{field}.resample"
    elif exc.field in ("column", "values") or (exc.column is not None and exc.field is None
                                                and exc.line is not None
                                                and kind != "time"):
        path = f"{field}.column"
    elif exc.field == "time_column" or kind == "time":
        path = f"{field}.timestamp_column" if where.endswith(".csv") else \
            f"{where}.time_column"
    elif exc.field is not None and not where.endswith(".csv"):
        path = f"{where}.{exc.field}"
    else:
        path = where
    return ScenarioError(f"{field}: {exc} - at `$.{path}`")


def read_section(spec, scenario, scenario_path: Path | None, field: str,
                 limits=None) -> tuple[TimeSeries, str]:
    """The series a section reads, and the name of its ``column`` in it.

    Raises:
        ScenarioError: naming the field (the path, the column, the mapping's field).
    """
    from vpp.physics.datasets import dataset, dataset_path, read_dataset
    from vpp.physics.timeseries import Bounds, read_series
    from vpp.runs.scenario.checks import current_limits
    from vpp.runs.scenario.errors import ScenarioError
    from vpp.runs.scenario.loading import resolve
    from vpp.runs.stages import announce

    announce(f"reading data files ({field})")
    kind, value, where = _source(spec, scenario, field)
    column = spec.column
    bounds = Bounds(max_bytes=current_limits(limits).max_data_file_bytes)
    try:
        if kind == "dataset":
            try:
                found = dataset(value)
            except ValueError as exc:
                raise ScenarioError(f"{field}: {exc} - at `$.{where}`") from None
            column = found.roles.get(column, column)
            series = read_dataset(value) if dataset_path(value).stat().st_size <= \
                bounds.max_bytes else read_series(found.mapping, dataset_path(value),
                                                  bounds=bounds)
        elif kind == "mapping":
            path = resolve(scenario_path, value.file, f"{where}.file")
            series = read_series(value, path, bounds=bounds)
        else:
            path = resolve(scenario_path, value, where)
            mapping = SeriesMapping(file=value, time_column=spec.timestamp_column,
                                    values=[ValueColumn(column=spec.column)], gaps="keep")
            series = read_series(mapping, path, bounds=bounds)
    except TimeSeriesError as exc:
        is_time = exc.column is not None and exc.column == getattr(spec, "timestamp_column",
                                                                   None)
        raise _fail(exc, field, where, "time" if is_time else "value") from None
    if column not in series.values:
        raise ScenarioError(f"{field}: {series.source} has no value {column[:80]!r} (it has: "
                            f"{', '.join(series.names)}) - at `$.{field}.column`")
    return series, column


def step_values(spec, scenario, scenario_path: Path | None, field: str) -> np.ndarray:
    """The section's column at each step of ``scenario``, brought to the step as its
    ``resample`` says (the values as they are where the steps fall on the data's rows)."""
    import pandas as pd
    from vpp.runs.scenario.schema import step_times

    series, column = read_section(spec, scenario, scenario_path, field)
    wanted = pd.DatetimeIndex(step_times(scenario))
    try:
        return series.at(column, wanted, pd.Timedelta(minutes=scenario.step_minutes),
                         how=spec.resample)
    except TimeSeriesError as exc:
        raise _fail(exc, field, f"{field}.column", "value") from None


def step_prices(prices, scenario, scenario_path: Path | None, field: str) -> list[float]:
    """``prices`` (a ``PriceSeriesSpec``) as one value per step of ``scenario``.

    By default each step takes the value in force at its start (``resample: first``).
    Errors are :class:`~vpp.runs.scenario.ScenarioError` naming ``field``.
    """
    if prices.values_eur_mwh is not None:
        return [float(v) for v in prices.values_eur_mwh[: scenario.steps]]
    return [float(v) for v in step_values(prices, scenario, scenario_path, field)]


def _price_sections(scenario) -> list[tuple[str, object]]:
    out = []
    if scenario.admm is not None and scenario.admm.prices is not None:
        out.append(("admm.prices", scenario.admm.prices))
    if scenario.market is not None:
        out.append(("market.day_ahead.prices", scenario.market.day_ahead.prices))
    return out


def scenario_currency(scenario, scenario_path: Path | None = None) -> str:
    """The currency of the scenario's money: that of its price series (a bundled dataset's
    or a mapping's, read when needed); EUR when none says (given values and plain CSV
    columns are taken as EUR/MWh, as their field names say).

    Raises:
        ScenarioError: two price series in different currencies.
    """
    from vpp.runs.scenario.errors import ScenarioError

    found: dict[str, str] = {}
    for field, spec in _price_sections(scenario):
        if spec.values_eur_mwh is not None or spec.csv is not None:
            continue
        series, _ = read_section(spec, scenario, scenario_path, field)
        if series.currency is not None:
            found[field] = series.currency
    if len(set(found.values())) > 1:
        raise ScenarioError("prices in different currencies: " + ", ".join(
            f"{k} in {v}" for k, v in found.items()) + " - at `$.data`")
    return next(iter(found.values()), "EUR")


class CurrencyNote:
    """A run hook (``before_step``/``after_step``/``summary``) that adds the scenario's
    currency to the run's summary (``summary.json``'s ``currency``)."""

    def __init__(self, currency: str) -> None:
        self.currency = currency

    @classmethod
    def of(cls, scenario, scenario_path: Path | None = None) -> CurrencyNote:
        """The note for ``scenario`` (:func:`scenario_currency`; its ScenarioError)."""
        return cls(scenario_currency(scenario, scenario_path))

    def before_step(self, step: int) -> None:
        """Nothing to do."""

    def after_step(self, step: int) -> None:
        """Nothing to do."""

    def summary(self) -> dict[str, str]:
        """``{"currency": ...}``."""
        return {"currency": self.currency}


def check_price_values(prices, steps: int, field: str, fail) -> None:
    """Static checks of a ``PriceSeriesSpec``; ``fail(path, message)``."""
    given = sum(x is not None for x in (prices.values_eur_mwh, prices.csv, prices.data))
    if given > 1:
        fail(field, "Expected one of `values_eur_mwh`, `csv` or `data`")
    values = prices.values_eur_mwh
    if values is not None:
        if len(values) < steps:
            fail(f"{field}.values_eur_mwh", f"Expected at least {steps} values (one per "
                 f"step), got {len(values)}")
        if not all(np.isfinite(v) for v in values):
            fail(f"{field}.values_eur_mwh", "Expected finite numbers")
