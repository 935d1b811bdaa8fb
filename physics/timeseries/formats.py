"""Readers of markets' published export layouts (``docs/data.md`` names each source).

- ``entsoe``: the ENTSO-E Transparency Platform's CSV export (day-ahead prices, actual and
  forecast load, and any table of the same shape): a time column ``MTU (CET/CEST)`` or
  ``Time (UTC)`` whose cells are intervals ``01.01.2019 00:00 - 01.01.2019 01:00`` (or
  ``01/01/2025 00:00:00 - 01/01/2025 01:00:00``, with ``(CET)``/``(CEST)`` marking the two
  copies of the repeated autumn hour), value columns whose unit is in the header
  (``Day-ahead Price [EUR/MWh]``, ``Actual Total Load [MW] - BZN|DE-LU``). Values are named
  ``price``, ``load_actual``, ``load_forecast`` (others: the header's name in snake case).
- ``ercot``: ERCOT's DAM Settlement Point Prices (report NP4-190-CD):
  ``DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag``, dates
  ``MM/DD/YYYY``, hours ending ``01:00``..``24:00`` in Central Prevailing Time, prices in
  USD/MWh; one settlement point is kept (``select: {SettlementPoint: HB_NORTH}`` when the
  file has several). Value ``price``.
- ``omie``: OMIE's day-ahead marginal price files (``marginalpdbc_YYYYMMDD.1``): a line
  ``MARGINALPDBC;``, then ``year;month;day;period;Portugal;Spain;``, ending ``*``; period 1
  starts at 00:00 Madrid time and periods run in real time (23 or 25 hourly periods on the
  DST days; 92/96/100 quarter hours from October 2025). Several days may follow one another
  in one file. Values ``price_pt`` and ``price_es`` (EUR/MWh).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries.errors import Finding, TimeSeriesError
from vpp.physics.timeseries.mapping import SeriesMapping
from vpp.physics.timeseries.table import check_size, numbers, read_table

if TYPE_CHECKING:
    from vpp.physics.timeseries.reader import Bounds, Rows

__all__ = ["READERS"]

_ENTSOE_ZONES = {"CET/CEST": "CET", "UTC": "UTC", "WET/WEST": "WET", "EET/EEST": "EET",
                 "CET": "Etc/GMT-1", "EET": "Etc/GMT-2", "WET": "UTC"}
_ENTSOE_TIME = re.compile(r"^(MTU|Time)\s*\(([A-Z/]+)\)\s*$")
_ENTSOE_VALUE = re.compile(r"^(.*?)\s*[\[(]([^\])]+)[\])]\s*(?:-\s*.*)?$")
_ENTSOE_NAMES = {"day-ahead price": "price", "actual total load": "load_actual",
                 "day-ahead total load forecast": "load_forecast"}
_MARKER = re.compile(r"\s*\((CET|CEST|WET|WEST|EET|EEST)\)\s*")


def _snake(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _chosen(mapping: SeriesMapping, found: dict[str, tuple[str, str | None]], name: str):
    """The value columns kept: those the mapping names (by our name or the header's),
    else all found."""
    if not mapping.values:
        return {k: (col, unit) for k, (col, unit) in found.items()}
    out = {}
    by_column = {col: (k, unit) for k, (col, unit) in found.items()}
    for spec in mapping.values:
        if spec.column in found:
            col, unit = found[spec.column]
        elif spec.column in by_column:
            col, unit = spec.column, by_column[spec.column][1]
        else:
            raise TimeSeriesError(name, f"no value {spec.column[:80]!r} in this layout (it "
                                  f"has: {', '.join(found)})", field="values")
        out[spec.key] = (col, spec.unit or unit)
    return out


def read_entsoe(path: Path, name: str, mapping: SeriesMapping, bounds: Bounds) -> Rows:
    """An ENTSO-E Transparency Platform CSV export."""
    import pandas as pd
    from vpp.physics.timeseries.reader import Rows, prepare

    table = read_table(path, layout="csv", delimiter=mapping.delimiter,
                       encoding=mapping.encoding, skip_rows=mapping.skip_rows,
                       max_bytes=bounds.max_bytes, max_rows=bounds.max_rows)
    table.name = name
    table, findings = prepare(table, mapping)
    time_col, zone = None, None
    found: dict[str, tuple[str, str | None]] = {}
    for col in table.frame.columns:
        m = _ENTSOE_TIME.match(col)
        if m and time_col is None:
            time_col, zone = col, _ENTSOE_ZONES.get(m.group(2))
            if zone is None:
                raise TimeSeriesError(name, "the time column's zone is not one of "
                                      f"{', '.join(_ENTSOE_ZONES)}", field="format")
            continue
        v = _ENTSOE_VALUE.match(col)
        if v and "/" in v.group(2) or v and v.group(2) in ("MW", "MWh", "GW", "kW"):
            key = _ENTSOE_NAMES.get(v.group(1).strip().lower(), _snake(v.group(1)))
            if key not in found:
                found[key] = (col, v.group(2))
    if time_col is None:
        raise TimeSeriesError(name, "no ENTSO-E time column (`MTU (CET/CEST)`, `Time (UTC)`"
                              "...): is this an ENTSO-E Transparency export?", field="format")
    if "Sequence" in table.frame.columns and table.frame["Sequence"].nunique() > 1:
        raise TimeSeriesError(name, "rows of several auction sequences: keep one with "
                              "`select: {Sequence: ...}`", field="select")
    chosen = _chosen(mapping, found, name)
    cells = table.frame[time_col].astype(str)
    start = cells.str.split(" - ", n=1).str[0]
    finish = cells.str.split(" - ", n=1).str[1]
    marker = start.str.extract(_MARKER, expand=False)
    summer = np.array([None if not isinstance(m, str) else m.endswith("ST") for m in marker],
                      dtype=object)
    start = start.str.replace(_MARKER, "", regex=True).str.strip()
    finish = finish.fillna("").str.replace(_MARKER, "", regex=True).str.strip()
    form = "%d/%m/%Y %H:%M:%S" if start.iloc[0].count("/") == 2 else "%d.%m.%Y %H:%M"
    times = _strptime(start, form, table, time_col)
    ends = pd.to_datetime(finish, format=form, errors="coerce")
    widths = (ends - times).dropna()
    widths = widths[widths > pd.Timedelta(0)]
    resolution = widths.mode().iloc[0] if len(widths) else None
    values, units = {}, {}
    for key, (col, unit) in chosen.items():
        values[key] = numbers(table, col, decimal=mapping.decimal, thousands=mapping.thousands,
                              missing=mapping.missing)
        units[key] = unit
    return Rows(name, pd.DatetimeIndex(times), table.lines, values, units,
                mapping.time_zone or zone, time_col, summer=summer, resolution=resolution,
                findings=findings)


def _strptime(cells, form: str, table, column: str):
    import pandas as pd

    times = pd.to_datetime(cells, format=form, errors="coerce")
    bad = times.isna().to_numpy()
    if bad.any():
        raise TimeSeriesError(table.name, f"a value that is not a time in the format {form!r}",
                              line=int(table.lines[np.flatnonzero(bad)[0]]), column=column)
    return times


def read_ercot(path: Path, name: str, mapping: SeriesMapping, bounds: Bounds) -> Rows:
    """ERCOT DAM Settlement Point Prices (NP4-190-CD), one settlement point."""
    import pandas as pd
    from vpp.physics.timeseries.reader import Rows, prepare

    table = read_table(path, layout="csv", delimiter=",", encoding=mapping.encoding,
                       max_bytes=bounds.max_bytes, max_rows=bounds.max_rows)
    table.name = name
    table, findings = prepare(table, mapping)
    points = table.column("SettlementPoint", "format").str.strip()
    if points.nunique() > 1:
        raise TimeSeriesError(name, f"rows of {points.nunique()} settlement points: keep one "
                              f"with `select: {{SettlementPoint: HB_NORTH}}` (or another)",
                              field="select")
    dates = _strptime(table.column("DeliveryDate", "format").str.strip(), "%m/%d/%Y", table,
                      "DeliveryDate")
    ending = table.column("HourEnding", "format").str.strip().str.replace(":00", "",
                                                                         regex=False)
    hours = pd.to_numeric(ending, errors="coerce").to_numpy()
    bad = ~np.isin(hours, np.arange(1, 25))
    if bad.any():
        raise TimeSeriesError(name, "an hour ending that is not 01:00 to 24:00",
                              line=int(table.lines[np.flatnonzero(bad)[0]]),
                              column="HourEnding")
    starts = pd.DatetimeIndex(dates) + pd.to_timedelta(hours - 1, unit="h")
    values = {"price": numbers(table, "SettlementPointPrice", missing=mapping.missing)}
    chosen = _chosen(mapping, {"price": ("SettlementPointPrice", "USD/MWh")}, name)
    return Rows(name, starts, table.lines, {k: values["price"] for k in chosen},
                {k: unit for k, (_, unit) in chosen.items()},
                mapping.time_zone or "America/Chicago", "HourEnding",
                resolution=pd.Timedelta(hours=1), findings=findings)


def read_omie(path: Path, name: str, mapping: SeriesMapping, bounds: Bounds) -> Rows:
    """OMIE day-ahead marginal prices (``marginalpdbc``), one or more days."""
    import pandas as pd
    from vpp.physics.timeseries.reader import Rows

    check_size(path, name, bounds.max_bytes)
    try:
        text = path.read_text(encoding=mapping.encoding)
    except OSError as exc:
        raise TimeSeriesError(name, f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise TimeSeriesError(name, f"the file is not {mapping.encoding} text") from None
    zone = mapping.time_zone or "Europe/Madrid"
    days: dict[tuple[int, int, int], list[tuple[int, int, float, float]]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line == "*" or line.upper().startswith("MARGINALPDBC"):
            continue
        cells = line.split(";")
        if len(cells) < 6:
            raise TimeSeriesError(name, "expected year;month;day;period;Portugal;Spain;",
                                  line=number)
        try:
            y, mo, d, p = (int(c) for c in cells[:4])
            pt, es = (float(c.replace(",", ".")) if c.strip() else np.nan
                      for c in cells[4:6])
        except ValueError:
            raise TimeSeriesError(name, "a cell that is not a number", line=number) from None
        days.setdefault((y, mo, d), []).append((number, p, pt, es))
        if sum(len(v) for v in days.values()) > bounds.max_rows:
            raise TimeSeriesError(name, f"more than {bounds.max_rows:,} rows (the cap)")
    if not days:
        raise TimeSeriesError(name, "no rows")
    lines, stamps, pts, ess = [], [], [], []
    findings: list[Finding] = []
    for (y, mo, d), rows in days.items():
        try:
            naive = pd.Timestamp(year=y, month=mo, day=d)
        except ValueError:
            raise TimeSeriesError(name, "not a date", line=rows[0][0]) from None
        midnight = naive.tz_localize(zone)
        hours = int(((naive + pd.Timedelta(days=1)).tz_localize(zone) - midnight)
                    .total_seconds() // 3600)
        per_hour = len(rows) / hours
        if per_hour not in (1, 4):
            raise TimeSeriesError(name, f"{len(rows)} periods on {y}-{mo:02d}-{d:02d}, a day "
                                  f"of {hours} h in {zone}: neither hourly nor quarter-hourly",
                                  line=rows[0][0])
        step = pd.Timedelta(minutes=60 // int(per_hour))
        if hours != 24:
            findings.append(Finding(
                "dst-spring" if hours == 23 else "dst-autumn", (rows[0][0], rows[-1][0]),
                f"{y}-{mo:02d}-{d:02d} has {hours} h in {zone}: {len(rows)} periods",
                "periods counted in real time from midnight"))
        for number, p, pt, es in rows:
            if not 1 <= p <= len(rows):
                raise TimeSeriesError(name, f"period {p} on a day of {len(rows)} periods",
                                      line=number)
            lines.append(number)
            stamps.append(midnight.tz_convert("UTC") + (p - 1) * step)
            pts.append(pt)
            ess.append(es)
    found = {"price_pt": ("price_pt", "EUR/MWh"), "price_es": ("price_es", "EUR/MWh")}
    chosen = _chosen(mapping, found, name)
    raw = {"price_pt": np.array(pts), "price_es": np.array(ess)}
    return Rows(name, pd.DatetimeIndex(stamps), np.array(lines),
                {k: raw[col] for k, (col, _) in chosen.items()},
                {k: unit for k, (_, unit) in chosen.items()}, zone, "period",
                resolution=step, findings=findings)


READERS = {"entsoe": read_entsoe, "ercot": read_ercot, "omie": read_omie}
"""The market layouts, by ``format``."""
