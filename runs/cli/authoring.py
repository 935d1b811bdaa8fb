"""``vpp init`` (a commented starting scenario) and ``vpp schema`` (the scenario format's
JSON Schema, for editors)."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import console, fail


def init(
    template: str = typer.Option("fleet", "--template", "-t", help="Which starting scenario: "
                                 "fleet (merit-order dispatch against a target from bundled "
                                 "data) or market (a day-ahead sale at your own prices; "
                                 "writes prices.csv too)."),
    folder: Path = typer.Option(Path("."), "--dir", help="Where to write it (default: the "
                                "current directory)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files already there."),
) -> None:
    """Write a commented starting scenario (and the data file it reads) to edit into your
    own: `vpp init`, then `vpp validate fleet.yaml` and `vpp run fleet.yaml`."""
    from vpp.runs.authoring import InitError, write_template

    try:
        written = write_template(template, folder, force=force)
    except InitError as exc:
        fail(str(exc), code=1)
    for path in written:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    console.print(f"next: vpp validate {written[0]} && vpp run {written[0]}", highlight=False,
                  soft_wrap=True)


def schema(
    out: Path | None = typer.Option(None, "--out", "-o", help="Write it to this file "
                                    "instead of printing it."),
) -> None:
    """Print the JSON Schema of the scenario format, for an editor's completion and
    checks (e.g. `vpp schema -o scenario.schema.json`, then map *.yaml to it)."""
    from vpp.runs.authoring import schema_text

    text = schema_text()
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"wrote {out}", highlight=False, soft_wrap=True)
