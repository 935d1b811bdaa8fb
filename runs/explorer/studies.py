"""The pages of particular runs, as plain data: ADMM convergence, grid events, Volt-VAR
studies, markets and backtests. Built from :class:`vpp.runs.explorer.record.RunRecord`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from vpp.markets.trading.performance import drawdown
from vpp.runs.explorer.record import RunRecord, clock_text


def admm(record: RunRecord, conversation: str | None = None) -> dict[str, Any]:
    """ADMM negotiations: residuals per round against their tolerances, the penalty, the
    mean price, and (for one negotiation) each site's final schedule against the sum of
    schedules and the target over the horizon."""
    rounds = record.rounds("admm")
    convs: dict[str, list[dict]] = {}
    for r in rounds:
        convs.setdefault(r["conversation"], []).append(r)
    out = []
    for conv, rs in convs.items():
        rs.sort(key=lambda r: r["round"])
        out.append({
            "conversation": conv, "step": rs[0]["step"],
            "round": [r["round"] for r in rs],
            "primal_residual": [r["primal_residual"] for r in rs],
            "dual_residual": [r["dual_residual"] for r in rs],
            "eps_pri": [r["detail"].get("eps_pri") for r in rs],
            "eps_dual": [r["detail"].get("eps_dual") for r in rs],
            "rho": [r["step_size"] for r in rs],
            "price_eur_mwh": [r["price"] for r in rs],
            "active": [r["detail"].get("active") for r in rs],
            "dropped": sorted({d for r in rs for d in r["detail"].get("dropped") or []}),
        })
    chosen = next((c for c in out if c["conversation"] == conversation),
                  out[0] if out else None)
    return {"name": record.name, "negotiations": out,
            "schedules": _schedules(record, chosen) if chosen else None}


def _schedules(record: RunRecord, negotiation: dict[str, Any]) -> dict[str, Any]:
    step = negotiation["step"]
    done = [m for m in record.step_messages(step, kinds=("AdmmDone",))
            if m.direction == "send"
            and m.conversation == negotiation["conversation"] and isinstance(m.body, dict)]
    meta = record.meta()
    sites, dt_h = {}, 1.0
    for m in done:
        body = m.body
        if body.get("included", True) and isinstance(body.get("schedule_kw"), list):
            sites[m.receiver.partition("/")[2] or m.receiver] = body["schedule_kw"]
    first_round = record.first_message(step, "AdmmRound")
    if first_round is not None and isinstance(first_round.body, dict):
        dt_h = float(first_round.body.get("dt_h") or 1.0)
    horizon = max((len(v) for v in sites.values()), default=0)
    start, minutes = record.clock(meta)
    first = None if start is None else start + timedelta(minutes=step * minutes)
    times = ([clock_text(first + timedelta(hours=h * dt_h)) for h in range(horizon)]
             if first else [f"{h * dt_h:g} h" for h in range(horizon)])
    steps = {s["step"]: s for s in record.steps()}
    per_step_h = minutes / 60.0
    target = []
    for h in range(horizon):
        k = step + round(h * dt_h / per_step_h)
        target.append(steps[k]["target_kw"] if k in steps else None)
    consensus = [sum(v[h] for v in sites.values() if h < len(v)) for h in range(horizon)]
    return {"conversation": negotiation["conversation"], "times": times, "dt_h": dt_h,
            "sites": sites, "consensus_kw": consensus, "target_kw": target}


def grid(record: RunRecord) -> dict[str, Any]:
    """A grid event: frequency, RoCoF, the VPP's response, the state of charge per run
    (with and without the VPP, or a replay), and each shedding stage once, labelled."""
    summary = record.summary()
    runs: dict[str, dict[str, list]] = {}
    stages: dict[tuple, dict[str, Any]] = {}
    for r in sorted(record.rounds(), key=lambda r: (r["conversation"], r["sim_time"])):
        label = r["conversation"].partition("/")[2] or r["conversation"]
        d = r["detail"]
        if r["protocol"] == "frequency":
            run = runs.setdefault(label, {k: [] for k in (
                "t_s", "f_hz", "rocof_hz_per_s", "vpp_mw", "response_mw", "shed_mw",
                "curtailed_mw", "state_of_charge")})
            run["t_s"].append(r["sim_time"])
            run["f_hz"].append(d.get("f_hz"))
            run["rocof_hz_per_s"].append(d.get("rocof_hz_per_s"))
            run["vpp_mw"].append(_mw(r["served_kw"]))
            run["response_mw"].append(_mw(d.get("response_kw")))
            run["shed_mw"].append(_mw(d.get("shed_kw")))
            run["curtailed_mw"].append(_mw(d.get("curtailed_kw")))
            run["state_of_charge"].append(d.get("state_of_charge"))
        elif r["protocol"] == "frequency-stage":
            key = (label, d.get("kind"), d.get("stage"), d.get("action"))
            entry = stages.setdefault(key, {
                "run": label, "kind": d.get("kind"), "stage": d.get("stage"),
                "action": d.get("action"), "t_s": r["sim_time"], "f_hz": d.get("f_hz"),
                "sites": []})
            entry["sites"].append(str(d.get("site")))
            if r["sim_time"] < entry["t_s"]:
                entry["t_s"], entry["f_hz"] = r["sim_time"], d.get("f_hz")
    start = summary.get("replay_start")
    return {
        "name": record.name, "scenario": summary.get("scenario"),
        "f0_hz": summary.get("f0_hz"), "clock_start": _iso(start),
        "runs": runs,
        "stages": sorted(stages.values(), key=lambda s: (s["run"], s["t_s"])),
        "results": {k: v for k, v in summary.items()
                    if isinstance(v, dict) and "nadir_hz" in v},
    }


def _mw(kw: float | None) -> float | None:
    return None if kw is None else kw / 1000.0


def _iso(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        return None


def voltage(record: RunRecord) -> dict[str, Any]:
    """A Volt-VAR study: the monitored voltage band per step with and without Volt-VAR,
    and each inverter's reactive power against its room ``sqrt(S^2 - P^2)``."""
    summary = record.summary()
    steps, inverters = record.table("voltage.csv"), record.table("inverters.csv")
    v = summary.get("voltage", {})
    per_site: dict[str, dict[str, list]] = {}
    for row in inverters:
        site = per_site.setdefault(row["site"], {"time": [], "q_kvar": [], "room_kvar": [],
                                                 "p_kw": []})
        p, s = float(row["p_kw"]), float(row["s_kva"])
        site["time"].append(row["time"])
        site["q_kvar"].append(float(row["q_kvar"]))
        site["p_kw"].append(p)
        site["room_kvar"].append(max(s * s - p * p, 0.0) ** 0.5)
    return {
        "name": record.name, "scenario": summary.get("scenario"),
        "band_pu": v.get("band_pu"), "network": v.get("network"),
        "curve": v.get("curve_name"),
        "times": [s["time"] for s in steps],
        **{k: [float(s[k]) for s in steps] for k in (
            "min_vm_pu_without", "max_vm_pu_without", "min_vm_pu_with", "max_vm_pu_with")},
        "out_of_band": {"without": v.get("steps_out_of_band_without"),
                        "with": v.get("steps_out_of_band_with")},
        "inverters": per_site,
    }


