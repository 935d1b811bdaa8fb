"""``vpp sweep`` (a grid of runs over fields' values and seeds, a table of their results)
and ``vpp compare`` (two runs side by side)."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import console, fail, table


def sweep(
    scenario: Path = typer.Argument(..., exists=True, dir_okay=False,
                                    help="The scenario (or backtest) file."),
    sets: list[str] = typer.Option([], "--set", help="FIELD=V1,V2,...: a field path "
                                   "(steps, sites[chp].devices[0].p_max_kw, a site by name "
                                   "or index) and its values, read as YAML. Repeat for "
                                   "more fields: the sweep runs their product."),
    seeds: int | None = typer.Option(None, "--seeds", help="Run each combination with N "
                                     "seeds: the scenario's, +1, ... +N-1."),
    processes: int = typer.Option(1, "--processes", "-p", help="Runs at once, each in its "
                                  "own process."),
    out: Path | None = typer.Option(None, "--out", help="The sweep's folder (default "
                                    "vpp-output/sweep-<name>-<time>). Give the folder of "
                                    "an interrupted sweep to finish it: finished runs are "
                                    "not redone."),
) -> None:
    """Run a grid of runs: every combination of the --set values (times --seeds), each a
    normal run directory (run-001, ...), with sweep.csv holding one row per run (its
    values, seed and headline numbers). Exit 1 when a run failed (its error is in its
    row)."""
    from vpp.runs.cli.startup import StageLines, command_origin

    if processes < 1:
        fail(f"--processes {processes}: at least 1")
    StageLines(command_origin(), console)(f"loading scenario {scenario}")  # at once
    from rich.markup import escape
    from vpp.runs.cli.common import new_run_dir
    from vpp.runs.scenario import ScenarioError
    from vpp.runs.sweep import SweepError, make_plan, parse_sets
    from vpp.runs.sweep import sweep as run_sweep

    try:
        values = parse_sets(sets)
        plan = make_plan(scenario, values, seeds)  # checked before any folder is made
    except (SweepError, ScenarioError) as exc:
        fail(str(exc), code=1)
    total = len(plan.runs())
    folder = out or new_run_dir(f"sweep-{scenario.stem}")
    console.print(f"sweep of {scenario}: {total} runs into {folder}", highlight=False,
                  soft_wrap=True)

    def done(run, summary, kept: bool) -> None:
        what = "kept (already finished)" if kept else (
            f"[red]failed[/]: {escape(summary['error'])}" if "error" in summary else "done")
        label = ", ".join(f"{k}={v}" for k, v in run.changes.items())
        console.print(f"  {run.name} ({escape(label)}{', ' if label else ''}seed {run.seed}): "
                      f"{what}", highlight=False, soft_wrap=True)

    try:
        result = run_sweep(scenario, values, folder, seeds=seeds, processes=processes,
                           done=done)
    except (SweepError, ScenarioError) as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        fail(f"interrupted: the finished runs are kept; the same command with --out {folder} "
             f"runs the rest", code=130)
    varied = ["run", *values, "seed"]  # then the numbers (texts are in sweep.csv)
    shown = varied + [c for c in result.columns if c not in varied
                      and result[c].dtype.kind in "fi"]
    console.print(table("sweep", [escape(c) for c in shown],
                        [[None if v != v else v for v in row]  # NaN: a failed run's
                         for row in result[shown].itertuples(index=False)]))
    console.print(f"table in {folder / 'sweep.csv'}", highlight=False, soft_wrap=True)
    if (result["error"] != "").any():
        raise SystemExit(1)


def compare(
    run_a: Path = typer.Argument(..., help="A run's folder."),
    run_b: Path = typer.Argument(..., help="Another run's folder."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw both runs' per-step "
                                     "kW columns into this PNG (needs the plots extra)."),
) -> None:
    """Compare two runs: what differed in what was run (scenario fields, seed, mode) and
    each headline number of their summaries (A, B, B - A, change in percent)."""
    from rich.markup import escape
    from vpp.runs.compare import compare_runs, plot_comparison

    try:
        result = compare_runs(run_a, run_b)
    except (FileNotFoundError, OSError, ValueError) as exc:
        fail(str(exc), code=1)
    if result.inputs:
        console.print(table("what differed", ["field", "A", "B"],
                            [(escape(k), escape(_text(x)), escape(_text(y)))
                             for k, x, y in result.inputs]))
    else:
        console.print("the same scenario, seed and mode", highlight=False)
    frame = result.numbers
    console.print(table("results", ["result", "A", "B", "B - A", "change %"],
                        [(name, *(None if v != v else v for v in row))  # NaN: no change %
                         for name, row in zip(frame.index, frame.itertuples(index=False))]))
    for name, x, y in result.texts:
        console.print(f"{name}: {escape(str(x))} -> {escape(str(y))}", highlight=False,
                      soft_wrap=True)
    if plot is not None:
        console.print(f"wrote {plot_comparison(run_a, run_b, plot)}", highlight=False)


def _text(value) -> str:
    return "-" if value is None else str(value)
