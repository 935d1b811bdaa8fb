"""The ``vpp`` command line (typer). Each command lives in its own module here.

Heavy libraries (mesa, pandas, matplotlib, numpy) are imported inside the commands, so
``vpp --help`` answers at once.
"""

from __future__ import annotations

import typer
from vpp.runs.cli import (
    aggregator,
    authoring,
    backtest,
    bench,
    feed,
    keys,
    modes,
    run,
    site,
    status,
    sweep,
    trace,
    validate,
)

app = typer.Typer(
    name="vpp",
    help="vpp-swarm: a virtual power plant as a swarm of agents on ZeroMQ.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("run")(run.run)
app.command("validate")(validate.validate)
app.command("modes")(modes.modes)
app.command("init")(authoring.init)
app.command("schema")(authoring.schema)
app.command("sweep")(sweep.sweep)
app.command("compare")(sweep.compare)
app.command("backtest")(backtest.backtest)
app.command("aggregator")(aggregator.aggregator)
app.command("site")(site.site)
app.command("status")(status.status)
app.command("feed")(feed.feed)
app.add_typer(trace.app, name="trace")
app.add_typer(bench.app, name="bench")
app.add_typer(keys.app, name="keys")


def main() -> None:
    """The ``vpp`` console script: the app, with a feature whose optional extra is not
    installed ending in one line that names it (exit 2), not a traceback. A command's
    time counts from the process's start (:mod:`vpp.runs.cli.startup`)."""
    from vpp.runs.cli.startup import mark_entry

    mark_entry()
    from vpp.physics.extras import MissingExtra

    try:
        app()
    except MissingExtra as exc:
        from vpp.runs.cli.common import fail

        fail(str(exc))
