"""``vpp backtest``: replay market prices through trading strategies, write a report."""

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
from vpp.runs.cli.options import ALLOW_PLUGINS_HELP


def backtest(
    scenario: Path = typer.Argument(None, help="A backtest YAML (default: the bundled "
                                    "DE-LU 2019 year with three strategies)."),
    out: Path = typer.Option(None, "--out", help="Report folder (default: "
                             "vpp-output/<scenario>-<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
    days: int = typer.Option(None, "--days", help="Only the first N days of the data."),
    agents: bool = typer.Option(False, "--agents", help="Trade through the market agents "
                                "over inproc ZeroMQ (day-ahead and intraday; no FCR)."),
    log_level: str = typer.Option("WARNING", "--log-level", help="Logging level."),
    log_json: bool = typer.Option(False, "--log-json", help=LOG_JSON_HELP),
    allow_plugins: bool = typer.Option(False, "--allow-plugins", help=ALLOW_PLUGINS_HELP),
) -> None:
    """Backtest trading strategies hour by hour (no look-ahead); tables, CSV and PNG plots
    (the same as `vpp run BACKTEST.yaml`, with --days and --seed at hand)."""
    from vpp.runs.cli.startup import StageLines, command_origin
    from vpp.runs.stages import listening

    stages = StageLines(command_origin(), console)
    stages(f"loading backtest {scenario}" if scenario else "loading the default backtest")
    with listening(stages):
        _backtest(stages, scenario, out, overwrite, seed, days, agents, log_level, log_json,
                  allow_plugins)


def _backtest(stages, scenario, out, overwrite, seed, days, agents, log_level, log_json,
              allow_plugins) -> None:
    """``vpp backtest`` once its stage lines listen (the options as :func:`backtest` has
    them)."""
    import msgspec
    from vpp.runs import modes
    from vpp.runs.cli.execute import execute, print_report
    from vpp.runs.modes.backtest.files import DEFAULT_BACKTEST
    from vpp.runs.modes.base import RunContext
    from vpp.runs.placement.local import LocalPlacement
    from vpp.runs.scenario import ScenarioError

    setup_logging(log_level, log_json)
    path = scenario or DEFAULT_BACKTEST
    try:
        spec, mode = modes.load(path)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    if mode.name != "backtest":
        fail(f"{path}: not a backtest file (it is a {mode.name} scenario: vpp run it)", code=1)
    if seed is not None:
        spec = msgspec.structs.replace(spec, seed=seed)
    if days is not None:
        if days < 2:
            fail("--days: at least 2")
        spec = msgspec.structs.replace(spec, data=msgspec.structs.replace(spec.data, days=days))
    target = out or new_run_dir(spec.name)
    _lock = claim_out(target, overwrite)  # before the work; held while this runs
    context = RunContext(target, spec.seed, path, LocalPlacement(),
                         options={"allow_plugins": allow_plugins, "agents": agents})
    summary = execute(mode, spec, context, plot=True, label=spec.name, stages=stages)
    print_report(mode, summary, target)
