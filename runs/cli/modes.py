"""``vpp modes``: the run modes known here, and what each runs."""

from __future__ import annotations

from vpp.runs.cli.common import console, table


def modes() -> None:
    """List the run modes (built-in, registered, installed by entry point `vpp.modes`):
    the name a scenario's `mode:` gives, what it runs, where it can run."""
    from vpp.runs import modes as registry

    rows = []
    for name in registry.names():
        mode = registry.get(name)
        rows.append((name, mode.title, ", ".join(sorted(mode.placements))))
    console.print(table("run modes", ("mode", "what it runs", "placements"), rows))