def market(record: RunRecord) -> dict[str, Any]:
    """Markets and trading: the day-ahead supply and demand curves per hour with their
    clearing point, the ancillary result, and a backtest's equity, drawdown (of the hourly
    equity: deeper than the summary's, which is of the equity at the end of each day),
    order-book trades and rejections by limit."""
    summary = record.summary()
    out: dict[str, Any] = {"name": record.name, "scenario": summary.get("scenario"),
                           "day_ahead": None, "ancillary": None, "backtest": None}
    m = summary.get("market") or {}
    if record.has_trace and "day_ahead" in m:
        out["day_ahead"] = _day_ahead(record, m["day_ahead"])
    out["ancillary"] = m.get("ancillary")
    if record.has("equity.csv"):
        out["backtest"] = _backtest(record, summary)
    return out


def _day_ahead(record: RunRecord, result: dict[str, Any]) -> dict[str, Any]:
    """Per hour: the summed sell steps as the supply curve (price ascending), the summed
    buy steps as the demand curve (price descending), the clearing price and volume."""
    bids = [m for m in record.messages("DayAheadBid") if m.direction == "send"
            and isinstance(m.body, dict)]
    prices = [m for m in record.messages("DayAheadPrices") if m.direction == "send"
              and isinstance(m.body, dict)]
    steps: dict[int, dict[str, list]] = {}
    bidders = sorted({str(m.body.get("bid_id")) for m in bids})
    for m in bids:
        for curve in m.body.get("curves") or []:
            hour = steps.setdefault(int(curve["hour"]), {"sell": [], "buy": []})
            for q, p in curve.get("steps") or []:
                (hour["sell"] if q > 0 else hour["buy"]).append(
                    (float(p), abs(float(q)), str(m.body.get("bid_id"))))
    clearing = {int(h["hour"]): h for m in prices for h in m.body.get("hours") or []}
    own = {int(h["hour"]): h for h in result.get("hours", [])}
    hours = []
    for hour in sorted(steps):
        sell = sorted(steps[hour]["sell"])
        buy = sorted(steps[hour]["buy"], key=lambda s: -s[0])
        c = clearing.get(hour, {})
        volume = c.get("volume_mwh")
        small = [q for _, q, _ in sell + buy if volume is None or q < 0.1 * volume]
        span = 1.5 * sum(small) or 1.0
        prices = [p for p, _, _ in sell + buy if abs(p) < ZOOM_PRICE_CAP]
        hours.append({
            "zoom": None if volume is None or not prices else {
                "q_mw": [volume - span, volume + span],
                "price_eur_mwh": [min(prices) - 5, max(prices) + 5]},
            "hour": hour, "supply": _curve(sell), "demand": _curve(buy),
            "clearing_price_eur_mwh": c.get("clearing_price_eur_mwh"),
            "volume_mwh": c.get("volume_mwh"),
            "sold_mw": own.get(hour, {}).get("sold_mw"),
            "bought_mw": own.get(hour, {}).get("bought_mw")})
    return {"bidders": bidders, "hours": hours}


