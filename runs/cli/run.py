"""``vpp run``: run a scenario as a local swarm."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import (
    LOG_JSON_HELP,
    OVERWRITE_HELP,
    claim_out,
    console,
    fail,
    fail_write,
    new_run_dir,
    setup_logging,
    table,
)
from vpp.runs.cli.options import ALLOW_PLUGINS_HELP, DATA_DIR_HELP, with_data_dirs


@with_data_dirs
def run(
    scenario: Path | None = typer.Argument(
        None, help="A scenario YAML file; the bundled default scenario when omitted."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run's directory \\[default: vpp-output/<scenario>-<time>]."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="Write dispatch.png."),
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
        "the next step (merit-order swarms) or frequency sample (grid events: droop and "
        "trigger settings, contracted_kw); see docs/operations.md."),
    pace: float | None = typer.Option(
        None, "--pace", help="Grid events: simulated seconds per wall second (1: real time, "
        "so that an edit with --watch lands mid-event); default: as fast as it can."),
    alerts: Path | None = typer.Option(
        None, "--alerts", help="Alert rules (YAML: rules, webhook, command), evaluated after "
        "every step; see docs/operations.md."),
    allow_plugins: bool = typer.Option(False, "--allow-plugins", help=ALLOW_PLUGINS_HELP),
    data_dir: list[Path] = typer.Option([], "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Run a scenario: negotiate every step over ZeroMQ, trace it, summarize it. A
    scenario with a `grid:` section runs its grid event instead (frequency response, and
    the settlement of what the sites sold) and/or its Volt-VAR study (`grid.voltage`)."""
    setup_logging(log_level, log_json)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from vpp.runs.modes.merit_order.swarm import build_swarm
    from vpp.runs.scenario import DEFAULT_SCENARIO, ScenarioError, load

    path = scenario or DEFAULT_SCENARIO
    try:
        spec = load(path)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    run_dir = out or new_run_dir(spec.name)
    ops_asked = [name for name, given in (("--metrics-port", metrics_port is not None),
                                          ("--watch", watch and spec.grid is None),
                                          ("--alerts", alerts is not None)) if given]
    if watch and processes is not None:
        ops_asked.append("--watch")
    if pace is not None and (spec.grid is None or not pace > 0):
        fail("--pace: a positive number, for a scenario with a grid event")
    if ops_asked and (processes is not None or spec.grid is not None):
        fail(f"{', '.join(ops_asked)}: not built for "
             f"{'--processes' if processes is not None else 'grid events'} yet (use them "
             "with a one-process swarm, or with vpp aggregator)")
    if processes is not None:
        from vpp.runs.cli.spawned import run_spawned
        from vpp.runs.fleet.strategies import site_strategies
        from vpp.runs.placement.remote import check_distributable

        try:
            check_distributable(spec)
            site_strategies(spec, str(path), allow_import=allow_plugins)  # errors before forks
        except ScenarioError as exc:
            fail(str(exc), code=1)
        _lock = claim_out(run_dir, overwrite)  # before any work; held while this runs
        run_spawned(path, spec.steps, spec.name, run_dir, processes, seed, plot,
                    allow_plugins=allow_plugins)
        return
    if spec.grid is not None:
        from vpp.runs.cli.grid_event import run_grid_event

        if watch and scenario is None:
            fail("--watch needs a scenario file of your own")
        _lock = claim_out(run_dir, overwrite)  # before any work; held while this runs
        run_grid_event(spec, path, run_dir, plot, watch=watch, pace=pace)
        return
    from vpp.agents.runtime.trace import TraceWriteError

    if watch and (scenario is None or spec.coordination != "merit_order"):
        fail("--watch needs a merit-order scenario file of your own (hot reload of ADMM "
             "runs is not built)")
    from vpp.runs.fleet.strategies import site_strategies

    try:
        site_strategies(spec, str(path), allow_import=allow_plugins)  # refused: no folder made
    except ScenarioError as exc:
        fail(str(exc), code=1)
    _lock = claim_out(run_dir, overwrite)  # before any work; held while this function runs
    try:
        model = build_swarm(spec, run_dir, scenario_path=path, seed=seed,
                            allow_plugins=allow_plugins)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    except (TraceWriteError, OSError) as exc:
        fail_write(run_dir, exc)
    from vpp.agents.ops.metrics import OpsMetrics
    from vpp.runs.ops.alerting import AlertsError
    from vpp.runs.ops.appliers import SwarmApplier
    from vpp.runs.ops.live import LiveRun
    from vpp.runs.ops.wiring import attach

    metrics = OpsMetrics()
    try:
        _, monitor, reloader = attach(
            model.agg_host, metrics, alerts=alerts, watch=path if watch else None,
            running=spec, applier=SwarmApplier(model, path) if watch else None,
            host_name=model.agg_host.name)
    except AlertsError as exc:
        model.close()
        fail(str(exc), code=1)
    hooks = [h for h in (reloader, monitor) if h is not None]
    try:
        live = LiveRun(model, metrics=metrics, metrics_port=metrics_port,
                       metrics_addr=metrics_addr, hooks=hooks)
    except OSError as exc:
        model.close()
        fail(f"--metrics-port {metrics_port}: cannot serve metrics ({exc.strerror})")
    if live.metrics_port is not None:
        console.print(f"metrics on http://{metrics_addr}:{live.metrics_port}/metrics")
    try:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task(f"{spec.name}: steps", total=spec.steps)
            summary = live.run(progress=lambda k: progress.update(task, completed=k))
            model.trace.sync()  # the last rows on disk before the run is said to be over
    except (TraceWriteError, OSError) as exc:
        fail_write(run_dir, exc)
    finally:
        live.close()
        try:
            model.close()
        except TraceWriteError:
            pass  # the run failed for it already, and said so
    if plot:
        from vpp.runs.plots import plot_run

        plot_run(run_dir)
    if summary.get("coordination") == "admm":
        rows = _admm_rows(summary)
    else:
        rows = merit_order_rows(summary)
        if "market" in summary:
            day_ahead = summary["market"]["day_ahead"]
            rows[2:2] = [("sold day-ahead (MWh)", day_ahead["sold_mwh"]),
                         ("bought day-ahead (MWh)", day_ahead["bought_mwh"]),
                         ("day-ahead revenue (EUR)", day_ahead["revenue_eur"]),
                         ("net revenue (EUR, less dispatch cost)", summary["net_revenue_eur"])]
            if "plan" in day_ahead:
                plan = day_ahead["plan"]
                rows[2:2] = [
                    ("plan: method", plan["method"] + (" (fallback)" if plan["fallback_used"]
                                                       else "")),
                    ("plan: expected revenue (EUR)", plan["expected_revenue_eur"]),
                    (f"plan: CVaR {plan['risk_level']:g} of the cost (EUR)", plan["cvar_eur"])]
            if "ancillary" in summary["market"]:
                reserve = summary["market"]["ancillary"]
                rows[2:2] = [("reserve sold (MW, upward)", reserve["awarded_mw"]),
                             ("reserve payment (EUR)", reserve["payment_eur"])]
    ops = summary["metrics"]
    rows += [("process CPU (s)", ops["process_cpu_s"]),
             ("resident memory (MiB)", ops["process_rss_mib"])]
    console.print(table(f"run {spec.name} (seed {summary['seed']})", ("quantity", "value"), rows))
    console.print(f"trace and results in [bold]{run_dir}[/]  (next: vpp trace show {run_dir})")


