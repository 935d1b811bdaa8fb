"""``vpp aggregator``: run a scenario whose sites join from other processes or machines."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from vpp.runs.cli.common import (
    LOG_JSON_HELP,
    OVERWRITE_HELP,
    console,
    err_console,
    fail,
    new_run_dir,
    setup_logging,
)
from vpp.runs.cli.options import DATA_DIR_HELP, TRACE_HELP, trace_level, with_data_dirs


@with_data_dirs  # --data-dir (the aggregator loads no plug-in code: no --allow-plugins)
def aggregator(
    scenario: Path = typer.Argument(..., help="The scenario YAML file (the sites run it too)."),
    bind: str | None = typer.Option(
        None, "--bind", help="Where to listen: tcp://ADDR:PORT or ipc://PATH (the root, or "
        "a flat run's aggregator; not with --region)."),
    region: str | None = typer.Option(
        None, "--region", help="Run this one region of the scenario's topology (its "
        "regional aggregator, nested regions and sites) in this process, joined to "
        "--parent like a site process (CURVE keys, heartbeats, loss); a region right under "
        "the root (nested regions run in their top region's process)."),
    parent: str | None = typer.Option(
        None, "--parent", help="With --region: the root's address, tcp://HOST:PORT (its "
        "--bind) or ipc://PATH."),
    server_key: Path | None = typer.Option(
        None, "--server-key", help="With --region: the root's public .key (CURVE; --key is "
        "then this region's .key_secret)."),
    host_name: str | None = typer.Option(
        None, "--host-name", help="With --region: this process's host name \\[default: the "
        "name of --key, else the region's name]."),
    grace_s: float = typer.Option(
        30.0, "--grace-s", help="With --region: how long its sites hold their last "
        "set-point once the root is gone."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run's directory \\[default: vpp-output/<scenario>-<time>; "
        "with --region: vpp-output/<the root's run name>, for this process's trace shard]."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    min_sites: int | None = typer.Option(
        None, "--min-sites", help="Start with this many sites once --join-timeout-s passed "
        "\\[default: wait for all]."),
    join_timeout_s: float = typer.Option(60.0, "--join-timeout-s",
                                         help="How long to wait for the sites."),
    stop_timeout_s: float = typer.Option(10.0, "--stop-timeout-s",
                                         help="How long to wait for the sites to stop."),
    key: Path | None = typer.Option(
        None, "--key", help="The aggregator's .key_secret (CURVE; with --region: this region's)."),
    allow_dir: Path | None = typer.Option(
        None, "--allow-dir", help="Folder of the admitted sites' public .key files and the "
        "sites each may serve (CURVE; vpp keys allow); read again within a second of a "
        "change: a revoked key's host is dropped, a new key joins."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plaintext TCP."),
    heartbeat_ms: int = typer.Option(250, "--heartbeat-ms", help="Heartbeat period."),
    timeout_ms: int = typer.Option(1500, "--timeout-ms",
                                   help="Silence after which a site host is lost; a host "
                                   "that joins with many sites gets its sites times the "
                                   "run's allowance a site when that is longer, as it "
                                   "answers for them all in one pass."),
    ack_ms: int = typer.Option(500, "--ack-ms",
                               help="Resend an unacknowledged dispatch after this."),
    rate_per_s: float = typer.Option(5000.0, "--rate-per-s",
                                     help="Envelopes a second each peer may send."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve Prometheus metrics on this port (0: any free "
        "port); `vpp status tcp://HOST:PORT` reads them."),
    metrics_addr: str = typer.Option("127.0.0.1", "--metrics-addr",
                                     help="The address the metrics endpoint binds."),
    alerts: Path | None = typer.Option(
        None, "--alerts", help="Alert rules (YAML), evaluated continuously (e.g. site lost)."),
    watch: bool = typer.Option(
        False, "--watch", help="Hot reload: apply validated edits of targets, reserve and "
        "negotiation settings from the next step."),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
    log_json: bool = typer.Option(False, "--log-json", help=LOG_JSON_HELP),
    data_dir: list[Path] = typer.Option([], "--data-dir", help=DATA_DIR_HELP),
    trace: str | None = typer.Option(None, "--trace", help=TRACE_HELP),
) -> None:
    """Listen for site processes (vpp site), then run every step with them (merit order or
    ADMM: the negotiation and its answer are the one-process run's). With a topology:
    scenario this is the root, and it waits for its regions: each runs as `vpp aggregator
    SCENARIO --region NAME --parent tcp://ROOT:PORT` on its own machine, joining as a site
    process does. Its start-up stages go to standard error (none with --json)."""
    from vpp.runs.cli.startup import StageLines, command_origin
    from vpp.runs.stages import listening

    # on standard error: standard output's first line is "aggregator listening at ..."
    stages = StageLines(command_origin(), None if as_json else err_console)
    setup_logging(log_level, log_json)
    stages(f"loading scenario {scenario}")
    from vpp.runs.cli.aggregator_region import check_roles

    check_roles(region is not None or parent is not None, {
        "--min-sites": min_sites is not None, "--allow-dir": allow_dir is not None,
        "--seed": seed is not None, "--watch": watch, "--alerts": alerts is not None,
        "--metrics-port": metrics_port is not None, "--trace": trace is not None,
        "--json": as_json, "--overwrite": overwrite},
        {"--server-key": server_key is not None, "--host-name": host_name is not None})
    if region is not None or parent is not None:
        from vpp.runs.cli.aggregator_region import run_region

        run_region(scenario, region=region, parent=parent, bind=bind, out=out,
                   host_name=host_name, key=key, server_key=server_key, insecure=insecure,
                   heartbeat_ms=heartbeat_ms, timeout_ms=timeout_ms, grace_s=grace_s,
                   stages=stages)
    if bind is None:
        fail("--bind: give where to listen (tcp://ADDR:PORT or ipc://PATH), or --region "
             "NAME --parent tcp://HOST:PORT to run one region")
    import zmq
    from vpp.agents.membership.coordinator import LinkSettings
    from vpp.agents.runtime.security import RateLimiter
    from vpp.runs import modes
    from vpp.runs.cli.execute import (
        announce_metrics,
        check_watch,
        execute,
        print_report,
    )
    from vpp.runs.cli.network import check_endpoint, server_security
    from vpp.runs.modes.base import RunContext
    from vpp.runs.ops.hooks import OpsSession
    from vpp.runs.placement.remote import RemotePlacement
    from vpp.runs.record.claim import OutputError, claim
    from vpp.runs.scenario import ScenarioError

    check_endpoint(bind, "--bind")
    try:
        with listening(stages):
            spec, mode = modes.load(scenario)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    check_watch(mode, watch)
    level = trace_level(trace, spec)  # the sites are told it when they join
    try:
        settings = LinkSettings(heartbeat_ms=heartbeat_ms, timeout_ms=timeout_ms, ack_ms=ack_ms)
        limiter = RateLimiter(rate_per_s, 2 * rate_per_s)
    except ValueError as exc:
        fail(str(exc))
    context = zmq.Context()
    setup, allow_list = server_security(context, bind, key, allow_dir, insecure)

    def release() -> None:
        if allow_list is not None:
            allow_list.stop()
        context.term()

    def listening(endpoint: str) -> None:
        ops.fleet_listening(placement.fleet)  # metrics and alerts while the sites join
        if not as_json:
            console.print(f"aggregator listening at [bold]{endpoint}[/] for "
                          f"{len(spec.site_names())} sites", highlight=False)
            if ops.port is not None:
                announce_metrics(ops)

    placement = RemotePlacement(
        bind, listen_setup=setup, limiter=limiter, settings=settings, min_sites=min_sites,
        join_timeout_s=join_timeout_s, stop_timeout_s=stop_timeout_s, context=context,
        bind_identities=allow_list is not None, access=allow_list, on_listening=listening)
    problem = mode.placement_problem(spec, placement.name)
    if problem is not None:
        release()
        fail(problem, code=1)
    run_dir = out or new_run_dir(spec.name)
    try:
        lock = claim(run_dir, overwrite=overwrite)  # before any work; held for the run
    except OutputError as exc:
        release()
        fail(str(exc), code=1)
    run_context = RunContext(run_dir, spec.seed if seed is None else seed, scenario,
                             placement, options={"trace": level})
    ops = OpsSession(spec, out_dir=run_dir, watch=scenario if watch else None, alerts=alerts,
                     metrics_port=metrics_port, metrics_addr=metrics_addr,
                     alerts_between_steps=True, step_unit=mode.step_unit)
    try:
        summary = execute(mode, spec, run_context, plot=False, label=spec.name, ops=ops,
                          stages=stages, quiet=as_json)
    finally:
        release()
        lock.release()
    if allow_list is not None:
        summary["refused_keys"] = allow_list.refused_total
    if as_json:
        print(json.dumps(summary))
        return
    print_report(mode, summary, run_dir)
