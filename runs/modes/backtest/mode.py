"""The backtest mode: trading strategies hour by hour on market data, with no look-ahead,
every order through the risk limits (``docs/trading.md``). Its document is a backtest file
(``traders:``, ``data:``, ...; :mod:`vpp.runs.modes.backtest.files`), not a scenario.

A step is one hour of trading; ``--agents`` trades through the market agents by message
instead of the engine's price-taking exchange.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vpp.runs.modes.backtest.files import (
    BacktestScenario,
    market_data,
    parse_backtest,
    strategies,
    stress_shocks,
)
from vpp.runs.modes.backtest.report import (
    SOURCE_LABELS,
    simulated_note,
    summary,
    write_plots,
    write_report,
)
from vpp.runs.modes.base import Mode, Report, ReportTable, RunContext, StepRecord
from vpp.runs.scenario.limits import Limits


class BacktestMode(Mode):
    """Trading strategies replayed over market data."""

    name = "backtest"
    title = "trading strategies hour by hour on market data (a backtest file)"

    def recognizes(self, data: Mapping[str, Any]) -> bool:
        """A backtest file has ``traders`` (a scenario has ``sites``)."""
        return "traders" in data and "sites" not in data

    def parse(self, data: Any, where: str, limits: Limits | None = None) -> BacktestScenario:
        """Validate a backtest file's data (errors name the field)."""
        return parse_backtest(data, where, limits)

    def applies(self, scenario: Any) -> bool:
        """A backtest file."""
        return isinstance(scenario, BacktestScenario)

    def build(self, scenario: BacktestScenario, context: RunContext) -> BacktestRun:
        """The market data, one engine per trader, the session (agents or not)."""
        return BacktestRun(scenario, context)

    def report(self, summary_: Mapping[str, Any]) -> Report:
        """Performance per trader, each market's share of the profit (simulated markets
        marked), the orders the limits stopped, the forecasts' verdicts."""
        rows = summary_["traders"]
        cur = summary_.get("currency", "EUR")  # money in the data's currency, shown as such
        out: Report = [
            f"{summary_['scenario']}: {summary_['hours'] // 24} days, {summary_['data']}; "
            f"prices in {cur}",
            ReportTable("performance", (
                "trader", f"profit {cur}", "return", "volatility", "Sharpe",
                f"max DD {cur} (hourly)", "hit rate", "fills", f"fees {cur}", f"FCR {cur}",
                "imbalance MWh"), [
                (r["trader"], r["profit_eur"], f"{100 * r['total_return']:.2f} %",
                 f"{100 * r['volatility']:.2f} %", r["sharpe"], r["max_drawdown_eur"],
                 None if r["hit_rate"] is None else f"{100 * r['hit_rate']:.0f} %",
                 r["fills"], r["fees_eur"], r["capacity_revenue_eur"], r["imbalance_mwh"])
                for r in rows])]
        if summary_.get("simulated_note"):
            out.append(f"[bold]simulated prices:[/] {summary_['simulated_note']} (marked * "
                       f"below): their profit is not a market's record")
        out.append(ReportTable(
            f"profit by market ({cur}, share of the profit; * simulated prices; marks: stored "
            "energy and open positions at their marks)",
            ("trader", *(SOURCE_LABELS[m["market"]] + ("*" if m["simulated"] else "")
                         for m in rows[0]["profit_by_market"])),
            [(r["trader"], *(_share(m) for m in r["profit_by_market"])) for r in rows]))
        out.append(ReportTable("orders stopped, by limit", ("trader", "limit", "orders"), [
            (r["trader"], limit, n) for r in rows for limit, n in r["rejections"].items()]))
        for r in rows:
            f = r.get("forecast")
            if f and f.get("days"):
                verdict = ("beats" if f["model_mae_eur_mwh"] < f["persistence_mae_eur_mwh"]
                           else "does NOT beat")
                out.append(f"{r['trader']}: the walk-forward forecast {verdict} persistence "
                           f"over {f['days']} days: MAE {f['model_mae_eur_mwh']:.2f} vs "
                           f"{f['persistence_mae_eur_mwh']:.2f} {cur}/MWh")
        if summary_.get("out_dir"):
            run_dir = Path(summary_["out_dir"])
            written = [n for n in _REPORT_FILES if (run_dir / n).is_file()]
            out.append(f"report: {run_dir} ({', '.join(written)})")
        return out

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """``equity.png``, ``drawdown.png``, ``positions.png`` (from the finished run)."""
        if run is None or run.result is None:
            return []
        return write_plots(run.result, Path(run_dir), run.spec)


