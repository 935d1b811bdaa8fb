"""``vpp status``: a running aggregator's sites, their health, last heartbeat, key metrics."""

from __future__ import annotations

import json

import typer
from vpp.runs.cli.common import console, fail, table


def status(
    address: str = typer.Argument(
        ..., help="The aggregator's metrics endpoint: tcp://HOST:PORT (its --metrics-port)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    timeout_s: float = typer.Option(5.0, "--timeout-s", help="How long to wait for an answer."),
) -> None:
    """Show a running aggregator's (or run's) sites, their health and last heartbeat,
    messages per host, steps, rounds, alerts firing, CPU and memory."""
    from vpp.runs.ops.status import StatusError, scrape
    from vpp.runs.ops.status import status as read_status

    try:
        result = read_status(scrape(address, timeout_s))
    except StatusError as exc:
        fail(str(exc), code=1)
    if as_json:
        print(json.dumps(result))
        return
    if result["sites"]:
        counts = ", ".join(f"{n} {state}" for state, n in result["sites_by_state"].items())
        console.print(table(f"sites ({counts} of {len(result['sites'])})",
                            ("site", "state", "host", "last heartbeat (s ago)"),
                            [(s["site"], _STATE_SHOWN.get(s["state"], s["state"]), s["host"],
                              None if s["heartbeat_age_s"] is None
                              else f"{s['heartbeat_age_s']:.2f}") for s in result["sites"]]))
    console.print(table("hosts", ("host", "sent", "received", "dropped"),
                        [(h, v["sent"], v["received"], v["dropped"])
                         for h, v in result["hosts"].items()]))
    firing = ", ".join(f"{k} ({v})" for k, v in result["alerts_firing"].items()) or "none"
    console.print(table("run", ("quantity", "value"), [
        ("steps", result["steps"]), ("negotiation rounds", result["negotiation_rounds"]),
        ("alerts firing", firing), ("process CPU (s)", result["process_cpu_s"]),
        ("resident memory (MiB)", result["process_rss_mib"])]))


_STATE_SHOWN = {"lost": "LOST"}
"""How a site's state is shown: a lost site stands out; waiting, up and stopped as such."""

