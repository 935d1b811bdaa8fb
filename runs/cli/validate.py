"""``vpp validate``: check a scenario file without running it, reporting every problem at
once."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import console, err_console
from vpp.runs.cli.options import ALLOW_PLUGINS_HELP, DATA_DIR_HELP, with_data_dirs


@with_data_dirs
def validate(
    scenario: Path = typer.Argument(..., help="The scenario (or backtest) file to check."),
    allow_plugins: bool = typer.Option(
        False, "--allow-plugins", help=ALLOW_PLUGINS_HELP + " With it, validate imports "
        "and builds them; without it, their names are checked and no plug-in code runs."),
    data_dir: list[Path] = typer.Option([], "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Check a scenario: every problem at once, each naming the file, the field path, the
    site (and device) by name, and the allowed values or the closest one.

    The same checks as `vpp run` (the structure, sizes, finite numbers within their caps,
    each device's values, its run mode's rules for its sections), the data files read,
    and the strategies built. Without --allow-plugins no plug-in code runs: entry points
    and module:Class strategies are checked by name only, and the output lists them as not
    checked. Exit 1 when there is a problem.
    """
    from rich.markup import escape
    from vpp.runs.validation import validate_file

    report = validate_file(scenario, allow_plugins=allow_plugins)
    if report.lines:
        for line in report.lines:
            err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False,
                              soft_wrap=True)
        if len(report.lines) > 1:
            err_console.print(f"{scenario}: {len(report.lines)} problems", highlight=False,
                              soft_wrap=True)
        raise SystemExit(1)
    console.print(f"[green]ok[/] {scenario}: {report.summary}", soft_wrap=True,
                  highlight=False)
    for line in report.unchecked:
        console.print(f"  not checked: {line}", soft_wrap=True, highlight=False)
