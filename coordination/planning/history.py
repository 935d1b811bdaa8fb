"""Real history for planning: DE-LU 2019 prices, load and its forecast, wind and solar.

The data (``physics/data/``, see its ``ATTRIBUTION.md``) gives three kinds of real forecast error,
each expressed without units so that it can be laid over any forecast:

- load: ENTSO-E's day-ahead load forecast against the actual load, as a fraction of the
  forecast (``(actual - forecast) / forecast``);
- price: the naive day-before forecast (the same hour one day earlier) against the price,
  as a fraction of the year's mean absolute price;
- renewable (wind plus solar): the same naive day-before forecast against what was
  generated, as a fraction of the year's peak generation (an installed-capacity proxy).

:func:`error_blocks` cuts these into windows that start at the same hour of each day, so
that a bootstrap that draws whole windows keeps the correlation in time and between the
three series (a windy day's low prices stay together).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vpp.physics.datasets import DE_LU_2019_CSV, dataset, read_dataset
from vpp.physics.timeseries import TimeSeriesError, read_series

DATA_FILE = DE_LU_2019_CSV
"""The DE-LU 2019 hourly file (8,760 rows, UTC, no gaps), bundled in ``physics/data/``
(the ``de_lu_2019`` dataset, read by the one time-series reader)."""


@dataclass(frozen=True)
class History:
    """Hourly series of one year: prices in EUR/MWh, powers in MW, timestamps in UTC."""

    timestamp_utc: np.ndarray
    price_eur_mwh: np.ndarray
    load_mw: np.ndarray
    load_forecast_mw: np.ndarray
    renewable_mw: np.ndarray

    @property
    def hours(self) -> int:
        """The number of hourly rows."""
        return len(self.price_eur_mwh)


@functools.lru_cache(maxsize=4)
def load_history(path: str | Path = DATA_FILE) -> History:
    """Read the hourly file at ``path`` (the bundled ``de_lu_2019`` dataset by default; any
    file of its layout otherwise) through the one time-series reader.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a missing column, a cell that is not a number, a gap (naming the file,
            the line and the column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"history file not found: {path}")
    series = read_dataset("de_lu_2019") if path.resolve() == DATA_FILE else \
        read_series(dataset("de_lu_2019").mapping, path)
    names = ("price_eur_mwh", "load_actual_entsoe_mw", "load_forecast_entsoe_mw", "solar_mw",
             "wind_onshore_mw", "wind_offshore_mw")
    values = {c: np.array(series.values[c], dtype=float) for c in names}
    for name, column in values.items():
        if not np.isfinite(column).all():
            raise TimeSeriesError(str(path), "missing or non-finite values", column=name)
    return History(
        timestamp_utc=np.array(series.times.strftime("%Y-%m-%dT%H:%M:%SZ"), dtype=str),
        price_eur_mwh=values["price_eur_mwh"],
        load_mw=values["load_actual_entsoe_mw"],
        load_forecast_mw=values["load_forecast_entsoe_mw"],
        renewable_mw=values["solar_mw"] + values["wind_onshore_mw"] + values["wind_offshore_mw"],
    )


@dataclass(frozen=True)
class ErrorBlocks:
    """Unit-free forecast errors, one row per window of ``horizon`` hours.

    ``price``: fraction of the mean absolute price; ``load``: fraction of the forecast;
    ``renewable``: fraction of peak generation. ``start_index`` is each window's first row.
    """

    price: np.ndarray
    load: np.ndarray
    renewable: np.ndarray
    start_index: np.ndarray

    @property
    def count(self) -> int:
        """The number of windows."""
        return len(self.start_index)


def error_blocks(horizon: int, start_hour: int = 0, history: History | None = None) -> ErrorBlocks:
    """The year's forecast errors cut into windows of ``horizon`` hours starting at
    ``start_hour`` (UTC) each day (the first day is skipped: it has no day before)."""
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
    if not isinstance(start_hour, int) or not 0 <= start_hour < 24:
        raise ValueError(f"start_hour must be an int in [0, 23], got {start_hour!r}")
    h = history if history is not None else load_history()
    # the file starts at 23:00 UTC; row i is hour (23 + i) % 24
    first = (start_hour - 23) % 24 + 24
    starts = np.arange(first, h.hours - horizon + 1, 24)
    if len(starts) == 0:
        raise ValueError(f"horizon {horizon} h is longer than the history ({h.hours} h)")
    idx = starts[:, None] + np.arange(horizon)[None, :]
    price = h.price_eur_mwh
    price_err = (price[idx] - price[idx - 24]) / np.mean(np.abs(price))
    load_err = (h.load_mw[idx] - h.load_forecast_mw[idx]) / h.load_forecast_mw[idx]
    ren = h.renewable_mw
    ren_err = (ren[idx] - ren[idx - 24]) / ren.max()
    return ErrorBlocks(price_err, load_err, ren_err, starts)


def price_week(start_day: int = 0, days: int = 7, history: History | None = None) -> np.ndarray:
    """Hourly prices (EUR/MWh) of ``days`` days from day ``start_day`` (0 = 1 Jan 2019,
    each day from 00:00 UTC)."""
    h = history if history is not None else load_history()
    first = 1 + 24 * start_day
    last = first + 24 * days
    if start_day < 0 or days < 1 or last > h.hours:
        raise ValueError(f"days {start_day}..{start_day + days} are outside the history")
    return h.price_eur_mwh[first:last].copy()
