"""Rows onto one time grid: order, duplicates, resolution, gaps and empty cells, each
handled as the mapping says and reported by line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries.errors import Finding, TimeSeriesError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["regularize", "parse_resolution"]

_SHOWN = 20
"""At most this many lines are listed in one finding."""


def parse_resolution(text: str | None, file: str):
    """``1h``, ``15min``, ``PT15M``... as a Timedelta (None stays None)."""
    import pandas as pd

    if text is None:
        return None
    try:
        step = pd.Timedelta(text)
    except ValueError:
        raise TimeSeriesError(file, f"resolution {text[:40]!r} is not a duration such as 1h "
                              f"or 15min (`resolution`)", field="resolution") from None
    if step <= pd.Timedelta(0):
        raise TimeSeriesError(file, "resolution must be above zero (`resolution`)",
                              field="resolution")
    return step


def show_step(step) -> str:
    """A spacing as people write it: ``1 h``, ``15 min``, ``2 s`` (``irregular`` for None)."""
    import pandas as pd

    if step is None:
        return "irregular"
    seconds = pd.Timedelta(step).total_seconds()
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _lines(lines) -> tuple[int, ...]:
    return tuple(int(x) for x in list(lines)[:_SHOWN])


def _stamp(ns: int) -> str:
    import pandas as pd

    return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%dT%H:%MZ")


def regularize(stamps: pd.DatetimeIndex, lines: np.ndarray, values: dict[str, np.ndarray],
               *, file: str, column: str, resolution, duplicates: str, gaps: str,
               findings: list[Finding]):
    """Sort, merge duplicates, find the resolution, handle gaps and empty cells.

    Returns:
        ``(stamps, lines, values, resolution)``: UTC instants, each row's line (0 for a
        row the reader added), the values, the spacing (None for fewer than two rows).
    """
    import pandas as pd

    t = np.asarray(stamps.asi8)
    _check_order(t, lines, file, column)
    order = np.argsort(t, kind="stable")
    t, lines = t[order], lines[order]
    values = {k: v[order] for k, v in values.items()}
    t, lines, values = _duplicates(t, lines, values, file, column, duplicates, findings)
    step = resolution.value if resolution is not None else _most_common(t)
    if step is not None:
        t, lines, values = _gaps(t, lines, values, step, file, column, gaps, findings)
    values = _empty_cells(t, lines, values, file, gaps, findings)
    return (pd.DatetimeIndex(t, tz="UTC"), lines, values,
            None if step is None else pd.Timedelta(step, unit="ns"))


def _check_order(t: np.ndarray, lines: np.ndarray, file: str, column: str) -> None:
    if len(t) < 2:
        return
    latest = np.maximum.accumulate(t)
    back = np.flatnonzero(t[1:] < latest[:-1]) + 1
    if len(back) == 0:
        return
    earlier: dict[int, int] = {}
    going_back = set(back.tolist())
    for i, x in enumerate(t):
        if i in going_back and int(x) not in earlier:
            raise TimeSeriesError(file, "the time goes back (rows must be in time order; "
                                  "a repeated time is a duplicate)", line=int(lines[i]),
                                  column=column)
        earlier.setdefault(int(x), i)


def _duplicates(t, lines, values, file, column, policy, findings):
    same = np.flatnonzero(np.diff(t) == 0)
    if len(same) == 0:
        return t, lines, values
    starts = np.flatnonzero(np.r_[True, np.diff(t) != 0])
    ends = np.r_[starts[1:], len(t)]
    groups = [(s, e) for s, e in zip(starts, ends) if e - s > 1]
    for s, e in groups:
        if policy == "error":
            raise TimeSeriesError(file, f"lines {', '.join(map(str, _lines(lines[s:e])))} are "
                                  f"at the same instant {_stamp(t[s])} (say `duplicates: "
                                  f"first`, `last` or `mean`)", column=column,
                                  field="duplicates")
        findings.append(Finding("duplicate", _lines(lines[s:e]),
                                f"{e - s} rows at {_stamp(t[s])}", f"kept the {policy}"
                                if policy != "mean" else "took their mean", column))
    pick = starts if policy in ("first", "mean") else ends - 1
    out = {}
    for k, v in values.items():
        if policy == "mean":
            with np.errstate(invalid="ignore"):
                sums = np.add.reduceat(np.nan_to_num(v), starts)
                counts = np.add.reduceat(~np.isnan(v), starts)
                out[k] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        else:
            out[k] = v[pick]
    return t[pick], lines[pick], out


def _most_common(t: np.ndarray) -> int | None:
    steps = np.diff(t)
    steps = steps[steps > 0]
    if len(steps) == 0:
        return None
    found, counts = np.unique(steps, return_counts=True)
    return int(found[np.argmax(counts)])


def _gaps(t, lines, values, step, file, column, policy, findings):
    import pandas as pd

    diffs = np.diff(t)
    off = np.flatnonzero((diffs % step) != 0)
    if len(off):
        i = int(off[0])
        grid = show_step(pd.Timedelta(step, unit="ns"))
        raise TimeSeriesError(file, f"off the {grid} grid of the rows before it (give "
                              f"`resolution`, or fix the time)",
                              line=int(lines[i + 1]), column=column, field="resolution")
    holes = np.flatnonzero(diffs > step)
    if len(holes) == 0:
        return t, lines, values
    for i in holes:
        missing = int(diffs[i] // step) - 1
        finding = Finding("gap", (int(lines[i]), int(lines[i + 1])),
                          f"{missing} step{'s' if missing > 1 else ''} of "
                          f"{show_step(pd.Timedelta(step, unit='ns'))} missing "
                          + (f"at {_stamp(t[i] + step)}" if missing == 1 else
                             f"from {_stamp(t[i] + step)} to {_stamp(t[i + 1] - step)}"),
                          "kept as is" if policy == "keep" else
                          "added as NaN" if policy == "nan" else f"filled ({policy})", column)
        if policy == "error":
            raise TimeSeriesError(file, f"{finding.detail} before this line ({len(holes)} "
                                  f"gap{'s' if len(holes) > 1 else ''} in all; say `gaps: "
                                  f"keep`, `nan`, `interpolate` or `hold`)",
                                  line=int(lines[i + 1]), column=column, field="gaps")
        findings.append(finding)
    if policy == "keep":
        return t, lines, values
    grid = np.arange(t[0], t[-1] + step, step)
    where = ((t - t[0]) // step).astype(int)
    full_lines = np.zeros(len(grid), dtype=lines.dtype)
    full_lines[where] = lines
    out = {}
    for k, v in values.items():
        col = np.full(len(grid), np.nan)
        col[where] = v
        out[k] = col
    return grid, full_lines, out


def _empty_cells(t, lines, values, file, policy, findings):
    out = {}
    for k, v in values.items():
        empty = np.isnan(v) & (lines > 0)
        if empty.any():
            if policy == "error":
                raise TimeSeriesError(file, f"an empty cell ({int(empty.sum())} in this "
                                      f"column; say `gaps: keep`, `nan`, `interpolate` or "
                                      f"`hold`)", line=int(lines[np.flatnonzero(empty)[0]]),
                                      column=k, field="gaps")
            findings.append(Finding("missing", _lines(lines[empty]),
                                    f"{int(empty.sum())} empty cell(s)",
                                    "left as NaN" if policy in ("keep", "nan")
                                    else f"filled ({policy})", k))
        out[k] = _fill(t, v, policy, file, k, lines) if policy in ("interpolate", "hold") \
            else v
    return out


def _fill(t, v, policy, file, name, lines):
    known = ~np.isnan(v)
    if known.all():
        return v
    if not known.any():
        raise TimeSeriesError(file, "no value at all to fill from", column=name)
    first = int(np.flatnonzero(known)[0])
    if first > 0 or (policy == "interpolate" and not known[-1]):
        edge = 0 if first > 0 else len(v) - 1
        line = int(lines[edge]) or None
        raise TimeSeriesError(file, f"an empty value at the {'start' if first > 0 else 'end'}"
                              f" cannot be filled by {policy}", line=line, column=name,
                              field="gaps")
    if policy == "interpolate":
        return np.interp(t.astype(float), t[known].astype(float), v[known])
    index = np.maximum.accumulate(np.where(known, np.arange(len(v)), 0))
    return v[index]
