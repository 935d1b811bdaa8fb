"""``vpp run``: run a scenario (or a backtest file) in its mode, in this process or with
its sites in local processes."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import (
    LOG_JSON_HELP,
    OVERWRITE_HELP,
    claim_out,
    console,
    fail,
    new_run_dir,
    setup_logging,
)
from vpp.runs.cli.options import (
    ALLOW_PLUGINS_HELP,
    DATA_DIR_HELP,
    TRACE_HELP,
    trace_level,
    with_data_dirs,
)


@with_data_dirs
def run(
    scenario: Path | None = typer.Argument(
        None, help="A scenario YAML file; the bundled default scenario when omitted."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run's directory \\[default: vpp-output/<scenario>-<time>]."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Draw the mode's figures "
                              "(dispatch.png, rounds.png, frequency.png, voltage.png)."),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
    log_json: bool = typer.Option(False, "--log-json", help=LOG_JSON_HELP),
    processes: int | None = typer.Option(
        None, "--processes", help="Run the sites in N local processes (from a warm fork "
        "server) that join the aggregator \\[default: all in this process]."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port while the run "
        "lasts (0: any free port) \\[default: none; the run still ends with metrics.json]."),
    metrics_addr: str = typer.Option("127.0.0.1", "--metrics-addr",
                                     help="The address the metrics endpoint binds."),
    watch: bool = typer.Option(
        False, "--watch", help="Hot reload: apply validated edits of the scenario file from "
        "the next step (merit order) or frequency sample (grid events: droop and trigger "
        "settings, contracted_kw); see docs/operations.md."),
    pace: float | None = typer.Option(
        None, "--pace", help="Grid events: simulated seconds per wall second (1: real time, "
        "so that an edit with --watch lands mid-event); default: as fast as it can."),
    alerts: Path | None = typer.Option(
        None, "--alerts", help="Alert rules (YAML: rules, webhook, command), evaluated before "
        "every step; see docs/operations.md."),
    agents: bool = typer.Option(False, "--agents", help="Backtests: trade through the market "
                                "agents over inproc ZeroMQ (day-ahead and intraday; no FCR)."),
    trace: str | None = typer.Option(None, "--trace", help=TRACE_HELP),
    allow_plugins: bool = typer.Option(False, "--allow-plugins", help=ALLOW_PLUGINS_HELP),
    data_dir: list[Path] = typer.Option([], "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Run a scenario in its mode (`vpp modes` lists them): merit order or ADMM over
    ZeroMQ every step, a grid event, a Volt-VAR day, or a backtest file; trace it, record
    it (manifest.json, steps.csv, sites.csv, summary.json), summarize it."""
    from vpp.runs.cli.startup import StageLines, command_origin
    from vpp.runs.stages import listening

    stages = StageLines(command_origin(), console)
    setup_logging(log_level, log_json)
    stages(f"loading scenario {scenario}" if scenario else "loading the default scenario")
    with listening(stages):
        _run(stages, scenario, out, overwrite, seed, plot, processes, metrics_port,
             metrics_addr, watch, pace, alerts, agents, allow_plugins, trace)


def _run(stages, scenario, out, overwrite, seed, plot, processes, metrics_port,
         metrics_addr, watch, pace, alerts, agents, allow_plugins, trace=None) -> None:
    """``vpp run`` once its stage lines listen (the options as :func:`run` has them)."""
    from vpp.runs import modes
    from vpp.runs.cli.execute import check_watch, execute, print_report
    from vpp.runs.modes.base import RunContext
    from vpp.runs.ops.hooks import OpsSession
    from vpp.runs.scenario import DEFAULT_SCENARIO, ScenarioError

    path = scenario or DEFAULT_SCENARIO
    try:
        doc, mode = modes.load(path)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    if pace is not None and (mode.name != "grid_event" or not pace > 0):
        fail("--pace: a positive number, for a scenario with a grid event")
    if agents and mode.name != "backtest":
        fail("--agents: for a backtest file")
    if watch and scenario is None:
        fail("--watch needs a scenario file of your own")
    check_watch(mode, watch)
    level = trace_level(trace, doc)
    stages("loading the agent runtime (mesa, ZeroMQ)")
    if processes is not None:
        from vpp.runs.placement.processes import ProcessesPlacement

        try:
            placement = ProcessesPlacement(processes, allow_plugins=allow_plugins)
        except ValueError as exc:
            fail(f"--processes {processes}: {exc}")
    else:
        from vpp.runs.placement.local import LocalPlacement

        placement = LocalPlacement()
    problem = mode.placement_problem(doc, placement.name)
    if problem is not None:
        fail(problem, code=1)
    _check_strategies(doc, mode, path, allow_plugins)  # refused: no folder made
    run_dir = out or new_run_dir(doc.name)
    _lock = claim_out(run_dir, overwrite)  # before any work; held while this runs
    context = RunContext(run_dir, doc.seed if seed is None else seed, path, placement,
                         options={"allow_plugins": allow_plugins, "pace": pace,
                                  "agents": agents, "trace": level})
    ops = OpsSession(doc, out_dir=run_dir, watch=path if watch else None, alerts=alerts,
                     metrics_port=metrics_port, metrics_addr=metrics_addr,
                     step_unit=mode.step_unit)
    label = doc.name + (f" ({processes} site processes)" if processes else "")
    summary = execute(mode, doc, context, plot=plot, label=label, ops=ops, stages=stages)
    print_report(mode, summary, run_dir)


def _check_strategies(doc, mode, path: Path, allow_plugins: bool) -> None:
    """A merit-order scenario's strategies (flat or through regions), checked before
    anything is made: one that may not load (``module:Class`` without ``--allow-plugins``)
    is refused at once."""
    if mode.name not in ("merit_order", "merit_hierarchy"):
        return
    from vpp.runs.fleet.strategies import site_strategies
    from vpp.runs.scenario import ScenarioError

    try:
        site_strategies(doc, str(path), allow_import=allow_plugins)
    except ScenarioError as exc:
        fail(str(exc), code=1)