def _admm_rows(summary: dict) -> list[tuple[str, object]]:
    """The summary table of an ADMM run."""
    converged = sum(1 for n in summary["negotiations"] if n["converged"])
    return [
        ("sites", summary["sites"]), ("steps", summary["steps"]),
        ("coordination", f"admm ({summary['coupling']})"),
        ("negotiations converged", f"{converged} of {len(summary['negotiations'])}"),
        ("ADMM iterations", summary["iterations"]),
        ("target energy (kWh)", summary["target_kwh"]),
        ("planned energy (kWh)", summary["planned_kwh"]),
        ("delivered energy (kWh)", summary["served_kwh"]),
        ("unserved energy (kWh)", summary["unserved_kwh"]),
        ("largest gap to the target (kW)", f"{summary['max_target_gap_kw']:.3g}"),
        ("delivered minus planned (kWh, summed |.|)", f"{summary['plan_deviation_kwh']:.3g}"),
        ("cost (EUR, sites' private costs"
         + (" less market revenue)" if summary["coupling"] == "market" else ")"),
         summary["cost_eur"]),
        ("sites dropped", ", ".join(f"{k} ({v})" for k, v in summary["dropped_sites"].items())
         or "none"),
        ("messages", summary["messages"]), ("messages dropped", summary["dropped"]),
        ("wall time (s)", summary["wall_s"]),
    ]


def merit_order_rows(summary: dict) -> list[tuple[str, object]]:
    """The summary table of a merit-order run (one process or site processes)."""
    rows: list[tuple[str, object]] = [
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
    ]
    if "lost_sites" in summary:
        rows.append(("sites lost", ", ".join(summary["lost_sites"]) or "none"))
    rows.append(("wall time (s)", summary["wall_s"]))
    return rows
