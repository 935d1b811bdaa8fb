"""The one time-series reader: a file and its mapping in, a :class:`TimeSeries` out.

Every layout (plain CSV, Parquet, a market's export) is first read into :class:`Rows` (times
as the file writes them, values in the file's units); one common path then places local
times in UTC (both DST changes), orders the rows, handles duplicates, gaps and empty cells
as the mapping says, and converts the units. See ``docs/data.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries.clock import check_zone, localize, parse_times
from vpp.physics.timeseries.errors import Finding, ReadReport, TimeSeriesError
from vpp.physics.timeseries.mapping import SeriesMapping
from vpp.physics.timeseries.regular import parse_resolution, regularize
from vpp.physics.timeseries.series import TimeSeries
from vpp.physics.timeseries.table import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    Table,
    numbers,
    read_table,
)
from vpp.physics.timeseries.units import conversion, is_currency

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Bounds", "Rows", "read_series"]


@dataclass(frozen=True)
class Bounds:
    """What one read may spend: the file's size and its number of rows."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_rows: int = DEFAULT_MAX_ROWS


@dataclass
class Rows:
    """A file's rows before the common path.

    ``times``: naive (local, in ``zone``) or UTC; ``values`` in ``units`` (the file's);
    ``summer``: per row True/False/None from a DST marker in the file; ``resolution``: the
    layout's own spacing when it knows it.
    """

    file: str
    times: pd.DatetimeIndex
    lines: np.ndarray
    values: dict[str, np.ndarray]
    units: dict[str, str | None]
    zone: str
    time_column: str
    summer: np.ndarray | None = None
    resolution: pd.Timedelta | None = None
    findings: list[Finding] = field(default_factory=list)
    time_text: list[str] | None = None


def read_series(mapping: SeriesMapping, path: Path | str | None = None, *,
                bounds: Bounds = Bounds(), keep_time_text: bool = False,
                source: str | None = None) -> TimeSeries:
    """Read the file of ``mapping`` (or ``path``: the caller's resolved, confined path).

    Args:
        bounds: the caps on the file's size and rows.
        keep_time_text: keep each row's time as written (a replay shows it).
        source: how messages name the file (default: the path).

    Raises:
        TimeSeriesError: naming the file, the line and the column at fault, never quoting
            the file's contents.
    """
    path = Path(path if path is not None else mapping.file)
    name = source or str(path)
    layout = mapping.layout()
    if layout in ("csv", "parquet"):
        rows = _plain(path, name, mapping, layout, bounds, keep_time_text)
    else:
        from vpp.physics.timeseries.formats import READERS

        rows = READERS[layout](path, name, mapping, bounds)
    return _assemble(rows, mapping)


def _plain(path: Path, name: str, mapping: SeriesMapping, layout: str, bounds: Bounds,
           keep_text: bool) -> Rows:
    if mapping.time_column is None:
        raise TimeSeriesError(name, "name the column of times (`time_column`)",
                              field="time_column")
    if not mapping.values:
        raise TimeSeriesError(name, "name the value columns (`values`)", field="values")
    table = read_table(path, layout=layout, delimiter=mapping.delimiter,
                       encoding=mapping.encoding, skip_rows=mapping.skip_rows,
                       max_bytes=bounds.max_bytes, max_rows=bounds.max_rows)
    table.name = name
    table, findings = prepare(table, mapping)
    cells = table.column(mapping.time_column)
    times = parse_times(cells, table.lines, name, mapping.time_column, mapping.time_format)
    values, units = {}, {}
    for spec in mapping.values:
        if spec.key in values:
            raise TimeSeriesError(name, f"two values are named {spec.key!r} (`values`)",
                                  field="values")
        values[spec.key] = numbers(table, spec.column, decimal=mapping.decimal,
                                   thousands=mapping.thousands, missing=mapping.missing)
        units[spec.key] = spec.unit
    text = cells.astype(str).tolist() if keep_text else None
    return Rows(name, times, table.lines, values, units, mapping.time_zone or "UTC",
                mapping.time_column, findings=findings, time_text=text)


