"""What each page shows, as plain data: a run's card, its overview, a comparison of two.

Built from :class:`vpp.runs.explorer.record.RunRecord` only; the browser draws it.
"""

from __future__ import annotations

from typing import Any

from vpp.runs.explorer.record import RunRecord

MAX_SITE_SERIES = 20
"""Sites drawn as their own stacked series; beyond this the largest are, the rest are
summed as one series, and every site is in a heat map."""

UNSERVED_KW = 1e-6
"""A step counts as short when its unserved power is above this (kW)."""

HEATMAP_COLUMNS = 2000
"""The most columns of the heat map of every site: a longer run's columns are means over
runs of steps (a year of 1,000 sites by step would be 35 million numbers to draw)."""


def mode(record: RunRecord, summary: dict[str, Any] | None = None,
         meta: dict[str, Any] | None = None) -> str:
    """What kind of run this is: ``merit-order``, ``admm``, ``grid-event``, ``volt-var``,
    ``backtest`` or ``unknown`` (from the summary, else from the trace's meta rows)."""
    summary = record.summary() if summary is None else summary
    meta = record.meta() if meta is None else meta
    kind = summary.get("kind") or meta.get("kind")
    if kind in ("grid-event", "volt-var"):
        return str(kind)
    if "traders" in summary or record.has("equity.csv"):
        return "backtest"
    if record.has("voltage.csv"):
        return "volt-var"
    if "admm" in (summary.get("coordination"), meta.get("coordination")):
        return "admm"
    if summary.get("coordination") == "merit_order" or record.has_trace:
        return "merit-order"
    return "unknown"


def pages(record: RunRecord, run_mode: str, summary: dict[str, Any]) -> list[str]:
    """The pages that have something to show for this run, in menu order."""
    out = []
    if run_mode in ("merit-order", "admm"):
        out += ["overview", "negotiation"]
    if run_mode == "admm":
        out.append("admm")
    if run_mode == "grid-event":
        out.append("grid")
    if run_mode == "volt-var" or record.has("voltage.csv"):
        out.append("voltage")
    if "market" in summary or run_mode == "backtest":
        out.append("market")
    return out


def card(record: RunRecord) -> dict[str, Any]:
    """A run's line on the runs page: name, mode, scenario, date, headline numbers."""
    summary, meta = record.summary(), record.meta()
    run_mode = mode(record, summary, meta)
    return {
        "name": record.name, "mode": run_mode,
        "scenario": summary.get("scenario") or meta.get("scenario"),
        "date": record.modified().isoformat(timespec="seconds"),
        "finished": bool(summary),
        "pages": pages(record, run_mode, summary),
        "headline": headline(run_mode, summary),
    }


def headline(run_mode: str, summary: dict[str, Any]) -> list[list[Any]]:
    """The few numbers that say how a run went: [label, value, unit]."""
    if not summary:
        return [["status", "running (no summary yet)", ""]]
    rows: list[list[Any]] = []
    if run_mode in ("merit-order", "admm"):
        rows = [["sites", summary.get("sites"), ""], ["steps", summary.get("steps"), ""],
                ["served", summary.get("served_kwh"), "kWh"],
                ["unserved", summary.get("unserved_kwh"), "kWh"],
                ["cost", summary.get("cost_eur"), "EUR"],
                ["messages", summary.get("messages"), ""]]
    elif run_mode == "grid-event":
        rows = [["sites", summary.get("sites"), ""]]
        for label in ("with-vpp", "replay", "without-vpp"):
            part = summary.get(label)
            if isinstance(part, dict):
                rows.append([f"nadir {label}", part.get("nadir_hz"), "Hz"])
        rows.append(["messages", summary.get("messages"), ""])
    elif run_mode == "volt-var":
        v = summary.get("voltage", {})
        rows = [["steps out of band without", v.get("steps_out_of_band_without"), ""],
                ["with Volt-VAR", v.get("steps_out_of_band_with"), ""],
                ["max voltage with", v.get("max_vm_pu_with"), "pu"]]
    elif run_mode == "backtest":
        rows = [[f"profit {t.get('trader')}", t.get("profit_eur"), "EUR"]
                for t in summary.get("traders", [])]
    return rows


def _site_label(address: str) -> str:
    return address.partition("/")[2] or address


