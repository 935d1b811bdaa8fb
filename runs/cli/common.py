"""Helpers shared by the commands: output folders, tables, exports, logging."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.logging import RichHandler
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

OUTPUT_ROOT = Path("vpp-output")
"""Where runs go when no ``--out`` is given, under the working directory."""


def setup_logging(level: str, json_lines: bool = False, host: str = "-") -> None:
    """Log to stderr at ``level`` (``WARNING`` by default): through rich, or one JSON
    object per record with ``json_lines``; every record names its host and agent
    (``agents/ops/logs.py``). A bad level exits with an error naming ``--log-level``."""
    from vpp.agents.ops.logs import configure

    handler = None if json_lines else RichHandler(console=err_console, show_path=False)
    try:
        configure(level, json_lines=json_lines, host=host, handler=handler)
    except ValueError as exc:
        fail(str(exc))


LOG_JSON_HELP = "Log one JSON object per record (time, level, host, agent, message)."


def new_run_dir(scenario_name: str) -> Path:
    """A fresh folder ``vpp-output/<scenario>-<time>`` for a run."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = OUTPUT_ROOT / f"{scenario_name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


OVERWRITE_HELP = ("Write into an --out that holds a finished run: its summary.json and trace "
                  "shards are removed first \\[default: refuse it].")


def claim_out(run_dir: Path, overwrite: bool = False, option: str = "--out"):
    """Claim a run directory before any work (:func:`vpp.runs.record.claim.claim`): exit 1 with
    the reason when it is not writable, in use (naming the holder) or holds a run."""
    from vpp.runs.record.claim import OutputError, claim

    try:
        return claim(run_dir, overwrite=overwrite, option=option)
    except OutputError as exc:
        fail(str(exc), code=1)


def fail_write(run_dir: Path, exc: BaseException) -> None:
    """Exit 1 for a run whose outputs could not be written (the disk full, a folder gone
    read-only), saying what is left: the trace as of its last complete flush."""
    from vpp.runs.record.claim import disk_full, why_no_room

    room = why_no_room(run_dir)
    what = ("no room left to write" if disk_full(exc) or room else "cannot write its outputs")
    fail(f"{run_dir}: {what} ({exc}{'; ' + room if room else ''}); the run stopped there. "
         f"The trace holds what was recorded up to its last flush (vpp trace show {run_dir})",
         code=1)


def latest_run_dir() -> Path | None:
    """The newest run under ``vpp-output/`` (the default for ``vpp trace``)."""
    if not OUTPUT_ROOT.is_dir():
        return None
    runs = [p for p in OUTPUT_ROOT.iterdir() if (p / "trace").is_dir()]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def draw_plot(plot, run_dir: Path) -> None:
    """Draw a run's plot (``plot(run_dir)``, e.g. :func:`vpp.runs.plots.plot_run`) after
    its results are written; without the ``plots`` extra, say in one line that it was not
    drawn and how to get it, and go on (the run's tables and files are complete)."""
    from vpp.physics.extras import MissingExtra

    try:
        plot(run_dir)
    except MissingExtra as exc:
        from rich.markup import escape

        console.print(f"[yellow]no plot:[/] {escape(str(exc))}", highlight=False,
                      soft_wrap=True)


def fail(message: str, code: int = 2) -> None:
    """Print an error and exit with ``code``: each line of ``message`` as its own
    ``error:`` line (a scenario with several problems has one line each), as plain text
    (brackets in a message are never read as markup)."""
    from rich.text import Text

    for line in str(message).splitlines() or [""]:
        err_console.print(Text.assemble(("error:", "bold red"), " ", line), highlight=False,
                          soft_wrap=True)
    raise SystemExit(code)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          width: int | None = None, key: int = 1) -> RenderableType:
    """A rich table that cuts nothing at the console's width (or ``width``): floats with
    1 decimal, None as a dash; numbers are never wrapped nor shortened, text wraps, headers
    wrap at their words (``target_kw`` is shown ``target kW``). When the numbers alone are
    wider than the console, the columns are split over several tables, each repeating the
    first ``key`` columns."""
    cells = [[_cell(v) for v in row] for row in rows]
    width = width or console.width
    specs = []
    for i, name in enumerate(columns):
        values = [row[i] for row in cells if i < len(row)]
        text = name in _TEXT_COLUMNS or not all(_NUMBER.match(v) for v in values)
        header = _header(name)
        word = max(len(w) for w in header.split())
        need = max([len(v) for v in values] + [word])
        specs.append((header, text, need if not text else min(need, max(word, 12))))
    groups = _column_groups([need for _, _, need in specs], width, key)
    parts = []
    for k, group in enumerate(groups):
        t = Table(title=title if k == 0 else f"{title} (continued)", title_justify="left")
        for i in group:
            header, text, need = specs[i]
            t.add_column(header, justify="left" if text else "right", overflow="fold",
                         min_width=need, max_width=None if text else need)
        for row in cells:
            t.add_row(*(row[i] if i < len(row) else "" for i in group))
        parts.append(t)
    return parts[0] if len(parts) == 1 else Group(*parts)


_TEXT_COLUMNS = {"site", "agent", "kind", "reason", "address", "role", "class", "direction",
                 "sender", "receiver", "conversation", "body / error", "phase"}
_NUMBER = re.compile(r"^(-|[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?)$")
_UNITS = {"_kw": " kW", "_kwh": " kWh", "_eur": " EUR", "_hz": " Hz", "_mw": " MW",
          "_pu": " pu", "_s": " s"}


def _header(name: str) -> str:
    """``target_kw`` -> ``target kW``: headers that wrap at words, units spelt out."""
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            name = name[: -len(suffix)] + unit
            break
    return name.replace("_", " ")


def _column_groups(widths: list[int], total: int, key: int = 1) -> list[list[int]]:
    """Split column indexes into groups whose minimal widths (plus borders and padding)
    fit in ``total``; every group after the first starts with the first ``key`` columns."""
    key = max(1, min(key, len(widths)))
    head = list(range(key))
    base = sum(widths[:key]) + 3 * key + 1
    groups: list[list[int]] = [list(head)]
    used = base
    for i in range(key, len(widths)):
        if used + widths[i] + 3 > total and len(groups[-1]) > key:
            groups.append(list(head))
            used = base
        groups[-1].append(i)
        used += widths[i] + 3
    return groups


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.1f}"
    return str(v)


def emit_records(records: list[dict[str, Any]], as_json: bool, as_csv: bool) -> bool:
    """Write ``records`` to stdout as JSON lines' array or CSV; False when neither asked."""
    if as_json:
        json.dump(records, sys.stdout, default=str)
        sys.stdout.write("\n")
        return True
    if as_csv:
        fields = list(records[0]) if records else []
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        for rec in records:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v
                             for k, v in rec.items()})
        return True
    return False
