"""The mapping: how a file becomes a time series (``docs/data.md`` explains each field).

A mapping is data (YAML in a scenario or a backtest, or built in Python): which file, in
which layout (``csv``, ``parquet``, or a market's published export: ``entsoe``, ``ercot``,
``omie``), which column holds the time and how it is written, the time zone of times written
without one, which columns hold values and in which units, and what to do about resolution,
gaps and duplicates. Nothing is guessed silently: a resolution that differs from what the
reader of the series needs fails unless ``resample`` says how, a gap or a duplicate fails
unless ``gaps`` or ``duplicates`` says what to do, and everything handled is reported by
line (:class:`~vpp.physics.timeseries.errors.ReadReport`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["FORMATS", "SeriesMapping", "ValueColumn"]

FORMATS = ("csv", "parquet", "entsoe", "ercot", "omie")
"""The layouts the reader knows (``docs/data.md`` has one section each)."""

_Strict = dict(forbid_unknown_fields=True, kw_only=True, frozen=True)

MISSING = ("", "-", "N/A", "n/a", "n/e", "NaN", "nan", "NA")
"""Cells read as a missing value, by default."""


class ValueColumn(msgspec.Struct, **_Strict):
    """One value column: ``column`` in the file, in ``unit`` (None: taken as it is, unit
    unknown), known in the series as ``name`` (default: the column's own name)."""

    column: str
    unit: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        """The value's name in the series."""
        return self.name or self.column


class SeriesMapping(msgspec.Struct, **_Strict):
    """How to read one file as a time series.

    Attributes:
        file: the file (a scenario's path is relative to the scenario's folder, and the
            scenario loader confines it; the reader itself takes a resolved path).
        format: the layout; by default ``parquet`` for a ``.parquet`` file, else ``csv``.
        time_column: the column of times (``csv`` and ``parquet``).
        time_format: how times are written (``strftime`` codes, e.g. ``%d.%m.%Y %H:%M``);
            default ISO 8601.
        time_zone: the IANA zone (``Europe/Berlin``, ``America/Chicago``) of times written
            without an offset; times with one are converted from it. Default UTC (a market
            layout brings its own: ENTSO-E's header, ERCOT's Central time, OMIE's Madrid).
        label: whether a time is the start (default) or the end of its interval.
        values: the value columns (a market layout has its own names and units).
        currency: the currency of prices given in cents (``c/kWh``), or a check of the
            currency the units name.
        resolution: the spacing of the rows (``1h``, ``15min``); default: the most common
            spacing.
        resample: how to bring the series to another step when a reader needs one:
            ``mean`` (time-weighted mean over each step), ``first`` (the value in force at
            the step's start) or ``interpolate`` (linear, at the step's start). None: a
            different step is an error naming both.
        duplicates: two rows at one instant: ``error`` (default), or keep the ``first``,
            the ``last`` or their ``mean``.
        gaps: missing rows or empty cells: ``error`` (default), ``keep`` (rows as they
            are; empty cells are NaN), ``nan`` (the missing steps added as NaN),
            ``interpolate`` or ``hold`` (filled).
        select: keep only the rows whose column equals the value (a long table with
            several series, e.g. ``{SettlementPoint: HB_NORTH}``).
        delimiter, decimal, thousands, encoding, skip_rows, missing: how the CSV is
            written (``skip_rows``: lines before the header; ``missing``: cell texts that
            mean no value).
    """

    file: str
    format: Literal["csv", "parquet", "entsoe", "ercot", "omie"] | None = None
    time_column: str | None = None
    time_format: str | None = None
    time_zone: str | None = None
    label: Literal["start", "end"] = "start"
    values: list[ValueColumn] | None = None
    currency: str | None = None
    resolution: str | None = None
    resample: Literal["mean", "first", "interpolate"] | None = None
    duplicates: Literal["error", "first", "last", "mean"] = "error"
    gaps: Literal["error", "keep", "nan", "interpolate", "hold"] = "error"
    select: dict[str, str] = {}
    delimiter: Annotated[str, msgspec.Meta(min_length=1, max_length=1)] = ","
    decimal: Annotated[str, msgspec.Meta(min_length=1, max_length=1)] = "."
    thousands: Annotated[str, msgspec.Meta(min_length=1, max_length=1)] | None = None
    encoding: str = "utf-8-sig"
    skip_rows: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    missing: list[str] = msgspec.field(default_factory=lambda: list(MISSING))

    def layout(self) -> str:
        """The format, ``csv`` or ``parquet`` by the file's extension when not given."""
        if self.format is not None:
            return self.format
        return "parquet" if self.file.lower().endswith((".parquet", ".pq")) else "csv"

    def replace(self, **changes) -> SeriesMapping:
        """A copy with some fields changed."""
        return msgspec.structs.replace(self, **changes)
