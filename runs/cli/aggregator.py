"""``vpp aggregator``: run a scenario whose sites join from other processes or machines."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from vpp.runs.cli.common import (
    LOG_JSON_HELP,
    OVERWRITE_HELP,
    console,
    fail,
    fail_write,
    new_run_dir,
    setup_logging,
    table,
)
from vpp.runs.cli.options import DATA_DIR_HELP, with_data_dirs


@with_data_dirs  # --data-dir (the aggregator loads no plug-in code: no --allow-plugins)
def aggregator(
    scenario: Path = typer.Argument(..., help="The scenario YAML file (the sites run it too)."),
    bind: str = typer.Option(..., "--bind", help="Where to listen: tcp://ADDR:PORT or ipc://PATH."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run's directory \\[default: vpp-output/<scenario>-<time>]."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's seed."),
    min_sites: int | None = typer.Option(
        None, "--min-sites", help="Start with this many sites once --join-timeout-s passed "
        "\\[default: wait for all]."),
    join_timeout_s: float = typer.Option(60.0, "--join-timeout-s",
                                         help="How long to wait for the sites."),
    stop_timeout_s: float = typer.Option(10.0, "--stop-timeout-s",
                                         help="How long to wait for the sites to stop."),
    key: Path | None = typer.Option(None, "--key", help="The aggregator's .key_secret (CURVE)."),
    allow_dir: Path | None = typer.Option(
        None, "--allow-dir", help="Folder of the admitted sites' public .key files and the "
        "sites each may serve (CURVE; vpp keys allow); read again within a second of a "
        "change: a revoked key's host is dropped, a new key joins."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plaintext TCP."),
    heartbeat_ms: int = typer.Option(250, "--heartbeat-ms", help="Heartbeat period."),
    timeout_ms: int = typer.Option(1500, "--timeout-ms",
                                   help="Silence after which a site is lost."),
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
) -> None:
    """Listen for site processes (vpp site), then negotiate every step with them."""
    setup_logging(log_level, log_json)
    import zmq
    from vpp.agents.membership.coordinator import LinkSettings
    from vpp.agents.runtime.security import RateLimiter
    from vpp.agents.runtime.trace import TraceWriteError
    from vpp.runs.cli.network import check_endpoint, server_security
    from vpp.runs.placement.remote import DistributedError, aggregator_run
    from vpp.runs.record.claim import OutputError, claim
    from vpp.runs.scenario import ScenarioError, load

    check_endpoint(bind, "--bind")
    try:
        spec = load(scenario)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    if watch and spec.coordination == "admm":
        fail("--watch: hot reload of ADMM runs is not built (run it without --watch)")
    try:
        settings = LinkSettings(heartbeat_ms=heartbeat_ms, timeout_ms=timeout_ms, ack_ms=ack_ms)
        limiter = RateLimiter(rate_per_s, 2 * rate_per_s)
    except ValueError as exc:
        fail(str(exc))
    context = zmq.Context()
    setup, allow_list = server_security(context, bind, key, allow_dir, insecure)
    run_dir = out or new_run_dir(spec.name)
    try:
        lock = claim(run_dir, overwrite=overwrite)  # before any work; held for the run
    except OutputError as exc:
        if allow_list is not None:
            allow_list.stop()
        context.term()
        fail(str(exc), code=1)
    try:
        agg = aggregator_run(spec, run_dir, bind=bind, scenario_path=scenario, seed=seed,
                            listen_setup=setup, limiter=limiter, settings=settings,
                            min_sites=min_sites, join_timeout_s=join_timeout_s,
                            stop_timeout_s=stop_timeout_s, context=context,
                            bind_identities=allow_list is not None, access=allow_list)
    except (ScenarioError, ValueError, zmq.ZMQError, TraceWriteError) as exc:
        if allow_list is not None:
            allow_list.stop()
        context.term()
        fail(str(exc), code=1)
    from vpp.runs.ops.alerting import AlertsError
    from vpp.runs.ops.swarm_metrics import aggregator_metrics
    from vpp.runs.ops.wiring import AggregatorApplier, attach

    metrics = aggregator_metrics(agg)
    try:
        _, monitor, reloader = attach(
            agg.host, metrics, alerts=alerts, watch=scenario if watch else None, running=spec,
            applier=AggregatorApplier(agg, scenario) if watch else None, host_name=agg.host.name)
        port = metrics.serve(metrics_port, metrics_addr) if metrics_port is not None else None
    except (AlertsError, OSError) as exc:
        agg.close()
        context.term()
        fail(str(exc), code=1)
    if monitor is not None:
        monitor.start(agg.host)
    if not as_json:
        console.print(f"aggregator listening at [bold]{agg.endpoint}[/] for "
                      f"{len(spec.site_names())} sites", highlight=False)
        if port is not None:
            console.print(f"metrics on http://{metrics_addr}:{port}/metrics "
                          f"(vpp status tcp://{metrics_addr}:{port})", highlight=False)
    try:
        def between_steps(next_step: int) -> None:
            for hook in (reloader, monitor):
                if hook is not None:
                    hook.before_step(next_step)

        summary = agg.run(progress=between_steps)
        agg.trace.sync()  # the last rows on disk before the run is said to be over
        for hook in (monitor, reloader):
            if hook is not None:
                summary.update(hook.summary())
    except DistributedError as exc:
        fail(str(exc), code=1)
    except (TraceWriteError, OSError) as exc:
        fail_write(run_dir, exc)
    finally:
        for hook in (monitor, reloader):
            if hook is not None:
                hook.close()
        metrics.close()
        try:
            agg.close()
        except TraceWriteError:
            pass  # the run failed for it already, and said so
        if allow_list is not None:
            allow_list.stop()
        context.term()
        lock.release()
    if allow_list is not None:
        summary["refused_keys"] = allow_list.refused_total
    if as_json:
        print(json.dumps(summary))
        return
    console.print(table(f"distributed run {spec.name}", ("quantity", "value"), [
        (k, ", ".join(map(str, v)) if isinstance(v, list) else v)
        for k, v in summary.items() if k not in ("liveness_events", "dropped_by_reason")]))