ZOOM_PRICE_CAP = 1000.0
"""Prices beyond this (EUR/MWh; price caps and floors of must-clear bids) are left out of
the first view of the curves."""


def _curve(steps: list[tuple[float, float, str]]) -> dict[str, list]:
    """A step curve: cumulative quantity (MW) against price, two points per step."""
    qs, ps, total = [], [], 0.0
    for price, q, _ in steps:
        qs += [total, total + q]
        ps += [price, price]
        total += q
    return {"q_mw": qs, "price_eur_mwh": ps}


def _backtest(record: RunRecord, summary: dict[str, Any]) -> dict[str, Any]:
    equity = record.table("equity.csv")
    traders = [t["trader"] for t in summary.get("traders", [])] or sorted(
        {k[:-len("_equity_eur")] for k in (equity[0] if equity else {})
         if k.endswith("_equity_eur")})
    series = {}
    for t in traders:
        values = [float(row[f"{t}_equity_eur"]) for row in equity]
        series[t] = {"equity_eur": values,
                     "drawdown_eur": [-x for x in drawdown(values).tolist()] if values else []}
    trades = record.table("trades.csv")
    rejections: dict[str, dict[str, int]] = {}
    for row in record.table("rejections.csv"):
        per = rejections.setdefault(row["trader"], {})
        per[row["limit"]] = per.get(row["limit"], 0) + 1
    first = summary.get("first")
    return {
        "times": [row["timestamp_utc"] for row in equity], "traders": series,
        "trades": [{"trader": r["trader"], "market": r["market"],
                    "delivery_hour": int(r["delivery_hour"]), "side": r["side"],
                    "quantity_mw": float(r["quantity_mw"]),
                    "price_eur_mwh": float(r["price_eur_mwh"])} for r in trades],
        "first": first, "rejections": rejections,
        "results": summary.get("traders", []),
    }
