"""Backtest scenarios: a small YAML of its own, validated into typed structures, and the
runner that writes the report (tables, CSV, PNG plots).

Errors name the file and the field path (``$.traders[1].params``), like the swarm's
scenarios (:mod:`vpp.runs.scenario`); unknown fields are errors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from vpp.markets.trading.risk import RiskLimits
from vpp.markets.trading.types import Fees, StorageSpec
from vpp.runs.scenario import BUNDLED, ScenarioError, current_limits, read_mapping
from vpp.runs.scenario.limits import Limits
from vpp.runs.scenario.numbers import check_numbers

__all__ = ["BacktestScenario", "DEFAULT_BACKTEST", "load_backtest", "run", "write_report"]

log = logging.getLogger(__name__)

DEFAULT_BACKTEST = BUNDLED / "backtest_de_lu_2019.yaml"
"""The bundled backtest: DE-LU 2019, three strategies, one battery each."""

_Strict = dict(forbid_unknown_fields=True, kw_only=True)


class DataSpec(msgspec.Struct, **_Strict):
    """Where prices come from: ``de_lu_2019`` (real day-ahead and load; simulated intraday
    and FCR) or ``simulated`` (everything simulated); optionally only some days."""

    source: Literal["de_lu_2019", "simulated"] = "de_lu_2019"
    first_day: Annotated[int, msgspec.Meta(ge=0)] = 0
    days: Annotated[int, msgspec.Meta(ge=2)] | None = None
    intraday_volatility_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 4.0
    intraday_persistence: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.7
    half_spread_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    fcr_mean_eur_mw_h: Annotated[float, msgspec.Meta(gt=0)] = 10.0


class TraderSpec(msgspec.Struct, **_Strict):
    """One trader: a strategy (a built-in name or ``module:Class``) and its parameters."""

    use: str
    name: str | None = None
    params: dict[str, Any] = {}


class BacktestScenario(msgspec.Struct, **_Strict):
    """A whole backtest: data, battery, fees, risk limits, capital and traders.

    Every trader gets its own battery (``storage``) and capital, so they compare.
    """

    name: str
    description: str = ""
    seed: int = 0
    data: DataSpec = msgspec.field(default_factory=DataSpec)
    storage: StorageSpec = msgspec.field(default_factory=StorageSpec)
    fees: Fees = msgspec.field(default_factory=Fees)
    risk: RiskLimits = msgspec.field(default_factory=RiskLimits)
    capital_eur: Annotated[float, msgspec.Meta(gt=0)] = 1_000_000.0
    imbalance_penalty_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 50.0
    traders: list[TraderSpec]


def parse_backtest(data: Any, where: str = "<backtest>",
                   limits: Limits | None = None) -> BacktestScenario:
    """Validate parsed YAML into a :class:`BacktestScenario`; errors name ``$.path``."""
    try:
        spec = msgspec.convert(data, BacktestScenario, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if " - at `$" not in text:
            text += " - at `$`"
        raise ScenarioError(f"{where}: {text}") from None
    def fail(path: str, message: str) -> None:
        raise ScenarioError(f"{where}: {message} - at `$.{path}`")

    check_numbers(spec, fail)  # finite, within the caps of their units (traders' params aside)
    limits = current_limits(limits)
    hours = (spec.data.first_day + (spec.data.days or 365)) * 24
    if hours > limits.max_steps:
        fail("data.days", f"{hours:,} hours is more than the cap of {limits.max_steps:,} steps "
                          f"({Limits.variable('max_steps')} raises it)")
    if not spec.traders:
        raise ScenarioError(f"{where}: Expected at least one trader - at `$.traders`")
    names = [t.name or t.use for t in spec.traders]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError(f"{where}: Trader name {name!r} is used twice (give `name`) "
                                f"- at `$.traders[{i}].name`")
    return spec


def load_backtest(path: str | Path, limits: Limits | None = None) -> BacktestScenario:
    """Read and validate a backtest scenario file (within ``limits``)."""
    return parse_backtest(read_mapping(path, limits=limits), str(path), limits)


def market_data(spec: BacktestScenario):
    """The scenario's :class:`MarketData` (the days it asks for)."""
    from vpp.markets.trading.market_data import (
        de_lu_2019_market_data,
        simulated_market_data,
    )

    d = spec.data
    kwargs = dict(intraday_volatility_eur_mwh=d.intraday_volatility_eur_mwh,
                  intraday_persistence=d.intraday_persistence,
                  half_spread_eur_mwh=d.half_spread_eur_mwh,
                  fcr_mean_eur_mw_h=d.fcr_mean_eur_mw_h)
    if d.source == "simulated":
        data = simulated_market_data(d.first_day + (d.days or 365), spec.seed, **kwargs)
    else:
        data = de_lu_2019_market_data(spec.seed, **kwargs)
    total = data.hours // 24
    days = (total - d.first_day) if d.days is None else d.days
    if d.first_day + days > total or days < 2:
        raise ScenarioError(f"data: days {d.first_day}..{d.first_day + days} are not in the "
                            f"{total} days of {d.source} - at `$.data.days`")
    return data.days(d.first_day, days)


