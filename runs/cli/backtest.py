"""``vpp backtest``: replay market prices through trading strategies, write a report."""

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
from vpp.runs.cli.options import ALLOW_PLUGINS_HELP


def backtest(
    scenario: Path = typer.Argument(None, help="A backtest YAML (default: the bundled "
                                    "DE-LU 2019 year with three strategies)."),
    out: Path = typer.Option(None, "--out", help="Report folder (default: "
                             "vpp-output/<scenario>-<time>)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    seed: int = typer.Option(None, "--seed", help="Override the scenario's seed."),
    days: int = typer.Option(None, "--days", help="Only the first N days of the data."),
    agents: bool = typer.Option(False, "--agents", help="Trade through the market agents "
                                "over inproc ZeroMQ (day-ahead and intraday; no FCR)."),
    log_level: str = typer.Option("WARNING", "--log-level", help="Logging level."),
    log_json: bool = typer.Option(False, "--log-json", help=LOG_JSON_HELP),
    allow_plugins: bool = typer.Option(False, "--allow-plugins", help=ALLOW_PLUGINS_HELP),
) -> None:
    """Backtest trading strategies hour by hour (no look-ahead); tables, CSV and PNG plots."""
    import time

    import msgspec
    from vpp.runs.modes.backtest.files import (
        DEFAULT_BACKTEST,
        load_backtest,
        run,
        summary,
        write_report,
    )
    from vpp.runs.scenario import ScenarioError

    setup_logging(log_level, log_json)
    path = scenario or DEFAULT_BACKTEST
    try:
        spec = load_backtest(path)
        if seed is not None:
            spec = msgspec.structs.replace(spec, seed=seed)
        if days is not None:
            spec = msgspec.structs.replace(
                spec, data=msgspec.structs.replace(spec.data, days=days))
    except ScenarioError as exc:
        fail(str(exc), code=1)
    target = out or new_run_dir(spec.name)
    _lock = claim_out(target, overwrite)  # before the work; held while this runs
    try:
        t0 = time.perf_counter()
        result = run(spec, str(path), agents=agents, allow_plugins=allow_plugins)
        wall = time.perf_counter() - t0
    except ScenarioError as exc:
        fail(str(exc), code=1)
    try:
        files = write_report(result, target, spec)
    except OSError as exc:
        fail_write(target, exc)
    rows = summary(result)
    console.print(f"{spec.name}: {result.data.hours // 24} days, {result.data.source}; "
                  f"{wall:.1f} s", soft_wrap=True)
    console.print(table("performance", (
        "trader", "profit EUR", "return", "volatility", "Sharpe", "max DD EUR", "hit rate",
        "fills", "fees EUR", "FCR EUR", "imbalance MWh"), [
        (r["trader"], r["profit_eur"], f"{100 * r['total_return']:.2f} %",
         f"{100 * r['volatility']:.2f} %", r["sharpe"], r["max_drawdown_eur"],
         None if r["hit_rate"] is None else f"{100 * r['hit_rate']:.0f} %", r["fills"],
         r["fees_eur"], r["capacity_revenue_eur"], r["imbalance_mwh"]) for r in rows]))
    console.print(table("orders stopped, by limit", ("trader", "limit", "orders"), [
        (r["trader"], limit, n) for r in rows for limit, n in r["rejections"].items()]))
    for r in rows:
        f = r.get("forecast")
        if f and f.get("days"):
            verdict = ("beats" if f["model_mae_eur_mwh"] < f["persistence_mae_eur_mwh"]
                       else "does NOT beat")
            console.print(f"{r['trader']}: the walk-forward forecast {verdict} persistence "
                          f"over {f['days']} days: MAE {f['model_mae_eur_mwh']:.2f} vs "
                          f"{f['persistence_mae_eur_mwh']:.2f} EUR/MWh", soft_wrap=True)
    console.print(f"report: {target} ({', '.join(p.name for p in files)})", soft_wrap=True)
