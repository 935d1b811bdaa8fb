"""The one time-series reader (prices, load, wind, solar, weather, frequency).

A :class:`SeriesMapping` says how a file becomes a series (layout, time column and zone,
value columns and units, resolution, gaps, duplicates); :func:`read_series` reads it into a
:class:`TimeSeries` in internal units, with a :class:`ReadReport` of what it handled by
line; :meth:`TimeSeries.at` gives the values at other instants, resampled only as asked.
Market layouts: ENTSO-E, ERCOT, OMIE (:mod:`.formats`). Bundled datasets by name:
:mod:`vpp.physics.datasets`. See ``docs/data.md``.

``physics`` imports nothing of ours, so every layer (coordination, markets, agents, runs)
reads series through this package; confining paths is the caller's job (a scenario's files
are confined by ``vpp.runs.scenario.data_files``). Importing the package costs no numpy or
pandas: the reader loads them when it is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vpp.physics.timeseries.errors import Finding, ReadReport, TimeSeriesError
from vpp.physics.timeseries.mapping import FORMATS, SeriesMapping, ValueColumn
from vpp.physics.timeseries.units import conversion, currency_of

if TYPE_CHECKING:
    from vpp.physics.timeseries.reader import Bounds, read_series
    from vpp.physics.timeseries.series import TimeSeries

__all__ = ["FORMATS", "Bounds", "Finding", "ReadReport", "SeriesMapping", "TimeSeries",
           "TimeSeriesError", "ValueColumn", "conversion", "currency_of", "read_series"]

_LAZY = {"Bounds": "reader", "read_series": "reader", "TimeSeries": "series"}


def __getattr__(name: str):
    """The reader's numpy-backed names, imported on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
