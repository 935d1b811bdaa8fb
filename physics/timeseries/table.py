"""Reading a file's cells within bounds: CSV (every cell as text, so that numbers, missing
markers and errors stay ours) or Parquet (with ``pyarrow``, optional).

Errors never quote the file: a column is named by the mapping's name for it, a cell by its
line, never by its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from vpp.physics.timeseries.errors import TimeSeriesError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ROWS", "Table", "numbers", "read_table"]

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
"""The largest file read when the caller gives no cap (a scenario gives its own)."""
DEFAULT_MAX_ROWS = 5_000_000
"""The most rows read (ten years of minutes)."""


@dataclass
class Table:
    """A file's cells: ``frame`` (text cells for CSV, typed for Parquet) and the file's
    line of each row (``lines``; for Parquet the row number from 1)."""

    name: str
    frame: pd.DataFrame
    lines: np.ndarray
    text: bool

    def column(self, name: str, field: str = "time_column") -> pd.Series:
        """Column ``name``; an error naming it (not the columns there are) when absent."""
        if name not in self.frame.columns:
            raise TimeSeriesError(self.name, f"no column {name[:80]!r} (`{field}`)",
                                  field=field)
        return self.frame[name]

    def keep(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is true."""
        return Table(self.name, self.frame[mask].reset_index(drop=True), self.lines[mask],
                     self.text)


def check_size(path: Path, name: str, max_bytes: int) -> None:
    """Refuse a file over ``max_bytes`` before reading it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TimeSeriesError(name, f"cannot read the file ({exc.strerror})") from None
    if size > max_bytes:
        raise TimeSeriesError(name, f"the file is larger than {max_bytes:,} bytes (the cap)")


def read_table(path: Path, *, layout: str, delimiter: str = ",", encoding: str = "utf-8-sig",
               skip_rows: int = 0, header: bool = True, max_bytes: int = DEFAULT_MAX_BYTES,
               max_rows: int = DEFAULT_MAX_ROWS) -> Table:
    """The cells of ``path`` (already resolved and confined by the caller).

    Raises:
        TimeSeriesError: the file is missing, too large, too long, not a table, not
            ``encoding`` text, or Parquet without ``pyarrow``.
    """
    name = str(path)
    check_size(path, name, max_bytes)
    if layout == "parquet":
        return _parquet(path, name, max_rows)
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=delimiter, dtype=str, na_filter=False,
                            keep_default_na=False, skip_blank_lines=False, encoding=encoding,
                            skiprows=skip_rows, header=0 if header else None,
                            nrows=max_rows + 1, engine="c")
    except OSError as exc:
        raise TimeSeriesError(name, f"cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise TimeSeriesError(name, f"the file is not {encoding} text") from None
    except LookupError:
        raise TimeSeriesError(name, f"unknown text encoding {encoding[:40]!r} (`encoding`)",
                              field="encoding") from None
    except pd.errors.EmptyDataError:
        raise TimeSeriesError(name, "the file is empty") from None
    except (pd.errors.ParserError, ValueError) as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise TimeSeriesError(name, "not a table the CSV reader can split (a row with "
                              "more cells than the header?)",
                              line=int(found.group(1)) if found else None) from None
    if len(frame) > max_rows:
        raise TimeSeriesError(name, f"more than {max_rows:,} rows (the cap)")
    first = skip_rows + (2 if header else 1)
    frame.columns = [str(c) for c in frame.columns]
    return Table(name, frame, np.arange(first, first + len(frame)), True)


def _parquet(path: Path, name: str, max_rows: int) -> Table:
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError as exc:
        missing = exc.name in ("pyarrow", "pyarrow.parquet")
        raise TimeSeriesError(name, "reading Parquet needs the optional package pyarrow, "
                              + ("which is not installed" if missing else
                                 "which is installed but does not import")
                              + " (pip install 'vpp-swarm[parquet]')") from None

    try:
        rows = pq.ParquetFile(path).metadata.num_rows
        if rows > max_rows:
            raise TimeSeriesError(name, f"more than {max_rows:,} rows (the cap)")
        frame = pq.read_table(path).to_pandas()
    except (OSError, pyarrow.ArrowException):
        raise TimeSeriesError(name, "not a Parquet file pyarrow can read") from None
    frame = frame.reset_index(drop=frame.index.name is None)
    frame.columns = [str(c) for c in frame.columns]
    return Table(name, frame, np.arange(1, len(frame) + 1), False)


def numbers(table: Table, column: str, *, decimal: str = ".", thousands: str | None = None,
            missing: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """Column ``column`` as floats: NaN where a cell is missing (one of ``missing``); a
    cell that is not a number is an error naming its line and the column."""
    import pandas as pd

    cells = table.column(column, "values")
    if not table.text:
        if cells.dtype.kind in "fiub":
            return cells.to_numpy(dtype=float)
        cells = cells.astype(str)
    text = cells.str.strip()
    absent = text.isin(list(missing)).to_numpy()
    if thousands:
        text = text.str.replace(thousands, "", regex=False)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    values = pd.to_numeric(text.where(~absent, None), errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(values) & ~absent
    if bad.any():
        line = int(table.lines[np.flatnonzero(bad)[0]])
        raise TimeSeriesError(table.name, "a value that is not a number", line=line,
                              column=column)
    return values
