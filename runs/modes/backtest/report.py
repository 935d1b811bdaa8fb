"""What a backtest writes and says: one row of figures per trader, each market's share of
the profit (simulated markets marked), ``equity.csv``, ``trades.csv``, ``rejections.csv``
and the plots (one drawdown basis: the hourly equity, marked to market)."""

from __future__ import annotations

import json
from pathlib import Path

from vpp.runs.modes.backtest.files import BacktestScenario


def summary(result) -> list[dict]:
    """One row of figures per trader (money in the data's currency, ``result.data.currency``,
    under the ``_eur`` keys; MWh; shares)."""
    rows = []
    for t in result.traders:
        p = t.performance
        row = {"trader": t.name, "profit_eur": round(p.profit_eur, 2),
               "total_return": round(p.total_return, 6),
               "volatility": round(p.volatility, 6),
               "sharpe": None if p.sharpe is None else round(p.sharpe, 3),
               "max_drawdown_eur": round(p.max_drawdown_eur, 2),
               "drawdown_basis": p.drawdown_basis,
               "hit_rate": None if p.hit_rate is None else round(p.hit_rate, 4),
               "realized_eur": round(float(t.realized_eur[-1]), 2),
               "unrealized_eur": round(float(t.unrealized_eur[-1] - t.unrealized_eur[0]), 2),
               "fills": len(t.fills), "traded_mwh": round(t.traded_mwh, 1),
               "fees_eur": round(t.fees_eur, 2),
               "capacity_revenue_eur": round(t.capacity_revenue_eur, 2),
               "imbalance_mwh": round(t.imbalance_mwh, 3),
               "imbalance_eur": round(t.imbalance_eur, 2),
               "rejections": t.rejections_by_limit(),
               "profit_by_market": profit_shares(t.profit_by_market, p.profit_eur,
                                                 simulated_sources(result.data))}
        if t.forecast:
            row["forecast"] = {k: (round(v, 3) if isinstance(v, float) else v)
                               for k, v in t.forecast.items()}
        rows.append(row)
    return rows


SOURCE_LABELS = {"day_ahead": "day-ahead", "intraday": "intraday", "ancillary": "FCR",
                 "imbalance": "imbalance", "marks": "marks"}
"""How the report names each source of profit."""


def simulated_sources(data) -> set[str]:
    """The sources of profit whose prices are simulated: the simulated markets, and
    the imbalance settlements and the marks of stored energy when the intraday price
    (which both use) is simulated."""
    out = set(data.simulated)
    if "intraday" in out:
        out |= {"imbalance", "marks"}
    return out


def profit_shares(by_market: dict[str, float], profit_eur: float,
                  simulated: set[str]) -> list[dict]:
    """Each source of profit: EUR, share of the profit (None when the profit is under
    1 EUR; shares of a profit with losing sources can pass 100 %), and whether its prices
    are simulated."""
    return [{"market": k, "profit_eur": round(v, 2),
             "share": round(v / profit_eur, 4) if abs(profit_eur) >= 1.0 else None,
             "simulated": k in simulated} for k, v in by_market.items()]


def simulated_note(data) -> str:
    """``intraday, FCR`` : the simulated markets as the report names them."""
    return ", ".join(SOURCE_LABELS[m] for m in data.simulated)


def write_report(result, out: Path, spec: BacktestScenario, plots: bool = True) -> list[Path]:
    """``summary.json``, ``equity.csv``, ``trades.csv``, ``rejections.csv`` and, with
    ``plots``, the figures of :func:`write_plots` in ``out``; returns the files."""
    import csv

    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    data = result.data
    files = [out / "summary.json", out / "equity.csv", out / "trades.csv",
             out / "rejections.csv"]
    currency = data.currency
    (out / "summary.json").write_text(json.dumps(
        {"scenario": spec.name, "data": data.source, "currency": currency, "hours": data.hours,
         "first": str(data.timestamps_utc[0]) + "Z", "seed": spec.seed,
         "simulated_markets": list(data.simulated),
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
    _write_orders(out / "trades.csv", ["price_eur_mwh", "fee_eur"], (
        (t.name, f.order, round(f.price_eur_mwh, 4), round(f.fee_eur, 4))
        for t in result.traders for f in t.fills))
    _write_orders(out / "rejections.csv", ["limit", "reason"], (
        (t.name, r.order, r.limit, r.reason) for t in result.traders for r in t.rejections))

    return files + (write_plots(result, out, spec) if plots else [])


def _write_orders(path: Path, extra: list[str], rows) -> None:
    """A CSV of orders, one row per ``(trader, order, *extra values)``: the order's
    trader, hours, market, side and size, then the ``extra`` columns."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["trader", "decided_hour", "market", "delivery_hour", "side",
                    "quantity_mw", *extra])
        for trader, o, *values in rows:
            w.writerow([trader, o.decided_hour, o.market, o.delivery_hour, o.side,
                        o.quantity_mw, *values])


def write_plots(result, out: Path, spec: BacktestScenario) -> list[Path]:
    """``equity.png``, ``drawdown.png`` and ``positions.png`` in ``out`` (the ``plots``
    extra: :class:`~vpp.physics.extras.MissingExtra` without it); returns the files."""
    import numpy as np
    from vpp.physics.extras import require

    matplotlib = require("plots", "drawing the backtest's figures")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = result.data
    currency = data.currency
    days = np.arange(data.hours + 1) / 24.0
    fig, ax = plt.subplots(figsize=(11, 5))
    for t in result.traders:
        ax.plot(days, t.equity_eur - t.equity_eur[0], label=t.name, lw=1.2)
    ax.set(xlabel="day", ylabel=f"profit ({currency})",
           title=f"{spec.name}: equity over time (hourly, marked to market)")
    if data.simulated:
        ax.annotate(f"simulated prices: {simulated_note(data)}", (0.01, 0.01),
                    xycoords="axes fraction", fontsize=8, color="tab:red")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "equity.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(11, 4))
    for t in result.traders:
        # the same series as the table's max drawdown (TraderResult.drawdown_eur)
        ax.plot(days, -t.drawdown_eur, label=f"{t.name} (max {t.performance.max_drawdown_eur:,.0f})",
                lw=1.0)
    ax.set(xlabel="day", ylabel=f"drawdown ({currency})",
           title=f"{spec.name}: drawdown of the hourly equity (marked to market)")
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
    axes[0].plot(hours, data.intraday_eur_mwh[:show], lw=0.8, alpha=0.7,
                 label="intraday (simulated)" if "intraday" in data.simulated else "intraday")
    axes[0].set(ylabel=f"{currency}/MWh", title="the first week: prices, power (+ sold), energy")
    axes[0].legend(loc="upper right")
    for ax, t in zip(axes[1:], result.traders):
        ax.bar(hours, t.delivered_mw[:show], width=1.0, color="tab:blue", alpha=0.6,
               label=f"{t.name} power (MW)")
        ax.bar(hours, t.reserve_mw[:show], width=1.0, color="tab:green", alpha=0.3,
               label="FCR reserve (MW" + (", simulated prices)" if "ancillary" in data.simulated
                                          else ")"))
        ax2 = ax.twinx()
        ax2.plot(hours, t.energy_mwh[1:show + 1], color="tab:red", lw=1.0)
        ax2.set_ylabel("MWh", color="tab:red")
        ax.set_ylabel("MW")
        ax.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("hour")
    fig.tight_layout()
    fig.savefig(out / "positions.png", dpi=110)
    plt.close(fig)
    return [out / "equity.png", out / "drawdown.png", out / "positions.png"]
