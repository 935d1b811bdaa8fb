"""``vpp run``: run a scenario as a local swarm."""

from __future__ import annotations

from pathlib import Path

import typer

from runs.cli.common import console, fail, new_run_dir, setup_logging, table


def run(
    scenario: Path | None = typer.Argument(
        None, help="A scenario YAML file; the bundled default scenario when omitted."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run's directory [default: vpp-output/<scenario>-<time>]."),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Write dispatch.png."),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
    processes: int | None = typer.Option(
        None, "--processes", help="Run the sites in N local processes (from a warm fork "
        "server) that join the aggregator [default: all in this process]."),
) -> None:
    """Run a scenario: negotiate every step over ZeroMQ, trace it, summarize it."""
    setup_logging(log_level)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from runs.scenario import DEFAULT_SCENARIO, ScenarioError, load
    from runs.swarm import SwarmModel

    path = scenario or DEFAULT_SCENARIO
    try:
        spec = load(path)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    run_dir = out or new_run_dir(spec.name)
    if processes is not None:
        from runs.cli.spawned import run_spawned

        run_spawned(path, spec.steps, spec.name, run_dir, processes, seed, plot)
        return
    try:
        model = SwarmModel(spec, run_dir, scenario_path=path, seed=seed)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task(f"{spec.name}: steps", total=spec.steps)
            summary = model.run(progress=lambda k: progress.update(task, completed=k))
    finally:
        model.close()
    if plot:
        from runs.plots import plot_run

        plot_run(run_dir)
    console.print(table(f"run {spec.name} (seed {summary['seed']})", ("quantity", "value"), [
        ("sites", summary["sites"]), ("steps", summary["steps"]),
        ("target energy (kWh)", summary["target_kwh"]),
        ("served energy (kWh)", summary["served_kwh"]),
        ("unserved energy (kWh)", summary["unserved_kwh"]),
        ("steps with unserved energy", summary["steps_with_unserved"]),
        ("reserve shortfall (kWh)", summary["reserve_shortfall_kwh"]),
        ("dispatch cost (EUR, pay-as-bid)", summary["cost_eur"]),
        ("declined awards", summary["declines"]),
        ("negotiation rounds", summary["rounds"]),
        ("messages", summary["messages"]), ("messages dropped", summary["dropped"]),
        ("wall time (s)", summary["wall_s"]),
    ]))
    console.print(f"trace and results in [bold]{run_dir}[/]  (next: vpp trace show {run_dir})")
