"""What every command that runs something shares: the runner with its ops hooks and a
progress bar, errors turned into one line and an exit code (never a traceback), and the
mode's report printed."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vpp.runs.cli.common import console, draw_plot, fail, fail_write, table

if TYPE_CHECKING:
    from vpp.runs.cli.startup import StageLines


def check_watch(mode: Any, watch: bool) -> None:
    """Refuse ``--watch`` for a mode whose runs cannot apply edits live, before any work
    (no folder made, no site waited for)."""
    if watch and not mode.live_edits:
        fail(f"--watch: hot reload of the {mode.name} mode ({mode.title}) is not built; run "
             "it without --watch")


def execute(mode: Any, scenario: Any, context: Any, *, plot: bool, label: str,
            ops: dict[str, Any] | None = None, stages: StageLines | None = None,
            quiet: bool = False) -> dict:
    """Run ``scenario`` in ``mode`` (the context made by the command); return the summary.

    Args:
        ops: the ops the command asks for (:class:`vpp.runs.ops.hooks.OpsSession`), or
            None for no ops hooks.
        stages: the command's stage lines (:class:`~vpp.runs.cli.startup.StageLines`):
            they hear the run's stages (:mod:`vpp.runs.stages`) and name the progress
            bar's; with them the summary has ``startup_s`` (also in ``summary.json``),
            ``figures_s``, ``command_s`` (the whole time, from their origin) and
            ``command_from`` (``"process start"`` or ``"command start"``).
        quiet: no progress bar and no notice on standard output (``--json``).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from vpp.agents.runtime.loop import SimulationStalled
    from vpp.agents.runtime.trace import TraceWriteError
    from vpp.runs.ops.alerting import AlertsError
    from vpp.runs.ops.hooks import OpsError
    from vpp.runs.placement.base import RunStopped
    from vpp.runs.runner import Runner
    from vpp.runs.scenario import ScenarioError
    from vpp.runs.stages import listening

    def on_built(run):
        if ops is None:
            return []
        served_before = ops.port is not None  # while the sites joined (vpp aggregator)
        hooks = ops.hooks(run)
        if ops.port is not None and not served_before and not quiet:
            announce_metrics(ops)
        return hooks

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                  TimeRemainingColumn(), console=console,
                  transient=True, disable=quiet) as progress:
        task = progress.add_task(f"{label}: building", total=None)
        if stages is not None:
            stages.on_stage = lambda stage: progress.update(
                task, description=f"{label}: {stage}")

        def step_done(done: int, total: int) -> None:
            progress.update(task, description=f"{label}: steps", completed=done, total=total)

        runner = Runner(mode, scenario, context, progress=step_done, on_built=on_built,
                        started=None if stages is None else stages.origin.at)
        try:
            with listening(stages) if stages is not None else contextlib.nullcontext():
                result = runner.run()
        except (ScenarioError, AlertsError, OpsError) as exc:
            fail(str(exc), code=1)
        except (RunStopped, SimulationStalled) as exc:
            fail(f"{exc} (what was done is in {context.out_dir})", code=1)
        except (TraceWriteError, OSError) as exc:  # RecordError is an OSError
            fail_write(context.out_dir, exc)
        finally:
            if ops is not None:
                ops.close()
            if stages is not None:
                stages.on_stage = None
    summary = result.summary
    if plot:  # after the record is complete; without the plots extra, one line says so
        if stages is not None:
            stages("figures")
        t_figures = time.monotonic()
        draw_plot(lambda out: mode.plot(out, result.run), context.out_dir)
        summary["figures_s"] = round(time.monotonic() - t_figures, 3)
    if stages is not None:
        summary["command_s"] = round(stages.elapsed(), 3)
        summary["command_from"] = stages.origin.since
    return summary


def announce_metrics(ops: Any) -> None:
    """Say where the metrics are served (``ops``: an :class:`~vpp.runs.ops.hooks.OpsSession`
    serving them)."""
    url = f"{ops.metrics_addr}:{ops.port}"
    console.print(f"metrics on http://{url}/metrics (vpp status tcp://{url})", highlight=False)


def time_line(summary: dict) -> str:
    """The report's time line: the whole command's time and what it counts from, then
    its parts: ``time: 7.1 s in all since the process started (start-up 1.9 s, building
    4.5 s, steps 0.4 s, figures 0.3 s); CPU 3.8 s, memory 254 MiB``. Start-up is what came
    before building (the interpreter, imports, loading and checking the scenario)."""
    parts = [f"{name} {summary[key]:.1f} s" for name, key in (
        ("start-up", "startup_s"), ("building", "build_s"), ("steps", "steps_s"),
        ("figures", "figures_s")) if key in summary]
    line = "time: "
    if "command_s" in summary:
        since = {"process start": "the process started",
                 "command start": "the command started"}[summary["command_from"]]
        line += f"{summary['command_s']:.1f} s in all since {since} ({', '.join(parts)})"
    else:
        line += ", ".join(parts)
    ops = summary.get("metrics")
    if ops is not None and ops.get("process_rss_mib") is not None:
        line += f"; CPU {ops['process_cpu_s']:.1f} s, memory {ops['process_rss_mib']:.0f} MiB"
    return line


def print_report(mode: Any, summary: dict, out_dir: Path) -> None:
    """The mode's report (tables and lines), the times, where the results are."""
    from vpp.runs.modes.base import ReportTable

    currency = summary.get("currency", "EUR")

    def money(text):  # amounts are in the data's currency: say so where a label says EUR
        return text.replace("EUR", currency) if isinstance(text, str) else text

    for item in mode.report(summary):
        if isinstance(item, ReportTable):
            rows = [(money(row[0]), *row[1:]) if row else row for row in item.rows]
            console.print(table(money(item.title), tuple(map(money, item.columns)), rows))
        else:
            console.print(money(item), soft_wrap=True)
    console.print(time_line(summary), highlight=False)
    nxt = (f"  (next: vpp trace show {out_dir})" if (Path(out_dir) / "trace").is_dir()
           else "")
    console.print(f"results in [bold]{out_dir}[/]{nxt}")
