"""A read time series, and its values at other instants (resampled only as asked)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries.errors import ReadReport, TimeSeriesError
from vpp.physics.timeseries.regular import show_step

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TimeSeries"]

RESAMPLE = ("mean", "first", "interpolate")


@dataclass(frozen=True)
class TimeSeries:
    """Values on UTC instants, in internal units (:mod:`vpp.physics.timeseries.units`).

    Attributes:
        times: UTC instants, each the start of its row's interval, increasing.
        values: each value's numbers, by name.
        units: each value's internal unit (None: as the file had it, unit unknown).
        currency: the prices' currency (None when no value is a price).
        resolution: the spacing of the rows (None for a single row).
        source: the file (or dataset) it came from, for messages.
        report: what the read handled, by line.
        lines: the file's line of each row (0 for a row the reader added for a gap).
        resample: the mapping's ``resample`` (used by :meth:`at` when none is given).
        time_text: each row's time as the file wrote it (when asked for).
    """

    times: pd.DatetimeIndex
    values: dict[str, np.ndarray]
    units: dict[str, str | None]
    currency: str | None
    resolution: pd.Timedelta | None
    source: str
    report: ReadReport
    lines: np.ndarray
    resample: str | None = None
    time_text: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.times)

    @property
    def names(self) -> list[str]:
        """The values' names."""
        return list(self.values)

    def column(self, name: str) -> np.ndarray:
        """The values named ``name``; an error naming it and the names there are (names
        of the mapping or of the layout, never a file's text)."""
        if name not in self.values:
            raise TimeSeriesError(self.source, f"no value {name[:80]!r} (it has: "
                                  f"{', '.join(self.names)})", field="column")
        return self.values[name]

    def window(self, start=None, end=None) -> TimeSeries:
        """The rows from ``start`` through ``end`` (UTC instants or ISO text; inclusive)."""
        import pandas as pd

        def utc(stamp):
            stamp = pd.Timestamp(stamp)
            return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")

        keep = np.ones(len(self.times), dtype=bool)
        if start is not None:
            keep &= np.asarray(self.times >= utc(start))
        if end is not None:
            keep &= np.asarray(self.times <= utc(end))
        text = None if self.time_text is None else tuple(
            t for t, k in zip(self.time_text, keep) if k)
        return replace(self, times=self.times[keep],
                       values={k: v[keep] for k, v in self.values.items()},
                       lines=self.lines[keep], time_text=text)

    def frame(self) -> pd.DataFrame:
        """The series as a DataFrame with a UTC index."""
        import pandas as pd

        return pd.DataFrame(self.values, index=self.times)

    def at(self, name: str, targets, step=None, how: str | None = None) -> np.ndarray:
        """Value ``name`` at each of ``targets`` (UTC instants, evenly ``step`` apart;
        ``step`` defaults to their spacing).

        When the targets lie on the series' own grid the values are taken as they are.
        Otherwise ``how`` (default: the mapping's ``resample``) says how: ``first`` (the
        value in force at each target), ``mean`` (the time-weighted mean over
        ``[target, target + step)``), ``interpolate`` (linear at each target); without it
        the call fails naming both resolutions.

        Raises:
            TimeSeriesError: no ``how`` where one is needed; targets outside the data; a
                target that falls on a missing value.
        """
        import pandas as pd

        values = self.column(name)
        targets = pd.DatetimeIndex(targets)
        targets = targets.tz_convert("UTC") if targets.tz is not None else \
            targets.tz_localize("UTC")
        if step is None:
            step = targets[1] - targets[0] if len(targets) > 1 else self.resolution
        step = pd.Timedelta(step)
        how = how or self.resample
        if how is not None and how not in RESAMPLE:
            raise TimeSeriesError(self.source, f"resample {how[:20]!r} is not one of "
                                  f"{', '.join(RESAMPLE)}", field="resample")
        t = np.asarray(self.times.asi8)
        x = np.asarray(targets.asi8)
        res = self.resolution
        aligned = res is not None and step == res and bool(np.all((x - t[0]) % res.value == 0))
        if aligned:
            index = np.searchsorted(t, x)
            inside = (index < len(t)) & (x >= t[0])
            if inside.all() and np.array_equal(t[index], x):
                return self._finite(values[index], targets)
            if how is None:
                self._cover(targets, x[0] >= t[0] and x[-1] <= t[-1])
        if how is None:
            raise TimeSeriesError(self.source, f"the data's resolution is {show_step(res)} but "
                                  f"{show_step(step)} steps are wanted: say `resample: mean`, "
                                  f"`first` or `interpolate`", field="resample")
        end = t[-1] + (res.value if res is not None else 0)
        if how == "interpolate":
            self._cover(targets, x[0] >= t[0] and x[-1] <= t[-1])
            good = ~np.isnan(values)
            out = np.interp(_seconds(x), _seconds(t), values)
            if not good.all():
                near = np.searchsorted(t, x, side="right") - 1
                out[~good[near] | ~good[np.minimum(near + 1, len(t) - 1)]] = np.nan
            return self._finite(out, targets)
        if how == "first":
            self._cover(targets, x[0] >= t[0] and x[-1] < max(end, t[-1] + 1))
            return self._finite(values[np.searchsorted(t, x, side="right") - 1], targets)
        self._cover(targets, x[0] >= t[0] and x[-1] + step.value <= max(end, t[-1]))
        origin = int(t[0])
        return self._finite(_mean(_seconds(t, origin), values, _seconds(np.array([end]), origin)[0],
                                  _seconds(x, origin), step.total_seconds()), targets)

    def _cover(self, targets, ok: bool) -> None:
        if not ok:
            raise TimeSeriesError(self.source, f"covers {_iso(self.times[0])} to "
                                  f"{_iso(self.times[-1])}, not {_iso(targets[0])} to "
                                  f"{_iso(targets[-1])}", field="horizon")

    def _finite(self, out: np.ndarray, targets) -> np.ndarray:
        bad = ~np.isfinite(out)
        if bad.any():
            first = targets[np.flatnonzero(bad)[0]]
            raise TimeSeriesError(self.source, f"no value at {_iso(first)} (a gap or an empty "
                                  f"cell there)", field="gaps")
        return out


def _seconds(ns: np.ndarray, origin: int = 0) -> np.ndarray:
    """Nanosecond instants as float seconds from ``origin``, exact for whole seconds."""
    rel = np.asarray(ns, dtype=np.int64) - origin
    return (rel // 10**9).astype(float) + (rel % 10**9) / 1e9


def _mean(t: np.ndarray, v: np.ndarray, end: float, x: np.ndarray, step: float) -> np.ndarray:
    """Time-weighted means over ``[x, x + step)`` of the step function ``v`` on ``t``
    (all in seconds)."""
    ends = np.r_[t[1:], end]
    widths = ends - t
    empty = np.isnan(v)
    known = np.where(empty, 0.0, v)
    area = np.r_[0.0, np.cumsum(known * widths)]
    unknown = np.r_[0.0, np.cumsum(empty * widths)]

    def integral(at: np.ndarray, of: np.ndarray, rate: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(t, at, side="right") - 1, 0, len(t) - 1)
        return of[k] + rate[k] * (at - t[k])

    means = (integral(x + step, area, known) - integral(x, area, known)) / step
    holes = integral(x + step, unknown, empty * 1.0) - integral(x, unknown, empty * 1.0)
    return np.where(holes > 0, np.nan, means)


def _iso(stamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
