"""Reading a run's record back as pandas DataFrames (``vpp.open_run``).

Every table is indexed by a tz-aware instant (UTC) and numbers its steps from 0, the same
everywhere: ``steps`` and ``sites`` (each step's start), ``rounds`` and ``messages`` from
the trace (their simulated time; ``step`` is the step during which they happened), the
day-ahead ``positions`` of a market scenario, a backtest's ``equity``, ``trades`` and
``rejections``, and any other CSV of the run through :meth:`RunRecordReader.table`. See
``docs/architecture.md`` (the run record).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

from vpp.runs.record.manifest import MANIFEST, Manifest, read_manifest


class RunRecordReader:
    """A run directory, read-only.

    Args:
        run_dir: the run's directory.

    Raises:
        FileNotFoundError: the directory holds no ``manifest.json``.
    """

    def __init__(self, run_dir: Path | str) -> None:
        self.dir = Path(run_dir)
        if not (self.dir / MANIFEST).is_file():
            raise FileNotFoundError(f"{self.dir}: no run record here (no {MANIFEST})")

    @cached_property
    def manifest(self) -> Manifest:
        """What the run was: mode, placement, resolved scenario, seed, versions, status."""
        return read_manifest(self.dir)

    @property
    def summary(self) -> dict[str, Any]:
        """The run's totals (empty while the run has not ended)."""
        path = self.dir / "summary.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def _table(self, name: str):
        import pandas as pd

        path = self.dir / f"{name}.csv"
        if not path.is_file() or path.stat().st_size == 0:
            return pd.DataFrame()
        frame = pd.read_csv(path)
        frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
        return frame.set_index("time")

    @property
    def steps(self):
        """One row per step (``step`` from 0), indexed by the step's start (UTC)."""
        return self._table("steps")

    @property
    def sites(self):
        """One row per site and step, indexed by the step's start (UTC)."""
        return self._table("sites")

    # -- time and steps, shared by every table -----------------------------------------

    @cached_property
    def _step_starts(self):
        """Each step's start (UTC), from ``steps.csv``; empty before the first step."""
        import pandas as pd

        path = self.dir / "steps.csv"
        if not path.is_file() or path.stat().st_size == 0:
            return pd.DatetimeIndex([], tz="UTC")
        return pd.DatetimeIndex(pd.to_datetime(pd.read_csv(path, usecols=["time"])["time"],
                                               utc=True, format="ISO8601"))

    @cached_property
    def start(self):
        """The run's start (a tz-aware ``pandas.Timestamp``): its first step's start, else
        the scenario's ``start``, else the backtest's first hour."""
        import pandas as pd

        if len(self._step_starts):
            return self._step_starts[0]
        for value in (self.manifest.scenario.get("start"), self.summary.get("first")):
            if value:
                return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo \
                    else pd.Timestamp(value, tz="UTC")
        raise ValueError(f"{self.dir}: the run has no start (no step recorded, no start in "
                         "its scenario)")

    @cached_property
    def _clock(self):
        from vpp.runs.record.trace_frames import StepClock

        starts = self._step_starts
        if len(starts):
            offsets = [(t - starts[0]).total_seconds() for t in starts]
        else:
            minutes = self.manifest.scenario.get("step_minutes") or 60
            steps = self.manifest.scenario.get("steps") or 0
            offsets = [60.0 * minutes * k for k in range(steps)]
        return StepClock(self.start, offsets)

    def step_of(self, seconds: float) -> int | None:
        """The step (from 0) during which ``seconds`` after the start fall."""
        return self._clock.step(seconds)

    # -- the trace ---------------------------------------------------------------------

    @contextmanager
    def _trace(self):
        from vpp.agents.runtime.trace_reader import TraceReader

        trace = TraceReader(self.dir)
        try:
            yield trace
        finally:
            trace.close()

    @cached_property
    def trace_level(self) -> dict[str, Any]:
        """How much of the traffic the trace holds: ``level`` (``full``, ``rounds``,
        ``sample:N``), ``sites`` (the fleet's size), ``sampled`` (the sites a
        ``sample:N`` trace keeps, from the manifest; else None) and ``note`` (what is
        missing: ``messages not recorded at trace level rounds``, ``sampled: N of M
        sites``; None at ``full``). :attr:`messages` then holds only what was recorded,
        and says so in its frame's ``attrs["trace_note"]``; :attr:`message_counts` counts
        every message whatever the level."""
        details = self.manifest.details
        with self._trace() as trace:
            level = trace.level()
        if "trace" in details:
            level["level"] = details["trace"]
        level["sites"] = details.get("trace_sites", level["sites"])
        level["sampled"] = details.get("trace_sampled")
        from vpp.agents.runtime.trace_reader import level_note

        level["note"] = level_note(level["level"], level["sites"])
        return level

    @property
    def message_counts(self):
        """Messages per kind and direction (``send``, ``recv``, ``drop``): ``recorded``
        (rows of :attr:`messages`) and ``total`` (with those a trace level only counted).

        Raises:
            vpp.agents.runtime.trace_reader.TraceError: the run has no trace.
        """
        import pandas as pd

        with self._trace() as trace:
            total = trace.message_counts()
            unrecorded = trace.unrecorded_counts()
        rows = [(kind, direction, n - unrecorded.get((kind, direction), 0), n)
                for (kind, direction), n in sorted(total.items(), key=str)]
        return pd.DataFrame(rows, columns=["kind", "direction", "recorded", "total"])

    def rounds_at(self, step: int | None = None):
        """The negotiation rounds (see :attr:`rounds`), of one step only with ``step``."""
        from vpp.runs.record.trace_frames import rounds_frame

        with self._trace() as trace:
            return rounds_frame(trace, self._clock, step)

    @property
    def rounds(self):
        """One row per negotiation round of every protocol (merit order's bid and award
        phases, ADMM iterations, auctions, frequency samples), indexed by simulated time:
        ``step``, ``conversation``, ``protocol``, ``round``, its values (target, served,
        price, residuals, step size, bids, awards, declines), ``detail``, ``host``.

        Raises:
            vpp.agents.runtime.trace_reader.TraceError: the run has no trace.
        """
        return self.rounds_at()

    def iter_messages(self, *, agent: str | None = None, kind: str | None = None,
                      direction: str | None = None, step: int | None = None,
                      limit: int | None = None, offset: int = 0, page_rows: int = 50_000,
                      bodies: bool = True) -> Iterator[Any]:
        """Message events page by page: DataFrames of at most ``page_rows`` rows, read as
        they are asked for (a large run's trace never has to fit in memory). Filters and
        columns as :meth:`messages`."""
        from vpp.runs.record.trace_frames import message_pages

        with self._trace() as trace:
            note = trace.level()["note"]
            for frame in message_pages(trace, self._clock, agent=agent, kind=kind,
                                       direction=direction, step=step, limit=limit,
                                       offset=offset, page_rows=page_rows, bodies=bodies):
                frame["step"] = frame["step"].astype("Int64")
                frame.attrs["trace_note"] = note
                yield frame

    def messages(self, *, agent: str | None = None, kind: str | None = None,
                 direction: str | None = None, step: int | None = None,
                 limit: int | None = None, offset: int = 0, bodies: bool = True):
        """Message events (sent, received, dropped) in the order they happened, as one
        DataFrame indexed by simulated time: ``step``, ``wall_time``, ``host``,
        ``direction``, ``kind``, ``sender``, ``receiver``, ``conversation``, ``round``,
        ``size``, ``body`` (decoded, unless ``bodies=False``), ``error``. Only what the
        run's trace level recorded (:attr:`trace_level`): the frame's
        ``attrs["trace_note"]`` says what is missing (None when nothing is).

        Args:
            agent: an agent's name (``hydro``) or address (``sites/hydro``), as sender or
                receiver.
            kind: a message kind (``Bid``).
            direction: ``send``, ``recv`` or ``drop``.
            step: the step (from 0) during which they happened.
            limit, offset: a page of the filtered events (``offset`` skipped, at most
                ``limit`` given); :meth:`iter_messages` reads them page by page instead.

        Raises:
            vpp.agents.runtime.trace_reader.TraceError: the run has no trace.
        """
        import pandas as pd

        from vpp.runs.record.trace_frames import MESSAGE_COLUMNS

        pages = list(self.iter_messages(agent=agent, kind=kind, direction=direction,
                                        step=step, limit=limit, offset=offset,
                                        bodies=bodies))
        if not pages:
            frame = pd.DataFrame(columns=list(MESSAGE_COLUMNS),
                                 index=pd.DatetimeIndex([], tz="UTC", name="time"))
        else:
            frame = pages[0] if len(pages) == 1 else pd.concat(pages)
        frame.attrs["trace_note"] = self.trace_level["note"]
        return frame

    # -- the modes' own tables ---------------------------------------------------------

    @property
    def positions(self):
        """A market scenario's day-ahead position per hour: ``hour``, ``step``, the
        clearing price, ``sold_mw``, ``bought_mw``, ``net_mw``, ``cash_eur`` (empty for a
        run without a day-ahead market)."""
        from vpp.runs.record.mode_tables import positions_frame

        return positions_frame(self.summary, self.start, self.step_of)

    @property
    def equity(self):
        """A backtest's equity and stored energy per trader at each step's start (the last
        row: the end), with ``step``."""
        from vpp.runs.record.mode_tables import equity_frame

        return equity_frame(self.dir)

    @property
    def trades(self):
        """A backtest's fills: ``step`` (the hour decided), ``trader``, ``market``,
        ``delivery_step``, ``delivery_time``, ``side``, ``quantity_mw``, the price, the
        fee; indexed by the start of the hour decided."""
        from vpp.runs.record.mode_tables import orders_frame

        return orders_frame(self.dir, "trades", self.start)

    @property
    def rejections(self):
        """A backtest's orders stopped by a limit: as :attr:`trades`, with ``limit`` and
        ``reason`` instead of the price and fee."""
        from vpp.runs.record.mode_tables import orders_frame

        return orders_frame(self.dir, "rejections", self.start)

    def table(self, name: str):
        """Any CSV table of the run by name (``timeline``, ``delivery``, ``voltage``,
        ``inverters``, ...), indexed by its time (or the start plus its ``t_s``)."""
        from vpp.runs.record.mode_tables import csv_frame

        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"table: {name!r} is a table's name, not a path")
        return csv_frame(self.dir, name, self.start, self.step_of)

    def __repr__(self) -> str:
        m = self.manifest
        return (f"<run {self.dir} {m.mode} ({m.placement}) {m.scenario_name!r} seed {m.seed}: "
                f"{m.status}>")