_REPORT_FILES = ("summary.json", "equity.csv", "trades.csv", "rejections.csv", "equity.png",
                 "drawdown.png", "positions.png")
"""What a backtest writes into its folder (the figures when plotted)."""


def _share(source: dict) -> str:
    """``12,345 (67 %)``: a source's profit and its share of the trader's profit."""
    share = "" if source["share"] is None else f" {100 * source['share']:.0f}%"
    return f"{source['profit_eur']:,.0f}{share}"


class BacktestRun:
    """One backtest, stepped hour by hour by the runner; building it announces its stages
    (:mod:`vpp.runs.stages`): the trading engine, the market data, the traders."""

    def __init__(self, spec: BacktestScenario, context: RunContext) -> None:
        from vpp.runs.stages import announce

        announce("loading the trading engine")
        from vpp.markets.trading.backtest import BacktestSession
        from vpp.markets.trading.engine import TradingEngine

        self.spec = spec
        self.out_dir = Path(context.out_dir)
        where = str(context.scenario_path or spec.name)
        announce("reading market data")
        self.data = market_data(spec, context.scenario_path)
        self.shocks = stress_shocks(spec, self.data)
        chosen = strategies(spec, where, allow_import=bool(context.options.get("allow_plugins")))
        announce(f"building {len(chosen)} trader{'s' if len(chosen) != 1 else ''}")
        engines = [TradingEngine(s, spec.storage, self.data.hours, fees=spec.fees,
                                 limits=spec.risk, capital_eur=spec.capital_eur,
                                 imbalance_penalty_eur_mwh=spec.imbalance_penalty_eur_mwh,
                                 shocks=self.shocks)
                   for s in chosen]
        self.names = [e.strategy.name for e in engines]
        self.agents = None
        if context.options.get("agents"):
            from vpp.runs.modes.backtest.agents import AgentSession

            announce("starting market agents")
            self.session = self.agents = AgentSession(self.data, engines)
            self.hosts = self.agents.hosts
            self.ops_host = self.agents.mkt
        else:
            self.session = BacktestSession(self.data, engines, spec.fees)
            self.hosts = []
            self.ops_host = None
        self.steps = self.data.hours
        self.result = None
        context.meta["agents"] = bool(context.options.get("agents"))

    def step_time(self, k: int) -> datetime:
        """The start of hour ``k`` (UTC)."""
        stamp = self.data.timestamps_utc[k].astype("datetime64[s]").astype(datetime)
        return stamp.replace(tzinfo=timezone.utc)

    def step(self, k: int) -> StepRecord:
        """Trade hour ``k``: each trader's equity and stored energy after it."""
        self.session.step()
        s = self.session
        row: dict[str, Any] = {"day_ahead_eur_mwh": float(self.data.day_ahead_eur_mwh[k])}
        for i, name in enumerate(self.names):
            row[f"{name}_equity_eur"] = round(float(s.equity[i, k + 1]), 4)
            row[f"{name}_energy_mwh"] = round(float(s.energy[i, k + 1]), 4)
        return StepRecord(row)

    def summary(self) -> dict[str, Any]:
        """Every trader's performance; ``equity.csv``, ``trades.csv``, ``rejections.csv``
        and the plots written beside."""
        result = self.result = self.session.result()
        write_report(result, self.out_dir, self.spec, plots=False)
        data = result.data
        return {"scenario": self.spec.name, "data": data.source, "currency": data.currency,
                "hours": data.hours,
                "first": str(data.timestamps_utc[0]) + "Z", "seed": self.spec.seed,
                "simulated_markets": list(data.simulated),
                "traders": summary(result),
                **({"stress_shocks": [{"name": x.name,
                                       "price_eur_mwh": round(x.price_eur_mwh, 2)}
                                      for x in self.shocks]} if self.shocks else {}),
                **({"simulated_note": simulated_note(data)} if data.simulated else {})}

    def register_metrics(self, metrics: Any) -> None:
        """Nothing beyond the hosts' counters."""

    def applier(self, scenario_path: Path) -> None:
        """None: a backtest is not reloaded live."""
        return None

    def close(self) -> None:
        """Close the agents' hosts (``--agents``)."""
        if self.agents is not None:
            self.agents.close()