def overview(record: RunRecord) -> dict[str, Any]:
    """A dispatch run over clock time: target against served, each site's dispatch, the
    reserve, unserved energy, prices and cost. Past :data:`HEATMAP_COLUMNS` steps the heat
    map of every site shows means over runs of steps (``heatmap.bin_steps`` of them, from
    ``heatmap.steps``)."""
    meta, summary = record.meta(), record.summary()
    steps = record.steps()
    ks = [s["step"] for s in steps]
    dt_h = record.clock(meta)[1] / 60.0
    names, power_m, reserve_m = record.dispatch_matrix(ks)
    row = {s: j for j, s in enumerate(names)}
    # the same additions in the same order as a sum over each site's list
    energy = {s: sum(map(abs, power_m[j].tolist())) for s, j in row.items()}
    ranked = sorted(names, key=lambda s: (-energy[s], s))
    shown = ranked if len(ranked) <= MAX_SITE_SERIES else ranked[:MAX_SITE_SERIES - 1]
    rest = ranked[len(shown):]
    others = None
    if rest:
        # row by row (numpy adds along the first axis in order): sum(...) over the rest
        others = {"count": len(rest),
                  "power_kw": (power_m[[row[s] for s in rest]].sum(axis=0) + 0.0).tolist()}
    unserved = [s["step"] for s in steps if s["unserved_kw"] > UNSERVED_KW]
    return {
        "name": record.name, "mode": mode(record, summary, meta),
        "scenario": summary.get("scenario") or meta.get("scenario"),
        "seed": meta.get("seed"), "step_minutes": dt_h * 60, "start": meta.get("start"),
        "steps_planned": meta.get("steps"), "finished": bool(summary),
        "steps": ks, "times": record.step_times(ks, meta),
        "target_kw": [s["target_kw"] for s in steps],
        "served_kw": [s["served_kw"] for s in steps],
        "unserved_kw": [s["unserved_kw"] for s in steps],
        "reserve_target_kw": [s["reserve_target_kw"] for s in steps],
        "reserve_served_kw": [s["reserve_served_kw"] for s in steps],
        "price_eur_mwh": [s["marginal_price"] for s in steps],
        "cost_eur": [s["cost_eur"] for s in steps],
        "rounds": [s["rounds"] for s in steps],
        "silent": [s["silent"] for s in steps],
        "sites": [{"site": _site_label(s), "address": s, "power_kw": power_m[row[s]].tolist(),
                   "reserve_kw": reserve_m[row[s]].tolist()} for s in shown],
        "others": others,
        "heatmap": None if not rest else _heatmap(
            [_site_label(s) for s in ranked], power_m[[row[s] for s in ranked]], ks, record,
            meta),
        "unserved_steps": unserved,
        "trace": record.trace_level(),
        "totals": {
            "target_kwh": sum(abs(s["target_kw"]) for s in steps) * dt_h,
            "served_kwh": sum(abs(s["served_kw"]) for s in steps) * dt_h,
            "unserved_kwh": sum(s["unserved_kw"] for s in steps) * dt_h,
            "reserve_shortfall_kwh": sum(s["reserve_target_kw"] - s["reserve_served_kw"]
                                         for s in steps) * dt_h,
            "cost_eur": sum(s["cost_eur"] for s in steps),
            "sites": len(ranked),
        },
    }


def _heatmap(labels: list[str], z: Any, ks: list[int], record: RunRecord,
             meta: dict[str, Any]) -> dict[str, Any]:
    """Every site's power by step, or past :data:`HEATMAP_COLUMNS` steps by runs of
    ``bin_steps`` steps (their means; the last run may be shorter), ``steps`` and ``times``
    then giving each run's first step."""
    if len(ks) <= HEATMAP_COLUMNS:
        return {"sites": labels, "z": z.tolist()}
    import numpy as np

    width = -(-len(ks) // HEATMAP_COLUMNS)
    starts = np.arange(0, len(ks), width)
    counts = np.diff(np.append(starts, len(ks)))
    means = np.add.reduceat(z, starts, axis=1) / counts
    firsts = [ks[i] for i in starts.tolist()]
    return {"sites": labels, "z": means.tolist(), "bin_steps": int(width), "steps": firsts,
            "times": record.step_times(firsts, meta)}


def _numbers(summary: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, float]:
    """The summary's numbers, nested objects flattened one level (``with-vpp.nadir_hz``)."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[prefix + key] = value
        elif isinstance(value, dict) and depth == 0:
            out.update(_numbers(value, f"{key}.", 1))
    return out


def compare(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """Two runs side by side: their per-step series (when both are dispatch runs) and a
    table of every summary number both hold, with the difference B - A."""
    sa, sb = a.summary(), b.summary()
    na, nb = _numbers(sa), _numbers(sb)
    rows = [[k, na[k], nb[k], nb[k] - na[k]] for k in na if k in nb]
    series = {}
    for key, record in (("a", a), ("b", b)):
        if mode(record) in ("merit-order", "admm"):
            o = overview(record)
            series[key] = {f: o[f] for f in (
                "name", "steps", "times", "target_kw", "served_kw", "unserved_kw",
                "price_eur_mwh", "cost_eur", "reserve_served_kw")}
    return {"a": card(a), "b": card(b), "differences": rows,
            "only_a": sorted(set(na) - set(nb)), "only_b": sorted(set(nb) - set(na)),
            "series": series}
