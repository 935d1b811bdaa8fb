"""The per-step tables of a run, streamed to disk as the run goes, and the record that
holds them with the manifest and the summary.

A table's first row fixes its columns: ``step`` (from 0), ``time`` (the step's start
instant, ISO 8601 UTC), then the mode's own columns in the order the mode gave them. Each
step's rows are flushed before the next step starts, so a run that is interrupted keeps
every step it finished, and nothing is held in memory (a year of steps costs no more than
one).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from vpp.runs.record.columns import Columns
from vpp.runs.record.manifest import Manifest, now_utc, write_manifest


class RecordError(OSError):
    """The run record could not be written (a full disk, a folder that went away); the
    message names the file."""


_PLAIN = frozenset({str, int, bool, type(None)})
"""Cell types the csv module writes as :func:`_cell` gives them (None as an empty cell)."""
_NUMBERS = frozenset({float, int, bool})
_QUOTED = (",", '"', "\r", "\n")
"""What makes the csv module quote a field (the excel dialect's delimiter, quote and line
ends)."""

_CELLS, _CSV, _TEXT = 0, 1, 2
"""How a column is written: each cell through :func:`_cell`, as it is through the csv
module, or as ``str(cell)`` (what the csv module writes for it, found without it)."""


def _column_kind(values: Sequence[Any]) -> int:
    """How a column is written, the same bytes whichever way: ``_TEXT`` for whole numbers,
    floats none of which is NaN or infinite (their sum is then finite: a sum that is not
    goes through :func:`_cell`), and strings the csv module does not quote; ``_CSV`` for
    other plain cells (None, strings it quotes); ``_CELLS`` for anything else (a NaN, a
    list, a float subclass)."""
    types = set(map(type, values))
    if types <= _NUMBERS:
        try:
            return _TEXT if math.isfinite(sum(values)) else _CELLS
        except OverflowError:
            return _CELLS
    if not types <= _PLAIN:
        return _CELLS
    if types == {str}:
        text = "".join(values)
        return _CSV if any(q in text for q in _QUOTED) else _TEXT
    return _CSV if type(None) in types or str in types else _TEXT


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else ("" if math.isnan(value) else str(value))
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return "" if value is None else value


class StepTable:
    """One CSV table of a run, written row by row.

    Args:
        path: the file (created, or replaced).
        keys: the columns that lead every row after ``step`` and ``time`` (e.g. ``site``).
    """

    def __init__(self, path: Path, keys: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self.keys = tuple(keys)
        self.columns: tuple[str, ...] | None = None
        self.rows = 0
        try:
            self._file: io.TextIOWrapper | None = open(self.path, "w", newline="",
                                                       encoding="utf-8")
        except OSError as exc:
            raise RecordError(exc.errno, f"cannot write {self.path}: {exc.strerror}") from None
        self._writer = csv.writer(self._file)

    def write(self, step: int, time: datetime, row: Mapping[str, Any]) -> None:
        """Append one row (its columns must be the first row's)."""
        if self.columns is None:
            self.columns = tuple(k for k in row if k not in self.keys)
            self._put(["step", "time", *self.keys, *self.columns])
        elif len(row) != len(self.keys) + len(self.columns):
            extra = sorted(set(row) - set(self.keys) - set(self.columns))
            raise ValueError(f"{self.path.name}: step {step} has columns "
                             f"{extra or sorted(row)} the first row did not")
        self._put([step, time.isoformat(), *(_cell(row[k]) for k in self.keys),
                   *(_cell(row[c]) for c in self.columns)])
        self.rows += 1

    def write_many(self, step: int, time: datetime, rows: Sequence[Mapping[str, Any]],
                   ) -> None:
        """Append several rows of one step (as many :meth:`write` calls, in one write):
        mappings, or :class:`~vpp.runs.record.columns.Columns`, written column by column
        with no per-cell Python call (the same bytes)."""
        if not rows:
            return
        if self.columns is None:
            self.write(step, time, rows[0])
            rows = rows[1:]
            if not rows:
                return
        names = (*self.keys, *self.columns)
        if isinstance(rows, Columns):
            if len(rows.columns) == len(names) and all(n in rows.columns for n in names):
                self._write_columns(step, time, [rows.columns[n] for n in names], len(rows))
                return
            rows = list(rows)  # the row-by-row path names the columns
        lengths = set(map(len, rows))
        if lengths == {len(names)}:
            try:
                values = list(map(itemgetter(*names), rows))
            except KeyError:
                values = None  # the row-by-row path writes the rows before it and raises
            if values is not None:
                cols = list(zip(*values)) if len(names) > 1 else [values]
                self._write_columns(step, time, cols, len(rows))
                return
        self._write_rows(step, time, rows)

    def _write_columns(self, step: int, time: datetime, cols: list[Sequence[Any]],
                       n: int) -> None:
        """Write ``n`` rows given as the columns after ``step`` and ``time``: formatted
        as text when every column can be (:func:`_column_kind`), else through the csv
        module, each cell of a column that needs it through :func:`_cell`."""
        kinds = list(map(_column_kind, cols))
        rows = zip(repeat(step, n), repeat(time.isoformat(), n),
                   *[c if kind else list(map(_cell, c)) for c, kind in zip(cols, kinds)])
        try:
            if self._file is not None and _CELLS not in kinds and _CSV not in kinds:
                line = ",".join(["%s"] * (len(cols) + 2)) + "\r\n"  # the csv module's
                self._file.write("".join(map(line.__mod__, rows)))
            else:
                self._writer.writerows(rows)
        except OSError as exc:
            raise RecordError(exc.errno, f"cannot write {self.path}: "
                                         f"{exc.strerror}") from None
        self.rows += n

    def _write_rows(self, step: int, time: datetime, rows: Sequence[Mapping[str, Any]],
                    ) -> None:
        """Write ``rows`` row by row: the rows before a bad one are written, and the bad
        one raises (naming its columns, or its missing key)."""
        stamp, keys, columns = time.isoformat(), self.keys, self.columns
        width = len(keys) + len(columns)
        cells: list[list] = []
        try:
            for row in rows:
                if len(row) != width:
                    break
                cells.append([step, stamp, *[_cell(row[k]) for k in keys],
                              *[_cell(row[c]) for c in columns]])
        finally:  # the rows before a bad one are kept, as row-by-row writes keep them
            try:
                self._writer.writerows(cells)
            except OSError as exc:
                raise RecordError(exc.errno, f"cannot write {self.path}: "
                                             f"{exc.strerror}") from None
            self.rows += len(cells)
        if len(cells) < len(rows):
            self.write(step, time, rows[len(cells)])  # raises, naming the columns

    def _put(self, cells: list) -> None:
        try:
            self._writer.writerow(cells)
        except OSError as exc:
            raise RecordError(exc.errno, f"cannot write {self.path}: {exc.strerror}") from None

    def flush(self) -> None:
        """Push what was written to the operating system."""
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                raise RecordError(exc.errno, f"cannot write {self.path}: "
                                             f"{exc.strerror}") from None

    def close(self) -> None:
        """Flush and close the file (idempotent)."""
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                raise RecordError(exc.errno, f"cannot write {self.path}: "
                                             f"{exc.strerror}") from None
            finally:
                self._file = None


class RunRecord:
    """The record of one run in its directory: the manifest, the step and site tables,
    the summary.

    Args:
        run_dir: the run's directory (created if needed).
        manifest: what the run is; written at once with status ``running``.
    """

    def __init__(self, run_dir: Path | str, manifest: Manifest) -> None:
        self.dir = Path(run_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordError(exc.errno, f"cannot make the run directory {self.dir}: "
                                         f"{exc.strerror}") from None
        self.manifest = manifest
        self.manifest.tables = {"steps": "steps.csv", "sites": "sites.csv"}
        self._write_manifest()
        self.steps = StepTable(self.dir / "steps.csv")
        self.sites = StepTable(self.dir / "sites.csv", keys=("site",))

    def _write_manifest(self) -> None:
        try:
            write_manifest(self.dir, self.manifest)
        except OSError as exc:
            raise RecordError(exc.errno, f"cannot write {self.dir / 'manifest.json'}: "
                                         f"{exc.strerror}") from None

    def step(self, k: int, time: datetime, row: Mapping[str, Any],
             sites: Sequence[Mapping[str, Any]] = ()) -> None:
        """Record step ``k``: its row and one row per site (each with a ``site`` key)."""
        self.steps.write(k, time, row)
        self.sites.write_many(k, time, sites)
        self.steps.flush()
        self.sites.flush()

    def finish(self, summary: Mapping[str, Any], *, error: str | None = None) -> None:
        """Close the tables, write ``summary.json`` and mark the manifest finished (or
        failed, with ``error``)."""
        self.close_tables()
        try:
            (self.dir / "summary.json").write_text(json.dumps(summary, indent=2,
                                                              default=str) + "\n")
        except OSError as exc:
            raise RecordError(exc.errno, f"cannot write {self.dir / 'summary.json'}: "
                                         f"{exc.strerror}") from None
        self.mark(error)

    def mark(self, error: str | None) -> None:
        """Mark the manifest finished, or failed with ``error``."""
        self.manifest.finished_utc = now_utc()
        self.manifest.status = "failed" if error else "finished"
        self.manifest.error = error
        self._write_manifest()

    def close_tables(self) -> None:
        """Close both tables (idempotent)."""
        try:
            self.steps.close()
        finally:
            self.sites.close()
