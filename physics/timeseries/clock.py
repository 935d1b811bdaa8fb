"""Times: parsing, and local times made UTC with both DST changes handled.

Naive local times (written without an offset) are placed in the mapping's zone:

- **spring** (clocks go forward): the skipped local hour does not exist. A file that skips
  it is fine (reported as a ``dst-spring`` finding on the first line after the change). A
  row that names a skipped time is dropped and reported when all its values are empty (as
  some exports write it), and is an error naming its line otherwise.
- **autumn** (clocks go back): a local hour happens twice. Its rows are told apart by an
  explicit marker when the layout has one (ENTSO-E's ``(CEST)``/``(CET)``), else by their
  order in the file: the first is summer time, the second winter time (reported as a
  ``dst-autumn`` finding naming both lines). A third row at that local time is a duplicate.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries.errors import Finding, TimeSeriesError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_zone", "localize", "parse_times"]

_ZONED = re.compile(r"(?:Z|[+-]\d\d:?\d\d)\s*$")


def check_zone(name: str, file: str) -> str:
    """``name`` if it is an IANA time zone, else an error naming ``time_zone``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise TimeSeriesError(file, f"unknown time zone {name[:60]!r} (`time_zone`; an IANA "
                              f"name such as Europe/Berlin or America/Chicago)",
                              field="time_zone") from None
    return name


def parse_times(cells: pd.Series, lines: np.ndarray, file: str, column: str,
                time_format: str | None = None) -> pd.DatetimeIndex:
    """``cells`` (text, or already times) as a DatetimeIndex: naive when the file writes no
    offset, UTC when every time has one. A cell that is not a time, or a file that writes
    an offset on some rows only, is an error naming the line."""
    import pandas as pd

    if cells.dtype.kind == "M":
        index = pd.DatetimeIndex(cells)
        return index.tz_convert("UTC") if index.tz is not None else index
    text = cells.astype(str).str.strip()
    if time_format is None:
        zoned = text.str.contains(_ZONED).to_numpy()
        if zoned.any() and not zoned.all():
            first = int(np.flatnonzero(zoned != zoned[0])[0])
            raise TimeSeriesError(file, "some times carry a UTC offset and some do not",
                                  line=int(lines[first]), column=column)
        stamps = pd.to_datetime(text, format="ISO8601", utc=bool(zoned.any()),
                                errors="coerce")
    else:
        stamps = pd.to_datetime(text, format=time_format, errors="coerce")
        if stamps.dt.tz is not None:
            stamps = stamps.dt.tz_convert("UTC")
    bad = stamps.isna().to_numpy()
    if bad.any():
        how = f"the format {time_format[:40]!r}" if time_format else "ISO 8601"
        raise TimeSeriesError(file, f"a value that is not a time in {how} (`time_format`)",
                              line=int(lines[np.flatnonzero(bad)[0]]), column=column)
    return pd.DatetimeIndex(stamps)


def localize(naive: pd.DatetimeIndex, zone: str, lines: np.ndarray, file: str, column: str,
             empty: np.ndarray, summer: np.ndarray | None = None
             ) -> tuple[pd.DatetimeIndex, np.ndarray, list[Finding]]:
    """Naive local times in ``zone`` as UTC instants.

    Args:
        empty: per row, True when every value of the row is missing (a row for a skipped
            spring time may then be dropped).
        summer: per row, True (summer time), False (winter time) or None (unknown), from a
            marker in the file; unknown rows of a repeated hour go by their order.

    Returns:
        The UTC instants of the rows kept, the mask of rows kept, and the findings.
    """
    import pandas as pd

    n = len(naive)
    early = naive.tz_localize(zone, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT")
    late = naive.tz_localize(zone, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT")
    skipped = np.asarray(early.isna())
    repeated = ~skipped & np.asarray(early != late)
    findings: list[Finding] = []
    keep = ~skipped
    for i in np.flatnonzero(skipped):
        when = naive[i].strftime("%Y-%m-%d %H:%M")
        if not empty[i]:
            raise TimeSeriesError(file, f"{when} does not exist in {zone} (clocks go "
                                  f"forward); give the time in UTC or with its offset",
                                  line=int(lines[i]), column=column)
        findings.append(Finding("dst-spring", (int(lines[i]),), f"{when} does not exist in "
                                f"{zone} (clocks go forward) and the row has no values",
                                "row dropped", column))
    choose_early = np.zeros(n, dtype=bool)
    if repeated.any():
        seen: dict[object, list[int]] = {}
        for i in np.flatnonzero(repeated):
            seen.setdefault(naive[i], []).append(int(i))
        for stamp, rows in seen.items():
            marked = [summer[i] if summer is not None else None for i in rows]
            for k, i in enumerate(rows):
                choose_early[i] = marked[k] if marked[k] is not None else k == 0
            text = stamp.strftime("%Y-%m-%d %H:%M")
            how = "by its marker" if any(m is not None for m in marked) else \
                "by order: the first is summer time"
            findings.append(Finding(
                "dst-autumn", tuple(int(lines[i]) for i in rows),
                f"{text} happens twice in {zone} (clocks go back)"
                + ("" if len(rows) > 1 else "; only one row has it"),
                f"told apart {how}" if len(rows) > 1 else "read as summer time", column))
    utc = np.where(choose_early, np.asarray(early.tz_convert("UTC").asi8),
                   np.asarray(late.tz_convert("UTC").asi8))
    stamps = pd.DatetimeIndex(utc[keep], tz="UTC")
    _spring_skips(naive[keep], stamps, lines[keep], zone, column, findings)
    return stamps, keep, findings


def _spring_skips(naive: pd.DatetimeIndex, utc: pd.DatetimeIndex, lines: np.ndarray,
                  zone: str, column: str, findings: list[Finding]) -> None:
    """A ``dst-spring`` finding where local time jumps further than UTC between rows."""
    if len(naive) < 2:
        return
    local_step = np.diff(np.asarray(naive.asi8))
    utc_step = np.diff(np.asarray(utc.asi8))
    for i in np.flatnonzero(local_step > utc_step):
        if utc_step[i] <= 0:
            continue
        findings.append(Finding(
            "dst-spring", (int(lines[i]), int(lines[i + 1])),
            f"local time skips from {naive[i].strftime('%Y-%m-%d %H:%M')} to "
            f"{naive[i + 1].strftime('%H:%M')} in {zone} (clocks go forward)",
            "no gap in UTC", column))
