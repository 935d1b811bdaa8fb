"""``vpp trace``: read a run's trace (all its shards as one)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.padding import Padding
from rich.text import Text
from vpp.runs.cli.common import (
    console,
    emit_records,
    err_console,
    fail,
    latest_run_dir,
    table,
)

app = typer.Typer(help="Inspect a run's trace: overview, messages, rounds, plot.",
                  no_args_is_help=True)

RunDir = typer.Argument(None, help="The run directory \\[default: the newest under vpp-output/].")


def _open(run_dir: Path | None):
    from vpp.agents.runtime.trace_reader import TraceError, TraceReader

    run_dir = run_dir or latest_run_dir()
    if run_dir is None:
        fail("no run directory given and none found under vpp-output/")
    try:
        return TraceReader(run_dir)
    except TraceError as exc:
        fail(str(exc))


@app.command("show")
def show(run_dir: Path | None = RunDir) -> None:
    """What happened: agents, steps, messages by kind, dispatch per site, unserved energy."""
    reader = _open(run_dir)
    meta, agents, steps = reader.meta(), reader.agents(), reader.steps()
    counts, dispatch, level = reader.message_counts(), reader.dispatch(), reader.level()
    reader.close()
    dt_h = float(meta.get("step_minutes", 15)) / 60.0
    console.print(f"[bold]{reader.run_dir}[/]: scenario {meta.get('scenario')}, seed "
                  f"{meta.get('seed')}, {len(steps)} steps of {meta.get('step_minutes')} min, "
                  f"trace shards: {', '.join(reader.shards)}, trace level {level['level']}")
    if level["note"]:
        console.print(f"[yellow]{level['note']}[/] (the counts below include the messages "
                      "not recorded; `vpp trace messages` lists only those recorded)")
    roles: dict[str, int] = {}
    for a in agents:
        roles[a["role"]] = roles.get(a["role"], 0) + 1
    console.print(table("agents", ("role", "count"), sorted(roles.items())))
    kinds = sorted({k for k, _ in counts})
    console.print(table("messages by kind", ("kind", "sent", "received", "dropped"), [
        (k, counts.get((k, "send"), 0), counts.get((k, "recv"), 0), counts.get((k, "drop"), 0))
        for k in kinds]))
    per_site: dict[str, list[float]] = {}
    for d in dispatch:
        acc = per_site.setdefault(d["site"], [0.0, 0.0, 0.0, 0.0])
        acc[0] += max(d["power_kw"], 0.0) * dt_h
        acc[1] += max(-d["power_kw"], 0.0) * dt_h
        acc[2] += d["reserve_kw"] * dt_h
        acc[3] += d["cost_eur"]
    console.print(table("dispatch per site", (
        "site", "injected (kWh)", "absorbed (kWh)", "reserve held (kWh)", "paid (EUR)"),
        [(s, *v) for s, v in per_site.items()]))
    unserved = [s for s in steps if s["unserved_kw"] > 0]
    console.print(table("energy", ("quantity", "value"), [
        ("target (kWh)", sum(abs(s["target_kw"]) for s in steps) * dt_h),
        ("served (kWh)", sum(abs(s["served_kw"]) for s in steps) * dt_h),
        ("unserved (kWh)", sum(s["unserved_kw"] for s in steps) * dt_h),
        ("steps with unserved energy", len(unserved)),
        ("reserve shortfall (kWh)",
         sum(s["reserve_target_kw"] - s["reserve_served_kw"] for s in steps) * dt_h),
        ("cost (EUR)", sum(s["cost_eur"] for s in steps)),
        ("steps with silent sites", sum(1 for s in steps if s["silent"])),
    ]))
    if unserved:
        console.print(table("steps with unserved energy (first 10)", (
            "step", "target_kw", "served_kw", "unserved_kw"),
            [(s["step"], s["target_kw"], s["served_kw"], s["unserved_kw"]) for s in unserved[:10]]))


@app.command("messages")
def messages(
    run_dir: Path | None = RunDir,
    agent: str | None = typer.Option(None, "--agent", help="An agent's name or address."),
    kind: str | None = typer.Option(None, "--kind", help="A message kind, e.g. Bid."),
    direction: str | None = typer.Option(None, "--direction", help="send, recv or drop."),
    step: int | None = typer.Option(None, "--step", help="Only this step's negotiation."),
    limit: int = typer.Option(50, "--limit", help="Rows shown in the table (exports are whole)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
    wide: bool = typer.Option(False, "--wide", help="One table row per message at its full "
                              "width, whatever the terminal's (for `| less -S`)."),
) -> None:
    """Every message sent, received or dropped, with its body. In a terminal narrower than
    140 columns each message is a short block (time, kind, round, from -> to, then its
    body wrapped at the terminal's width); --wide prints one wide table instead."""
    reader = _open(run_dir)
    rows = reader.messages(agent=agent, kind=kind, direction=direction, step=step)
    note = reader.level()["note"]
    reader.close()
    if note:  # on stderr: a JSON or CSV export stays clean
        err_console.print(f"[yellow]{note}[/]: only the messages recorded are listed")
    records = [r.as_dict() for r in rows]
    if emit_records(records, as_json, as_csv):
        return
    title = f"messages ({len(rows)}, first {min(limit, len(rows))})"
    shown = rows[:limit]
    if wide or console.width >= 140:
        from rich.console import Console

        out = Console(width=100_000) if wide else console
        out.print(table(title, (
            "sim_time", "direction", "kind", "sender", "receiver", "round", "body / error"),
            [(r.sim_time, r.direction, r.kind, r.sender, r.receiver, r.round,
              r.error if r.direction == "drop" else _body_text(r.body)) for r in shown],
            width=out.width))
        return
    from rich.markup import escape

    console.print(f"[bold]{title}[/]  (--wide: one table row each; --json: everything)")
    for r in shown:
        head = (f"{r.sim_time if r.sim_time is not None else '-':>10} s  {r.direction:<4}  "
                f"[bold]{escape(str(r.kind or '?'))}[/]  round {r.round}")
        console.print(head, highlight=False)
        console.print(f"    {escape(str(r.sender))} -> {escape(str(r.receiver))}",
                      highlight=False)
        text = r.error if r.direction == "drop" else _body_text(r.body)
        console.print(Padding(Text(text, overflow="fold"), (0, 0, 0, 4)), highlight=False)


def _body_text(body: object) -> str:
    import json

    return "" if body is None else json.dumps(body, separators=(",", ":"), default=str)


@app.command("rounds")
def rounds(
    run_dir: Path | None = RunDir,
    step: int | None = typer.Option(None, "--step", help="Only this step."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table."),
) -> None:
    """One row per negotiation round: target, served, price, bids, awards, declines."""
    reader = _open(run_dir)
    records = reader.rounds(step)
    reader.close()
    if emit_records(records, as_json, as_csv):
        return
    auctions = [r for r in records
                if r["protocol"] != "admm" and not r["protocol"].startswith("frequency")]
    if auctions:
        console.print(table(f"merit-order rounds ({len(auctions)})", (
            "step", "round", "phase", "target_kw", "served_kw", "unserved_kw", "price",
            "bids", "awards", "declines"),
            [(r["step"], r["round"], r["detail"].get("phase"), r["target_kw"], r["served_kw"],
              r["unserved_kw"], r["price"], r["bids"], r["awards"], r["declines"])
             for r in auctions], key=2))
    samples = [r for r in records if r["protocol"] == "frequency"]
    if samples:
        console.print(table(f"frequency samples ({len(samples)})", (
            "conversation", "seq", "t (s)", "f (Hz)", "RoCoF (Hz/s)", "VPP (kW)", "shed (kW)"),
            [(r["conversation"], r["round"], r["sim_time"], f"{r['detail']['f_hz']:.4f}",
              f"{r['detail']['rocof_hz_per_s']:.3f}", r["served_kw"], r["detail"]["shed_kw"])
             for r in samples]))
    stage_rows = [r for r in records if r["protocol"] == "frequency-stage"]
    if stage_rows:
        console.print(table(f"frequency stages ({len(stage_rows)})", (
            "conversation", "t (s)", "site", "kind", "stage", "action", "f (Hz)"),
            [(r["conversation"], r["sim_time"], r["detail"]["site"], r["detail"]["kind"],
              r["detail"]["stage"], r["detail"]["action"], f"{r['detail']['f_hz']:.3f}")
             for r in sorted(stage_rows, key=lambda r: r["sim_time"])]))
    admm = [r for r in records if r["protocol"] == "admm"]
    if admm:
        console.print(table(f"ADMM iterations ({len(admm)})", (
            "step", "round", "primal_residual", "dual_residual", "rho", "mean price",
            "answers"),
            [(r["step"], r["round"], f"{r['primal_residual']:.3g}",
              f"{r['dual_residual']:.3g}", f"{r['step_size']:.3g}", r["price"], r["bids"])
             for r in admm], key=2))


@app.command("plot")
def plot(
    run_dir: Path | None = RunDir,
    out: Path | None = typer.Option(None, "--out", "-o", help="The PNG to write."),
    rounds: bool = typer.Option(False, "--rounds",
                                help="Plot the ADMM residuals and penalty per iteration."),
    frequency: bool = typer.Option(False, "--frequency",
                                   help="Plot a grid event: frequency, the VPP's response, "
                                        "state of charge and load shed."),
    voltage: bool = typer.Option(False, "--voltage",
                                 help="Plot a Volt-VAR study: the voltage band with and "
                                      "without it, each inverter's reactive power."),
    topology: bool = typer.Option(False, "--topology",
                                  help="Draw the fleet's tree (regional aggregators) with "
                                       "each node's served and unserved energy."),
) -> None:
    """Draw the run's dispatch, target, unserved energy and price (or, with --rounds, the
    ADMM convergence; with --frequency, a grid event; with --voltage, a Volt-VAR study;
    with --topology, the fleet's tree) as a PNG."""
    from vpp.runs.plots import plot_frequency, plot_rounds, plot_run

    if topology:
        _plot_topology(run_dir, out)
        return
    if voltage:
        from vpp.runs.plots import plot_voltage

        run_dir = run_dir or latest_run_dir()
        if run_dir is None:
            fail("no run directory given and none found under vpp-output/")
        try:
            console.print(f"wrote {plot_voltage(run_dir, out)}")
        except ValueError as exc:
            fail(str(exc))
        return
    reader = _open(run_dir)
    reader.close()
    if frequency:
        try:
            console.print(f"wrote {plot_frequency(reader.run_dir, out)}")
        except ValueError as exc:
            fail(str(exc))
    elif rounds:
        try:
            console.print(f"wrote {plot_rounds(reader.run_dir, out)}")
        except ValueError as exc:
            fail(str(exc))
    else:
        console.print(f"wrote {plot_run(reader.run_dir, out)}")


def _plot_topology(run_dir: Path | None, out: Path | None) -> None:
    """``--topology``: the tree from the run record (manifest, sites.csv, steps.csv)."""
    from vpp.runs.modes.hierarchy.merit_figure import plot_topology

    run_dir = run_dir or latest_run_dir()
    if run_dir is None:
        fail("no run directory given and none found under vpp-output/")
    try:
        console.print(f"wrote {plot_topology(run_dir, out)}")
    except (OSError, ValueError) as exc:
        fail(str(exc))


def _explorer_ready(command: str) -> None:
    from vpp.runs.explorer import INSTALL_HINT, missing

    absent = missing(command)
    if absent:
        fail(f"vpp trace {command} needs {', '.join(absent)}, not installed: {INSTALL_HINT}")


@app.command("serve")
def serve(
    runs: list[Path] | None = typer.Argument(
        None, help="Run directories, or folders holding them \\[default: vpp-output/]."),
    port: int = typer.Option(8050, "--port", help="The port (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="The address to bind. Loopback by default; anything else "
                                  "lets other machines read your traces (a warning says so)."),
) -> None:
    """Explore runs in a browser: runs, overview, each step's negotiation as a sequence
    diagram, ADMM convergence, grid events, Volt-VAR, markets, and two runs compared.
    Local and read-only; pages follow a running run. Needs the `explorer` extra."""
    _explorer_ready("serve")
    from vpp.runs.explorer.app import ExplorerServer, exposed

    roots = runs or [Path("vpp-output")]
    absent = [str(r) for r in roots if not r.is_dir()]
    if absent:
        fail(f"not a directory: {', '.join(absent)}")
    if not 0 <= port <= 65535:
        fail(f"--port must be between 0 and 65535, got {port}")
    if exposed(host):
        err_console.print(f"[bold yellow]warning:[/] binding {host}: anyone who can reach "
                          "this address can read these runs' traces (no authentication)",
                          highlight=False)
    try:
        server = ExplorerServer(roots, host=host, port=port)
    except OSError as exc:
        fail(f"--host {host} --port {port}: cannot listen ({exc.strerror or exc})")
    console.print(f"trace explorer on [bold]{server.url}[/] (read-only; Ctrl-C stops it)")
    server.run()


@app.command("export")
def export(
    run_dir: Path | None = RunDir,
    html: Path = typer.Option(..., "--html", help="The HTML file to write."),
) -> None:
    """Write the run's pages (overview, each step's negotiation, ADMM, grid event, market)
    as one self-contained HTML file that opens offline. Needs the `explorer` extra."""
    _explorer_ready("export")
    from vpp.runs.explorer.export import export_html
    from vpp.runs.explorer.record import RecordError

    run_dir = run_dir or latest_run_dir()
    if run_dir is None:
        fail("no run directory given and none found under vpp-output/")
    try:
        done = export_html(run_dir, html)
    except (RecordError, OSError) as exc:
        fail(str(exc))
    left = done["steps_omitted"]
    console.print(f"wrote {done['file']} ({done['bytes'] / 1e6:.1f} MB, "
                  f"{done['steps_included']} steps' negotiations"
                  + (f"; {len(left)} steps left out to keep it small" if left else "") + ")")


MergeInto = typer.Argument(..., help="The run directory to complete (the aggregator's).")
Shards = typer.Argument(..., help="Shard files (trace/<host>.sqlite) or folders holding "
                        "them (a site's run directory).")


@app.command("merge")
def merge(run_dir: Path = MergeInto, shards: list[Path] = Shards) -> None:
    """Merge late trace shards into a run directory: each shard's rows that are not there
    yet go into the shard of its host (rows already shipped by the site process are not
    added again, so merging twice changes nothing). A shard of another run (its `run` or
    `scenario_digest` meta differs) is refused, naming the file."""
    from vpp.agents.runtime.trace_merge import (
        MergeError,
        check_shard,
        merge_shard,
        shards_in,
    )

    try:
        files = [f for s in shards for f in shards_in(s)]
        for f in files:  # every shard checked before any is merged
            check_shard(run_dir, f)
        results = [merge_shard(run_dir, f) for f in files]
    except MergeError as exc:
        fail(str(exc))
    for r in results:
        skipped = (f"; {r.unreadable_chunks} unreadable chunks skipped"
                   if r.unreadable_chunks else "")
        console.print(f"{r.source} -> {run_dir}/trace/{r.host}.sqlite: {r.messages} messages, "
                      f"{r.rounds} rounds, {r.agents} agents added{skipped}", highlight=False)