def prepare(table: Table, mapping: SeriesMapping) -> tuple[Table, list[Finding]]:
    """Blank lines dropped (reported) and ``select`` applied."""
    findings: list[Finding] = []
    if table.text and len(table.frame):
        blank = (table.frame.apply(lambda c: c.str.strip() == "")).all(axis=1).to_numpy()
        if blank.any():
            findings.append(Finding("blank", tuple(int(x) for x in table.lines[blank][:20]),
                                    f"{int(blank.sum())} empty line(s)", "skipped"))
            table = table.keep(~blank)
    for column, wanted in mapping.select.items():
        cells = table.column(column, "select")
        keep = (cells.astype(str).str.strip() == str(wanted)).to_numpy()
        if not keep.any():
            raise TimeSeriesError(table.name, f"no row has {wanted[:80]!r} in column "
                                  f"{column[:80]!r} (`select`)", field="select")
        table = table.keep(keep)
    if len(table.frame) == 0:
        raise TimeSeriesError(table.name, "no rows")
    return table, findings


def _assemble(rows: Rows, mapping: SeriesMapping) -> TimeSeries:
    import pandas as pd

    name = rows.file
    findings = list(rows.findings)
    lines = np.asarray(rows.lines)
    values = dict(rows.values)
    times = rows.times
    resolution = parse_resolution(mapping.resolution, name) or rows.resolution
    if mapping.label == "end":
        step = resolution or _naive_step(times)
        if step is None:
            raise TimeSeriesError(name, "times that end their interval need the interval's "
                                  "length (`resolution`)", field="resolution")
        times = times - step
        resolution = step
    if times.tz is None:
        zone = check_zone(rows.zone, name)
        empty = np.all([np.isnan(v) for v in values.values()], axis=0) if values else \
            np.zeros(len(times), dtype=bool)
        times, keep, found = localize(times, zone, lines, name, rows.time_column, empty,
                                      rows.summer)
        findings += found
        lines = lines[keep]
        values = {k: v[keep] for k, v in values.items()}
        if rows.time_text is not None:
            rows.time_text = [t for t, k in zip(rows.time_text, keep) if k]
    else:
        times = times.tz_convert("UTC")
    text = rows.time_text
    before = np.asarray(lines).copy()
    times, lines, values, resolution = regularize(
        pd.DatetimeIndex(times), lines, values, file=name, column=rows.time_column,
        resolution=resolution, duplicates=mapping.duplicates, gaps=mapping.gaps,
        findings=findings)
    if text is not None:
        by_line = dict(zip(before.tolist(), text))
        text = tuple(by_line.get(int(x), "") for x in lines)
    values, units, currency = _convert(values, rows.units, mapping, name)
    findings.sort(key=lambda f: f.lines[0] if f.lines else 0)
    return TimeSeries(times, values, units, currency, resolution, name,
                      ReadReport(name, len(times), tuple(findings)), lines,
                      mapping.resample, text)


def _naive_step(times: pd.DatetimeIndex):
    import pandas as pd

    steps = np.diff(np.asarray(times.asi8))
    steps = steps[steps > 0]
    if len(steps) == 0:
        return None
    found, counts = np.unique(steps, return_counts=True)
    return pd.Timedelta(int(found[np.argmax(counts)]), unit="ns")


def _convert(values: dict[str, np.ndarray], units: dict[str, str | None],
             mapping: SeriesMapping, name: str):
    if mapping.currency is not None and not is_currency(mapping.currency):
        raise TimeSeriesError(name, f"currency {mapping.currency[:20]!r} is not a "
                              f"three-letter code such as EUR or USD (`currency`)",
                              field="currency")
    out, internal, currencies = {}, {}, {}
    for key, v in values.items():
        try:
            conv = conversion(units.get(key), mapping.currency)
        except ValueError as exc:
            raise TimeSeriesError(name, f"{exc} (`values`)", column=key,
                                  field="values") from None
        out[key] = v if conv is None else conv.apply(v)
        internal[key] = None if conv is None else conv.unit
        if conv is not None and conv.currency is not None:
            currencies[key] = conv.currency
    found = sorted(set(currencies.values()))
    if len(found) > 1:
        raise TimeSeriesError(name, f"prices in several currencies ({', '.join(found)}); "
                              f"read them as separate series", field="values")
    return out, internal, found[0] if found else mapping.currency
