"""Options shared by the commands that load scenarios: ``--allow-plugins`` and
``--data-dir`` (what the person running a command allows a scenario file to do; see
``docs/security.md``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from vpp.runs.cli.common import fail

ALLOW_PLUGINS_HELP = ("Let the scenario name its own code as `module:Class` (strategies, "
                      "traders), imported from wherever Python finds it. Only for a file "
                      "you trust as you trust your own code: see docs/security.md.")
TRACE_HELP = ("How much the trace keeps: full (every message), rounds (no message rows; "
              "round and step rows, messages counted per round), sample:N (every message "
              "of N sites chosen from the seed, and the aggregator's own) \\[default: "
              "full up to 2,000,000 estimated messages (4 a site a step), rounds beyond].")
DATA_DIR_HELP = ("Also read the data files the scenario names from this folder (repeat it) "
                 "\\[default: only the scenario's own folder and the bundled data].")


def trace_level(option: str | None, scenario: Any) -> str:
    """The trace level of a run of ``scenario`` for the ``--trace`` option (None: the
    default by size, with a one-line notice on standard error when that is not ``full``:
    standard output may be JSON); a bad level is an error naming ``--trace``."""
    from vpp.runs.cli.common import err_console
    from vpp.runs.record.trace_level import choose_level

    try:
        level, notice = choose_level(option, scenario)
    except ValueError as exc:
        fail(f"--trace {option}: {exc}")
    if notice:
        err_console.print(f"[yellow]{notice}[/]", highlight=False)
    return level.text


def with_data_dirs(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``command`` (a typer command with a ``data_dir`` option, a list of folders)
    with those folders allowed as data roots (:func:`vpp.runs.scenario.data_files.data_dirs`); a
    folder that does not exist is an error naming ``--data-dir``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from vpp.runs.scenario.data_files import check_data_dirs, data_dirs

        try:
            folders = check_data_dirs(kwargs.get("data_dir"))
        except ValueError as exc:
            fail(str(exc))
        with data_dirs(folders):
            return command(*args, **kwargs)

    return wrapper
