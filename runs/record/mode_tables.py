"""The tables some modes add to their run record, as pandas DataFrames with a tz-aware time
index and ``step`` numbered from 0 as in ``steps.csv``:

- a market scenario's day-ahead positions (``summary.json``'s ``market.day_ahead.hours``);
- a backtest's ``equity.csv``, ``trades.csv`` and ``rejections.csv`` (a backtest's step is
  one hour of trading; a trade is indexed by the hour it was decided in);
- any other CSV of the run (``timeline.csv``, ``delivery.csv``, ``voltage.csv``, ...):
  indexed by its ``time`` or ``timestamp_utc`` column, or by the run's start plus its
  ``t_s`` (seconds), when it has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _read_csv(path: Path):
    import pandas as pd

    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path)


def positions_frame(summary: dict[str, Any], start, step_of):
    """The day-ahead position of each hour: ``hour``, ``step`` (the step starting at that
    hour), the clearing price, ``sold_mw``, ``bought_mw``, ``net_mw`` (sold less bought)
    and ``cash_eur``, indexed by the hour's start; empty for a run without a day-ahead
    market."""
    import pandas as pd

    hours = ((summary.get("market") or {}).get("day_ahead") or {}).get("hours") or []
    frame = pd.DataFrame(hours)
    if frame.empty:
        return frame
    frame.index = pd.DatetimeIndex(start + pd.to_timedelta(frame["hour"], unit="h"),
                                   name="time")
    frame.insert(1, "step", [step_of(3600.0 * h) for h in frame["hour"]])
    frame.insert(frame.columns.get_loc("bought_mw") + 1, "net_mw",
                 frame["sold_mw"] - frame["bought_mw"])
    return frame


def equity_frame(run_dir: Path):
    """A backtest's equity and stored energy per trader at the start of each step (the
    last row is the end of the last step): ``step``, then ``TRADER_equity_eur`` and
    ``TRADER_energy_mwh``, indexed by the instant."""
    import pandas as pd

    frame = _read_csv(run_dir / "equity.csv")
    if frame.empty:
        return frame
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp_utc"), utc=True,
                                                          format="ISO8601"),
                                   name="time")
    frame.insert(0, "step", range(len(frame)))
    return frame


def orders_frame(run_dir: Path, name: str, first):
    """A backtest's ``trades.csv`` or ``rejections.csv``: one row per order, indexed by the
    start of the hour it was decided in; ``step`` is that hour (from 0),
    ``delivery_step`` the hour delivered and ``delivery_time`` its start."""
    import pandas as pd

    frame = _read_csv(run_dir / f"{name}.csv")
    if frame.empty:
        return frame
    decided = frame.pop("decided_hour")
    delivery = frame.pop("delivery_hour")
    frame.index = pd.DatetimeIndex(first + pd.to_timedelta(decided, unit="h"), name="time")
    frame.insert(0, "step", decided.to_numpy())
    frame.insert(frame.columns.get_loc("market") + 1, "delivery_step", delivery.to_numpy())
    frame.insert(frame.columns.get_loc("delivery_step") + 1, "delivery_time",
                 first + pd.to_timedelta(delivery.to_numpy(), unit="h"))
    return frame


def csv_frame(run_dir: Path, name: str, start, step_of):
    """Any CSV of the run as a DataFrame indexed by time (see the module's text); a
    ``step`` column is added from the time where the table has none."""
    import pandas as pd

    frame = _read_csv(run_dir / (name if name.endswith(".csv") else f"{name}.csv"))
    if frame.empty:
        return frame
    for column in ("time", "timestamp_utc"):
        if column in frame.columns:
            frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop(column), utc=True,
                                                          format="ISO8601"),
                                           name="time")
            break
    else:
        if "t_s" in frame.columns:
            frame.index = pd.DatetimeIndex(start + pd.to_timedelta(frame["t_s"], unit="s"),
                                           name="time")
            if "step" not in frame.columns:
                frame.insert(0, "step", [step_of(t) for t in frame["t_s"]])
    return frame