TRADER_GROUP = "vpp.trading_strategies"
"""The entry-point group where installed packages register trading strategies."""


def strategies(spec: BacktestScenario, where: str = "<backtest>", *,
               allow_import: bool = False) -> list:
    """One strategy object per trader: a built-in, an entry point of
    ``vpp.trading_strategies``, or ``module:Class`` with ``allow_import``
    (``--allow-plugins``); errors name ``$.traders[i]``."""
    from vpp.coordination.plugins import PluginError, load_class
    from vpp.markets.trading.strategies import BUILT_IN, Strategy, make_trading_strategy

    out = []
    for i, trader in enumerate(spec.traders):
        params = dict(trader.params)
        if trader.name is not None:
            params.setdefault("name", trader.name)
        try:
            if trader.use in BUILT_IN or trader.use == "multi":
                strategy = make_trading_strategy(trader.use, **params)
            else:
                cls = load_class(trader.use, builtins={}, group=TRADER_GROUP,
                                 allow_import=allow_import, what="trading strategy")
                strategy = cls(**params)
        except (ValueError, TypeError, PluginError) as exc:
            raise ScenarioError(f"{where}: {exc} - at `$.traders[{i}]`") from None
        if not isinstance(strategy, Strategy):
            raise ScenarioError(f"{where}: {trader.use} has no name and decide(view, book) "
                                f"- at `$.traders[{i}].use`")
        out.append(strategy)
    return out


def run(spec: BacktestScenario, where: str = "<backtest>", agents: bool = False, *,
        allow_plugins: bool = False):
    """Build the traders and run the backtest; returns the :class:`BacktestResult`.

    ``agents``: trade through the market agents over ZeroMQ (:mod:`vpp.runs.modes.backtest.agents`)
    instead of the engine's price-taking exchange. ``allow_plugins``: ``module:Class``
    traders may load (``--allow-plugins``).
    """
    from vpp.markets.trading.backtest import run_backtest
    from vpp.markets.trading.engine import TradingEngine

    data = market_data(spec)
    engines = [TradingEngine(s, spec.storage, data.hours, fees=spec.fees, limits=spec.risk,
                             capital_eur=spec.capital_eur,
                             imbalance_penalty_eur_mwh=spec.imbalance_penalty_eur_mwh)
               for s in strategies(spec, where, allow_import=allow_plugins)]
    if agents:
        from vpp.runs.modes.backtest.agents import run_with_agents

        return run_with_agents(data, engines)
    return run_backtest(data, engines, spec.fees)


def summary(result) -> list[dict]:
    """One row of figures per trader (EUR, MWh, shares)."""
    rows = []
    for t in result.traders:
        p = t.performance
        row = {"trader": t.name, "profit_eur": round(p.profit_eur, 2),
               "total_return": round(p.total_return, 6),
               "volatility": round(p.volatility, 6),
               "sharpe": None if p.sharpe is None else round(p.sharpe, 3),
               "max_drawdown_eur": round(p.max_drawdown_eur, 2),
               "hit_rate": None if p.hit_rate is None else round(p.hit_rate, 4),
               "realized_eur": round(float(t.realized_eur[-1]), 2),
               "unrealized_eur": round(float(t.unrealized_eur[-1] - t.unrealized_eur[0]), 2),
               "fills": len(t.fills), "traded_mwh": round(t.traded_mwh, 1),
               "fees_eur": round(t.fees_eur, 2),
               "capacity_revenue_eur": round(t.capacity_revenue_eur, 2),
               "imbalance_mwh": round(t.imbalance_mwh, 3),
               "imbalance_eur": round(t.imbalance_eur, 2),
               "rejections": t.rejections_by_limit()}
        if t.forecast:
            row["forecast"] = {k: (round(v, 3) if isinstance(v, float) else v)
                               for k, v in t.forecast.items()}
        rows.append(row)
    return rows


