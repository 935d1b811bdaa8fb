"""Price series of a scenario (``admm.prices``, ``market.day_ahead.prices``): given values
or a CSV column, one price (EUR/MWh) per step."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def step_prices(prices, scenario, scenario_path: Path | None, field: str) -> list[float]:
    """``prices`` (a ``PriceSeriesSpec``) as one value per step of ``scenario``.

    A CSV column is read as it is: each step takes the value in force at its start.
    Errors are :class:`~runs.scenario.ScenarioError` naming ``field``.
    """
    from vpp.runs.scenario import ScenarioError, resolve, step_times

    if prices.values_eur_mwh is not None:
        return [float(v) for v in prices.values_eur_mwh[: scenario.steps]]
    import pandas as pd
    from vpp.runs.scenario.data_files import numeric_column, read_csv, time_column

    where = resolve(scenario_path, prices.csv, f"{field}.csv")
    frame = read_csv(where, f"{field}.csv")
    series = pd.Series(numeric_column(frame, prices.column, f"{field}.column", where),
                       index=pd.DatetimeIndex(time_column(frame, prices.timestamp_column,
                                                          f"{field}.timestamp_column", where)))
    series = series.sort_index()
    wanted = pd.DatetimeIndex(step_times(scenario))
    if wanted[0] < series.index[0] or wanted[-1] > series.index[-1] + pd.Timedelta(hours=1):
        raise ScenarioError(f"{field}: {where} covers {series.index[0]} to "
                            f"{series.index[-1]}, not the scenario's horizon")
    values = series.reindex(wanted, method="ffill").to_numpy()
    if not np.isfinite(values).all():
        raise ScenarioError(f"{field}: {where} column {prices.column!r} has gaps in the "
                            f"scenario's horizon")
    return [float(v) for v in values]


def check_price_values(prices, steps: int, field: str, fail) -> None:
    """Static checks of a ``PriceSeriesSpec``; ``fail(path, message)``."""
    if (prices.values_eur_mwh is None) == (prices.csv is None):
        fail(field, "Expected exactly one of `values_eur_mwh` or `csv`")
    values = prices.values_eur_mwh
    if values is not None:
        if len(values) < steps:
            fail(f"{field}.values_eur_mwh", f"Expected at least {steps} values (one per "
                 f"step), got {len(values)}")
        if not all(np.isfinite(v) for v in values):
            fail(f"{field}.values_eur_mwh", "Expected finite numbers")
