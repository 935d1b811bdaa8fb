"""What a grid event's run says when it ends: nadir and RoCoF per run, the stages fired,
the settlement of what was sold, the reloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpp.runs.modes.base import Report, ReportTable

_ROWS = [
    ("nadir (Hz)", "nadir_hz"), ("nadir at (s)", "nadir_t_s"), ("peak (Hz)", "peak_hz"),
    ("RoCoF after the event (Hz/s)", "initial_rocof_hz_per_s"),
    ("largest |RoCoF| (Hz/s)", "max_abs_rocof_hz_per_s"), ("final (Hz)", "final_hz"),
    ("VPP injection, peak (MW)", "vpp_peak_mw"),
    ("service response, peak (MW)", "response_peak_mw"),
    ("load shed, peak (MW)", "shed_peak_mw"),
    ("PV/wind curtailed, peak (MW)", "curtailed_peak_mw"),
    ("service energy (kWh)", "response_kwh"), ("load shed (kWh)", "shed_kwh"),
    ("lowest mean state of charge", "min_mean_state_of_charge"),
    ("samples late", "late_samples")]


def event_report(summary: Mapping[str, Any]) -> Report:
    """Nadir / RoCoF with and without the VPP, the stages fired, the settlement, reloads."""
    runs = [k for k in ("with-vpp", "without-vpp", "replay") if k in summary]
    title = (f"grid event {summary['scenario']}: {summary['sites']} sites, "
             + ("replayed recording (open loop)" if summary["open_loop"] else
                f"loss of {summary['lost_mw']:g} MW, swing-equation RoCoF "
                f"{summary['swing_equation_rocof_hz_per_s']:g} Hz/s"))
    out: Report = [ReportTable(title, ("quantity", *runs), [
        (label, *(_fmt(summary[r][key]) for r in runs)) for label, key in _ROWS])]
    for r in runs:
        stages = summary[r]["stages"]
        if stages:
            clock = "clock" in stages[0]
            out.append(ReportTable(f"{r}: stages fired", (
                "kind", "stage", "action", "first at (s)", *(("clock",) if clock else ()),
                "f (Hz)", "times"),
                [(g["kind"], g["stage"], g["action"], f"{g['first_t_s']:.2f}",
                  *((g["clock"],) if clock else ()), f"{g['f_hz']:.3f}", g["count"])
                 for g in stages]))
        else:
            out.append(f"{r}: no stage fired")
    if "settlement" in summary:
        out.append(settlement_table(summary["settlement"]))
    for rec in summary.get("reload", {}).get("records", ()):
        out.append(f"reload {rec['version']} from sample {rec['from_sample']}: "
                   + (f"rejected ({rec['error']})" if rec["error"] else
                      f"applied {', '.join(rec['applied']) or 'nothing live'}"
                      + (f"; needs a restart: {', '.join(rec['restart'])}"
                         if rec["restart"] else "")))
    if "nadir_gain_hz" in summary:
        out.append(f"the VPP raised the nadir by [bold]{summary['nadir_gain_hz']:.3f} Hz[/]")
    return out


def settlement_table(s: Mapping[str, Any]) -> ReportTable:
    """The providers that fell short one by one, the rest in one row, and the totals."""
    money = ("capacity_payment_eur", "withheld_eur", "penalty_eur", "net_payment_eur")
    short = [p for p in s["providers"] if p["withheld_eur"] > 0 or p["penalty_eur"] > 0]
    full = [p for p in s["providers"] if p not in short]
    rows = [(p["site"], f"{p['sold_mw']:g}",
             f"{p['required_mwh'] * 1e3:.2f}", f"{p['shortfall_mwh'] * 1e3:.2f}",
             f"{p['performance']:.0%}", *(f"{p[k]:,.2f}" for k in money)) for p in short]
    if full:
        rows.append((f"{len(full)} others", f"{sum(p['sold_mw'] for p in full):g}",
                     f"{sum(p['required_mwh'] for p in full) * 1e3:.2f}", "0", "100%",
                     *(f"{sum(p[k] for p in full):,.2f}" for k in money)))
    rows.append(("total", f"{sum(p['sold_mw'] for p in s['providers']):g}", "", "", "",
                 *(f"{s[k]:,.2f}" for k in money)))
    return ReportTable(
        f"{s['run']}: settlement of the capacity sold (penalty {s['penalty_eur_mwh']:g} "
        f"EUR/MWh of shortfall, tolerance {s['tolerance_share']:.0%} of the sold MW)",
        ("site", "MW", "called kWh", "short kWh", "perf.", "paid EUR", "withheld",
         "penalty", "net EUR"), rows)


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 100 else f"{v:,.2f}"
    return str(v)
