"""The data files a scenario names (CSV time series), confined and read within bounds.

A scenario names a file by a path relative to the scenario's own file, or as bundled data
(``bundled:NAME``, one of the CSVs shipped in ``vpp/physics/data`` and ``vpp/markets/data``).
The file must resolve (symbolic links followed) inside the scenario's folder, the bundled
data, or a folder the person running the command added (``--data-dir DIR``, which holds
for the command, through :func:`data_dirs`); anything else is refused, naming the field.
Without a scenario file (a scenario built in Python), the working directory stands for
the scenario's folder.

Errors never quote a data file's contents: a missing column is named, the columns that
are there are not, and a cell that is not a number gives its row, not its text.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import vpp.markets
from vpp.physics.datasets import DATA_DIR as PHYSICS_DATA
from vpp.physics.timeseries.mapping import MISSING
from vpp.runs.scenario.limits import Limits

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["BUNDLED_DATA", "check_data_dirs", "data_dirs", "data_paths", "read_csv", "resolve_data",
           "numeric_column", "time_column"]

BUNDLED_DATA = (PHYSICS_DATA, Path(vpp.markets.__file__).resolve().with_name("data"))
"""The folders of the bundled data (``bundled:NAME``)."""

_EXTRA: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "vpp_data_dirs", default=())

BUNDLED_PREFIX = "bundled:"


def check_data_dirs(dirs: Iterable[str | Path] | None) -> tuple[Path, ...]:
    """``dirs`` (``--data-dir``), resolved.

    Raises:
        ValueError: a folder that does not exist (named with the option).
    """
    resolved = []
    for d in dirs or ():
        path = Path(d).expanduser().resolve()
        if not path.is_dir():
            raise ValueError(f"--data-dir {d}: not a folder")
        resolved.append(path)
    return tuple(resolved)


@contextlib.contextmanager
def data_dirs(dirs: Iterable[str | Path] | None) -> Iterator[tuple[Path, ...]]:
    """Within the block (a command's run), data files may also come from ``dirs``
    (``--data-dir``; checked by :func:`check_data_dirs`, whose ValueError it raises)."""
    resolved = check_data_dirs(dirs)
    token = _EXTRA.set(_EXTRA.get() + resolved)
    try:
        yield resolved
    finally:
        _EXTRA.reset(token)


def _error(message: str):
    from vpp.runs.scenario.errors import ScenarioError

    return ScenarioError(message)


def _bundled(name: str, field: str) -> Path:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise _error(f"{field}: {BUNDLED_PREFIX}{name[:80]} names no bundled file (give a "
                     f"file name, no folder) - at `$.{field}`")
    for folder in BUNDLED_DATA:
        if (folder / name).is_file():
            return folder / name
    known = sorted(p.name for folder in BUNDLED_DATA for p in folder.glob("*.csv"))
    raise _error(f"{field}: no bundled data file {name[:80]!r} (bundled: {', '.join(known)}) "
                 f"- at `$.{field}`")


def resolve_data(scenario_path: Path | str | None, relative: str, field: str) -> Path:
    """The file a scenario names in ``field``: ``bundled:NAME``, or a path relative to the
    scenario's folder (or absolute), which must resolve inside the scenario's folder, the
    bundled data or a ``--data-dir``.

    Raises:
        ScenarioError: naming ``field``, when it points anywhere else.
    """
    if relative.startswith(BUNDLED_PREFIX):
        return _bundled(relative[len(BUNDLED_PREFIX):], field)
    base = (Path(scenario_path).resolve().parent if scenario_path is not None
            else Path.cwd().resolve())
    given = Path(relative).expanduser()
    full = (given if given.is_absolute() else base / given).resolve()
    roots = (base, *(p.resolve() for p in BUNDLED_DATA), *_EXTRA.get())
    if any(full.is_relative_to(root) for root in roots):
        return full
    raise _error(f"{scenario_path or '<scenario>'}: {field}: {relative[:200]!r} is outside "
                 f"the scenario's folder {base}; a "
                 f"scenario reads data from its own folder, the bundled data "
                 f"({BUNDLED_PREFIX}NAME) or a folder given with --data-dir - at `$.{field}`")


def data_paths(scenario) -> list[tuple[str, str]]:
    """Every data file a scenario names, as ``(field, path as written)``: CSV paths, and
    the ``file`` of each mapping (``data``); a bundled dataset's name names no path."""
    out = []

    def mapping(field: str, data) -> None:
        if data is not None and not isinstance(data, str):
            out.append((f"{field}.file", data.file))

    mapping("data", scenario.data)
    if scenario.target is not None and scenario.target.profile is not None:
        if scenario.target.profile.csv is not None:
            out.append(("target.profile.csv", scenario.target.profile.csv))
        mapping("target.profile.data", scenario.target.profile.data)
    for field, prices in (("admm.prices", scenario.admm.prices if scenario.admm else None),
                          ("market.day_ahead.prices", scenario.market.day_ahead.prices
                           if scenario.market else None)):
        if prices is None:
            continue
        if prices.csv is not None:
            out.append((f"{field}.csv", prices.csv))
        mapping(f"{field}.data", prices.data)
    grid = scenario.grid
    if grid is not None and grid.replay is not None:
        out.append(("grid.replay.csv", grid.replay.csv))
    if grid is not None and grid.voltage is not None and grid.voltage.load is not None:
        out.append(("grid.voltage.load.csv", grid.voltage.load.csv))
    return out


def check_size(path: Path, field: str, limits: Limits | None = None) -> None:
    """Raise ScenarioError (naming ``field``) for a file over the data-file cap."""
    from vpp.runs.scenario.checks import current_limits

    limits = current_limits(limits)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _error(f"{field}: cannot read {path} ({exc.strerror}) - at `$.{field}`") from None
    if size > limits.max_data_file_bytes:
        raise _error(f"{field}: {path} is larger than {limits.max_data_file_bytes:,} bytes "
                     f"(the cap; {Limits.variable('max_data_file_bytes')} raises it) - at "
                     f"`$.{field}`")


def read_csv(path: Path, field: str, limits: Limits | None = None) -> pd.DataFrame:
    """The CSV file ``path`` (already resolved) as a DataFrame of text cells, read by the
    one reader's bounded table reader (:mod:`vpp.physics.timeseries.table`); errors name
    ``field`` and the file, never its contents."""
    from vpp.physics.timeseries import TimeSeriesError
    from vpp.physics.timeseries.table import read_table
    from vpp.runs.scenario.checks import current_limits

    check_size(path, field, limits)
    try:
        return read_table(path, layout="csv",
                          max_bytes=current_limits(limits).max_data_file_bytes).frame
    except TimeSeriesError as exc:
        raise _error(f"{field}: {exc} - at `$.{field}`") from None


def _column(frame: pd.DataFrame, name: str, field: str, path: Path) -> pd.Series:
    if name not in frame.columns:
        raise _error(f"{field}: {path} has no column {name[:80]!r} - at `$.{field}`")
    return frame[name]


def _first_bad(bad) -> int:
    import numpy as np

    return int(np.flatnonzero(bad)[0]) + 2  # the header is line 1


def numeric_column(frame: pd.DataFrame, name: str, field: str, path: Path) -> np.ndarray:
    """Column ``name`` as floats (empty cells are NaN); a cell that is not a number is an
    error giving its line, not its text."""
    import pandas as pd

    column = _column(frame, name, field, path)
    text = column.astype(str).str.strip()
    absent = text.isin(MISSING).to_numpy()
    values = pd.to_numeric(text.where(~absent, None), errors="coerce")
    bad = values.isna().to_numpy() & ~absent
    if bad.any():
        raise _error(f"{field}: column {name[:80]!r} of {path} has a value that is not a "
                     f"number on line {_first_bad(bad)} - at `$.{field}`")
    return values.to_numpy(dtype=float)


def time_column(frame: pd.DataFrame, name: str, field: str, path: Path) -> pd.Series:
    """Column ``name`` as UTC times; a cell that is not a time is an error giving its
    line, not its text."""
    import pandas as pd

    column = _column(frame, name, field, path)
    try:
        stamps = pd.to_datetime(column, utc=True, errors="coerce")
    except (ValueError, TypeError):
        stamps = None
    if stamps is None or stamps.isna().any():
        bad = (stamps.isna().to_numpy() if stamps is not None
               else column.notna().to_numpy())
        line = _first_bad(bad) if bad.any() else 2
        raise _error(f"{field}: column {name[:80]!r} of {path} has a value that is not a "
                     f"time on line {line} - at `$.{field}`")
    if len(stamps) == 0:
        raise _error(f"{field}: {path} has no rows - at `$.{field}`")
    return stamps
