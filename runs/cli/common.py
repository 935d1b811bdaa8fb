"""Helpers shared by the commands: output folders, tables, exports, logging."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
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
    """Claim a run directory before any work (:func:`vpp.runs.outputs.claim`): exit 1 with
    the reason when it is not writable, in use (naming the holder) or holds a run."""
    from vpp.runs.outputs import OutputError, claim

    try:
        return claim(run_dir, overwrite=overwrite, option=option)
    except OutputError as exc:
        fail(str(exc), code=1)


def fail_write(run_dir: Path, exc: BaseException) -> None:
    """Exit 1 for a run whose outputs could not be written (the disk full, a folder gone
    read-only), saying what is left: the trace as of its last complete flush."""
    from vpp.runs.outputs import disk_full, why_no_room

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


def fail(message: str, code: int = 2) -> None:
    """Print an error and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(code)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table; floats are shown with 1 decimal, None as a dash."""
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 or c in _TEXT_COLUMNS else "right",
                     overflow="fold" if c == "body / error" else "ellipsis")
    for row in rows:
        t.add_row(*(_cell(v) for v in row))
    return t


_TEXT_COLUMNS = {"site", "agent", "kind", "reason", "address", "role", "class", "direction",
                 "sender", "receiver", "conversation", "body / error", "phase"}


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
