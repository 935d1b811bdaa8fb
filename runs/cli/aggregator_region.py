"""``vpp aggregator SCENARIO --region NAME --parent tcp://HOST:PORT``: one region of a
``topology:`` scenario in this process, joined to its parent (the root's ``vpp
aggregator SCENARIO --bind ...``) as a site process joins (see
:mod:`vpp.runs.modes.hierarchy.merit_remote`)."""

from __future__ import annotations

import re
from pathlib import Path

from vpp.runs.cli.common import fail

_TCP = re.compile(r"^tcp://(\[[0-9a-fA-F:.]+\]|[^:/\[\]*]+):([0-9]{1,5})$")


def check_parent(parent: str) -> None:
    """Fail naming ``--parent`` unless it is ``tcp://HOST:PORT`` (a port number, not ``*``)
    or ``ipc://PATH``."""
    if parent.startswith("ipc://") and len(parent) > len("ipc://"):
        return
    match = _TCP.match(parent)
    if match is None or not 0 < int(match.group(2)) < 65536:
        fail(f"--parent {parent!r}: expected the root's address, tcp://HOST:PORT (a port "
             "from 1 to 65535) or ipc://PATH")


def check_roles(is_region: bool, root_only: dict[str, bool],
                region_only: dict[str, bool]) -> None:
    """Fail naming the first option given that is not for this role (a region process,
    ``is_region``, or the root / a flat run's aggregator)."""
    wrong = [o for o, given in (root_only if is_region else region_only).items() if given]
    if wrong and is_region:
        fail(f"{wrong[0]}: an option of the root (or a flat run's aggregator), not of a "
             "region process (--region)")
    if wrong:
        fail(f"{wrong[0]}: an option of a region process; give --region NAME --parent "
             "tcp://HOST:PORT too")


def run_region(scenario: Path, *, region: str | None, parent: str | None, bind: str | None,
               out: Path | None, host_name: str | None, key: Path | None,
               server_key: Path | None, insecure: bool, heartbeat_ms: int, timeout_ms: int,
               grace_s: float, stages) -> None:
    """Serve ``region`` of ``scenario`` for the root at ``parent`` until stopped; exit with
    the site process's code (0 stopped by the root, 1 a bad file or run directory, 2
    refused, 143 signal). Every bad option fails naming it."""
    from vpp.agents.membership.coordinator import LinkSettings
    from vpp.coordination.hierarchy.topology import build_topology
    from vpp.runs import modes
    from vpp.runs.cli.network import client_security, needs_security
    from vpp.runs.modes.hierarchy.merit_remote import region_subtree, serve_region
    from vpp.runs.record.claim import OutputError
    from vpp.runs.scenario import ScenarioError

    if region is None:
        fail("--region: give the region this process runs (with --parent)")
    if parent is None:
        fail(f"--parent: give the root's address (tcp://HOST:PORT) for --region {region}")
    if bind is not None:
        fail(f"--bind {bind}: a region process does not listen; it joins its parent "
             "(--parent)")
    check_parent(parent)
    try:
        spec, mode = modes.load(scenario)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    if spec.topology is None:
        fail(f"--region {region}: the scenario {scenario} has no topology: section")
    problem = mode.placement_problem(spec, "remote")
    if problem is not None or mode.name != "merit_hierarchy":
        fail(f"--region {region}: region processes run merit order through regions; "
             f"{problem or f'this scenario runs {mode.name}'}", code=1)
    try:
        region_subtree(build_topology(spec.topology, spec.site_names()), region)
        settings = LinkSettings(heartbeat_ms=heartbeat_ms, timeout_ms=timeout_ms,
                                grace_s=grace_s)
    except ValueError as exc:
        fail(str(exc))
    if (needs_security(parent) and not insecure
            and (key is None or server_key is None)):
        fail(f"--parent {parent}: plaintext TCP needs --insecure; for CURVE give --key "
             "(this region's .key_secret) and --server-key (the root's public .key)")
    setup = client_security(parent, key, server_key, insecure)
    if host_name is None and setup is not None and key is not None:
        from vpp.agents.runtime.security import key_name

        host_name = key_name(key)
    from vpp.runs.placement.remote import AGGREGATOR_HOST

    if (host_name or region) == AGGREGATOR_HOST:
        fail(f"--host-name: {AGGREGATOR_HOST!r} is the root's own host name; give another"
             + ("" if host_name else f" (--region {region} would take it)"))
    stages(f"building region {region}")
    try:
        result = serve_region(spec, region, parent, host_name=host_name, out_dir=out,
                              where=str(scenario), setup=setup, settings=settings)
    except (ScenarioError, OutputError) as exc:
        fail(str(exc), code=1)
    if result.exit_code in (1, 2):
        fail(result.reason, code=result.exit_code)
    raise SystemExit(result.exit_code)
