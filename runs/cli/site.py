"""``vpp site``: serve some sites of a scenario for an aggregator over the network."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import LOG_JSON_HELP, err_console, fail, setup_logging
from vpp.runs.cli.options import ALLOW_PLUGINS_HELP


def site(
    scenario: Path = typer.Argument(
        ..., help="The scenario YAML file the aggregator runs, or a site file of this "
        "process's own sites (`site:` or `sites:` only; the scenario then comes from the "
        "aggregator and must describe them the same way)."),
    connect: str = typer.Option(..., "--connect",
                                help="The aggregator: tcp://HOST:PORT or ipc://PATH."),
    names: list[str] = typer.Option(
        [], "--site", help="A site of the scenario to serve (repeat it) \\[default: all]."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="The run directory for this process's trace shard "
        "\\[default: vpp-output/<the aggregator's run name>]."),
    host_name: str | None = typer.Option(
        None, "--host-name", help="This process's host name \\[default: the name of --key "
        "(north for north.key_secret; an aggregator with CURVE admits a key under its "
        "name only), else site-<first site>]."),
    key: Path | None = typer.Option(None, "--key", help="This site's .key_secret (CURVE)."),
    server_key: Path | None = typer.Option(None, "--server-key",
                                           help="The aggregator's public .key (CURVE)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plaintext TCP."),
    heartbeat_ms: int = typer.Option(250, "--heartbeat-ms", help="Heartbeat period."),
    timeout_ms: int = typer.Option(1500, "--timeout-ms",
                                   help="Silence after which the aggregator is taken as gone; "
                                   "registering unanswered for 4 of these (and at least 0.8 ms "
                                   "a site), the process connects afresh."),
    grace_s: float = typer.Option(30.0, "--grace-s",
                                  help="How long to hold the last set-point once it is gone."),
    frequency: str | None = typer.Option(
        None, "--frequency", help="A grid agent's PUB (tcp://HOST:PORT or ipc://PATH) whose "
        "frequency samples the sites answer once the aggregator is gone past --grace-s: "
        "batteries by --frequency-service, loads and PV/wind as the next two options say "
        "\\[default: none: the devices then run at their baselines]."),
    frequency_key: Path | None = typer.Option(
        None, "--frequency-key", help="The frequency publisher's public .key: read the feed "
        "over CURVE (encrypted, and from that publisher only) \\[default: plaintext]."),
    local_for: float | None = typer.Option(
        None, "--local-for", help="Exit (code 4) once on local rules for this many seconds, "
        "for a supervisor to restart or alert \\[default: stay local until the aggregator "
        "is back]."),
    frequency_service: str = typer.Option(
        "ce-fcr", "--frequency-service", help="The service the batteries give then: ce-fcr, "
        "gb-dc or ercot-ffr."),
    frequency_shedding: str | None = typer.Option(
        None, "--frequency-shedding", help="Shed the sites' fixed and curtailable loads "
        "then, by under-frequency stages: de-ufls or ercot-ufls \\[default: none]."),
    frequency_curtailment: str | None = typer.Option(
        None, "--frequency-curtailment", help="Curtail the sites' PV and wind then, above "
        "nominal: lfsm-o-50 or lfsm-o-60 \\[default: none]."),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
    log_json: bool = typer.Option(False, "--log-json", help=LOG_JSON_HELP),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", help="Serve this process's Prometheus metrics on this port "
        "(0: any free port, logged at INFO)."),
    metrics_addr: str = typer.Option("127.0.0.1", "--metrics-addr",
                                     help="The address the metrics endpoint binds."),
    allow_plugins: bool = typer.Option(
        False, "--allow-plugins", help=ALLOW_PLUGINS_HELP + " It applies to this process's "
        "own file only: a scenario received from the aggregator never loads code."),
) -> None:
    """Join an aggregator (vpp aggregator) and serve sites until told to stop.

    Exit codes: 0 stopped by the aggregator; 1 a bad file, or the run directory not
    writable, in use or full; 2 refused (its key not admitted, its sites not granted, a
    scenario unlike the aggregator's: it says why within seconds); 4 on local rules longer
    than --local-for; 143 signal. docs/deployment.md shows a systemd unit.
    Its start-up stages (loading, building the sites, joining) go to standard error.
    """
    options = dict(locals())
    from vpp.runs.cli.startup import StageLines, command_origin
    from vpp.runs.stages import listening

    stages = StageLines(command_origin(), err_console)
    stages(f"loading scenario {scenario}")
    with listening(stages):
        _site(**options)


def _site(scenario, connect, names, metrics_port, metrics_addr, host_name, out, key,
          server_key, insecure, heartbeat_ms, timeout_ms, grace_s, local_for, frequency,
          frequency_service, frequency_shedding, frequency_curtailment, frequency_key,
          log_level, log_json, allow_plugins) -> None:
    """``vpp site`` once its stage lines listen (the options as :func:`site` has them)."""
    setup_logging(log_level, log_json)
    from vpp.agents.membership.coordinator import LinkSettings
    from vpp.runs.cli.network import check_endpoint, client_security
    from vpp.runs.fleet.strategies import site_strategy
    from vpp.runs.placement.site_file import (
        check_against,
        is_site_file,
        parse_site_file,
    )
    from vpp.runs.placement.site_process import (
        LocalFrequency,
        fetch_scenario,
        host_name_for,
        serve_sites,
    )
    from vpp.runs.record.claim import OutputError
    from vpp.runs.scenario import ScenarioError, check_scenario, parse, read_mapping

    check_endpoint(connect, "--connect")
    site_file = None
    try:
        data = read_mapping(scenario)
        if is_site_file(data):
            site_file = parse_site_file(data, str(scenario))
            for path, entry in site_file.entries():  # its own strategies, before connecting
                site_strategy(entry, 0, str(scenario), allow_import=allow_plugins,
                              field=f"{path}.strategy")
            mine = site_file.names()
            strange = [n for n in names if n not in mine]
            if strange:
                fail(f"--site {', '.join(strange)}: not in the site file {scenario} "
                     f"(it has {', '.join(mine)})")
        else:
            spec = parse(data, str(scenario))
            _check_remote(spec)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    if local_for is not None and not local_for > 0:
        fail(f"--local-for: a positive number of seconds, got {local_for}")
    if frequency_key is not None and frequency is None:
        fail("--frequency-key: give the feed too (--frequency ENDPOINT)")
    frequency_public = None
    if frequency_key is not None:
        from vpp.agents.runtime.security import KeyFileError, load_public

        try:
            frequency_public = load_public(frequency_key)
        except KeyFileError as exc:
            fail(f"--frequency-key: {exc}")
    try:
        settings = LinkSettings(heartbeat_ms=heartbeat_ms, timeout_ms=timeout_ms, grace_s=grace_s)
        local = (LocalFrequency(frequency, frequency_service, frequency_shedding,
                                frequency_curtailment, frequency_public)
                 if frequency is not None else None)
    except ValueError as exc:
        fail(str(exc))
    if frequency is not None:
        check_endpoint(frequency, "--frequency")
    setup = client_security(connect, key, server_key, insecure)
    if host_name is None and setup is not None and key is not None:
        from vpp.agents.runtime.security import key_name

        host_name = key_name(key)
    where = str(scenario)
    if site_file is not None:
        names = names or site_file.names()
        try:
            spec = fetch_scenario(connect, host_name or host_name_for(names), setup=setup)
            if spec is None:
                raise SystemExit(143)
            check_scenario(spec, f"the scenario of the aggregator at {connect}")  # caps first
            _check_remote(spec)
            check_against(site_file, spec, str(scenario))
        except ScenarioError as exc:
            fail(str(exc), code=2)
        where = f"the scenario of the aggregator at {connect}"
    metrics = None
    if metrics_port is not None:
        from vpp.agents.ops.metrics import OpsMetrics
        from vpp.runs.ops.swarm_metrics import site_process_metrics

        metrics = OpsMetrics()
        try:
            metrics.serve(metrics_port, metrics_addr)
        except OSError as exc:
            fail(f"--metrics-port {metrics_port}: cannot serve metrics ({exc.strerror})")
    try:
        result = serve_sites(spec, names or spec.site_names(), connect, out_dir=out,
                             where=where, host_name=host_name, setup=setup,
                             settings=settings, frequency=local, local_for_s=local_for,
                             allow_plugins=allow_plugins,
                             own_sites=(None if site_file is None
                                        else [entry for _, entry in site_file.entries()]),
                             on_host=(lambda host: site_process_metrics(
                                 host, [a for a in host.agents.values() if a.role == "site"],
                                 metrics))
                             if metrics is not None else None)
    except (ScenarioError, OutputError) as exc:
        fail(str(exc), code=1)
    finally:
        if metrics is not None:
            metrics.close()
    if result.exit_code in (1, 2):
        fail(result.reason, code=result.exit_code)
    raise SystemExit(result.exit_code)


def _check_remote(spec) -> None:
    """Raise ScenarioError (naming the field) unless the scenario's mode runs with its sites
    in other processes."""
    from vpp.runs import modes
    from vpp.runs.scenario import ScenarioError

    problem = modes.select(spec).placement_problem(spec, "remote")
    if problem is not None:
        raise ScenarioError(problem)
