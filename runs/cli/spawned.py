"""``vpp run SCENARIO --processes N``: the sites in N local processes."""

from __future__ import annotations

from pathlib import Path

from vpp.runs.cli.common import console, fail, table
from vpp.runs.cli.run import _admm_rows, merit_order_rows


def run_spawned(path: Path, steps: int, name: str, run_dir: Path, processes: int,
                seed: int | None, plot: bool, *, allow_plugins: bool = False) -> None:
    """Run with site processes from a warm fork server; print the summary like ``vpp run``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from vpp.runs.placement.remote import DistributedError
    from vpp.runs.placement.spawn import run_processes

    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task(f"{name}: steps ({processes} site processes)", total=steps)
            summary = run_processes(path, run_dir, processes, seed=seed,
                                    progress=lambda k: progress.update(task, completed=k),
                                    allow_plugins=allow_plugins)
    except ValueError as exc:
        fail(f"--processes {processes}: {exc}")
    except DistributedError as exc:
        fail(str(exc), code=1)
    except KeyboardInterrupt:
        fail("interrupted; the site processes were stopped", code=130)
    if plot:
        from vpp.runs.plots import plot_run

        plot_run(run_dir)
    console.print(table(f"run {name} (seed {summary['seed']}, {processes} site processes)",
                        ("quantity", "value"),
                        _admm_rows(summary) if summary.get("coordination") == "admm"
                        else merit_order_rows(summary)))
    console.print(f"trace and results in [bold]{run_dir}[/]  (next: vpp trace show {run_dir})")