def write_report(result, out: Path, spec: BacktestScenario) -> list[Path]:
    """``summary.json``, ``equity.csv``, ``trades.csv``, ``rejections.csv`` and the plots
    ``equity.png``, ``drawdown.png``, ``positions.png`` in ``out``; returns the files."""
    import csv

    import numpy as np
    from vpp.markets.trading.performance import drawdown

    out.mkdir(parents=True, exist_ok=True)
    data = result.data
    files = [out / "summary.json", out / "equity.csv", out / "trades.csv",
             out / "rejections.csv"]
    (out / "summary.json").write_text(json.dumps(
        {"scenario": spec.name, "data": data.source, "hours": data.hours,
         "first": str(data.timestamps_utc[0]) + "Z", "seed": spec.seed,
         "traders": summary(result)}, indent=2), encoding="utf-8")
    stamps = np.concatenate([data.timestamps_utc, [data.timestamps_utc[-1] +
                                                   np.timedelta64(1, "h")]])
    with open(out / "equity.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp_utc", *[f"{t.name}_equity_eur" for t in result.traders],
                    *[f"{t.name}_energy_mwh" for t in result.traders]])
        for i, ts in enumerate(stamps):
            w.writerow([str(ts) + "Z", *[round(float(t.equity_eur[i]), 4)
                                         for t in result.traders],
                        *[round(float(t.energy_mwh[i]), 4) for t in result.traders]])
    with open(out / "trades.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["trader", "decided_hour", "market", "delivery_hour", "side",
                    "quantity_mw", "price_eur_mwh", "fee_eur"])
        for t in result.traders:
            for f in t.fills:
                o = f.order
                w.writerow([t.name, o.decided_hour, o.market, o.delivery_hour, o.side,
                            o.quantity_mw, round(f.price_eur_mwh, 4), round(f.fee_eur, 4)])
    with open(out / "rejections.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["trader", "decided_hour", "market", "delivery_hour", "side",
                    "quantity_mw", "limit", "reason"])
        for t in result.traders:
            for r in t.rejections:
                o = r.order
                w.writerow([t.name, o.decided_hour, o.market, o.delivery_hour, o.side,
                            o.quantity_mw, r.limit, r.reason])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = np.arange(data.hours + 1) / 24.0
    fig, ax = plt.subplots(figsize=(11, 5))
    for t in result.traders:
        ax.plot(days, t.equity_eur - t.equity_eur[0], label=t.name, lw=1.2)
    ax.set(xlabel="day", ylabel="profit (EUR)", title=f"{spec.name}: equity over time")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "equity.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(11, 4))
    for t in result.traders:
        ax.plot(days, -drawdown(t.equity_eur), label=t.name, lw=1.0)
    ax.set(xlabel="day", ylabel="drawdown (EUR)", title=f"{spec.name}: drawdown")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "drawdown.png", dpi=110)
    plt.close(fig)
    show = min(data.hours, 24 * 7)
    fig, axes = plt.subplots(len(result.traders) + 1, 1, figsize=(11, 2.2 * (
        len(result.traders) + 1)), sharex=True)
    hours = np.arange(show)
    axes[0].plot(hours, data.day_ahead_eur_mwh[:show], label="day-ahead", lw=1.0)
    axes[0].plot(hours, data.intraday_eur_mwh[:show], label="intraday", lw=0.8, alpha=0.7)
    axes[0].set(ylabel="EUR/MWh", title="the first week: prices, power (+ sold), energy")
    axes[0].legend(loc="upper right")
    for ax, t in zip(axes[1:], result.traders):
        ax.bar(hours, t.delivered_mw[:show], width=1.0, color="tab:blue", alpha=0.6,
               label=f"{t.name} power (MW)")
        ax.bar(hours, t.reserve_mw[:show], width=1.0, color="tab:green", alpha=0.3,
               label="FCR reserve (MW)")
        ax2 = ax.twinx()
        ax2.plot(hours, t.energy_mwh[1:show + 1], color="tab:red", lw=1.0)
        ax2.set_ylabel("MWh", color="tab:red")
        ax.set_ylabel("MW")
        ax.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("hour")
    fig.tight_layout()
    fig.savefig(out / "positions.png", dpi=110)
    plt.close(fig)
    return [*files, out / "equity.png", out / "drawdown.png", out / "positions.png"]
