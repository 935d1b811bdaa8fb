"""``vpp run`` of a scenario with a ``grid:`` section: the grid event, the Volt-VAR
study, and their summaries."""

from __future__ import annotations

from pathlib import Path

from vpp.runs.cli.common import console, fail, table


def run_grid_event(spec, path: Path, run_dir: Path, plot: bool, *, watch: bool = False,
                   pace: float | None = None) -> None:
    """Run the grid section: the event (nadir / RoCoF with and without the VPP, the
    stages fired, the settlement) and the Volt-VAR study, each with its table and plot;
    ``watch`` and ``pace`` as in :func:`vpp.runs.modes.grid_event.event.run_event`."""
    from vpp.runs.modes.grid_event.event import run_grid
    from vpp.runs.scenario import ScenarioError

    try:
        with console.status(f"{spec.name}: grid"):
            summary = run_grid(spec, run_dir, path, watch=watch, pace=pace)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    if summary.get("kind") != "volt-var":
        _print_event(spec, summary, run_dir, plot)
    if "voltage" in summary:
        _print_voltage(summary["voltage"])
        if plot:
            from vpp.runs.plots import plot_voltage

            plot_voltage(run_dir)
        console.print(f"results in [bold]{run_dir}[/]  (next: vpp trace plot {run_dir} "
                      "--voltage)")


def _print_voltage(v_: dict) -> None:
    """Per step: the band with and without Volt-VAR, the reactive power, the kVA use
    (the largest inverter's apparent power over its rating) and how many the limit cut."""
    low, high = v_["band_pu"]

    def v(value: float) -> str:
        return f"{value:.3f}" + ("" if low <= value <= high else "!")

    rows = [(s["time"][11:16], f"{s['pv_kw']:.0f}",
             v(s["without"]["min_vm_pu"]), v(s["without"]["max_vm_pu"]),
             v(s["with"]["min_vm_pu"]), v(s["with"]["max_vm_pu"]), f"{s['q_kvar']:.0f}",
             f"{max(i['apparent_kva'] / i['s_kva'] for i in s['inverters'].values()):.0%}",
             sum(i["kva_limited"] for i in s["inverters"].values()))
            for s in v_["steps"]]
    console.print(table(
        f"Volt-VAR ({v_['curve_name']}) on {v_['network']}, {len(v_['sites'])} inverters, "
        f"band {low:g}-{high:g} pu on {', '.join(v_['monitor'])} (! = outside)",
        ("UTC", "PV kW", "min w/o", "max w/o", "min VV", "max VV", "Q kvar", "kVA use",
         "cut"), rows))
    console.print(f"steps out of the band: [bold]{v_['steps_out_of_band_without']}[/] without "
                  f"Volt-VAR, [bold]{v_['steps_out_of_band_with']}[/] with it; highest "
                  f"voltage {v_['max_vm_pu_without']:.4f} -> {v_['max_vm_pu_with']:.4f} pu; "
                  f"largest inverter use {v_['max_kva_use']:.0%} of its kVA")


def _print_event(spec, summary: dict, run_dir: Path, plot: bool) -> None:
    """Nadir / RoCoF with and without the VPP, the stages fired, the settlement."""
    runs = [k for k in ("with-vpp", "without-vpp", "replay") if k in summary]
    rows = [
        ("nadir (Hz)", "nadir_hz"), ("nadir at (s)", "nadir_t_s"), ("peak (Hz)", "peak_hz"),
        ("RoCoF after the event (Hz/s)", "initial_rocof_hz_per_s"),
        ("largest |RoCoF| (Hz/s)", "max_abs_rocof_hz_per_s"), ("final (Hz)", "final_hz"),
        ("VPP injection, peak (MW)", "vpp_peak_mw"), ("service response, peak (MW)",
                                                      "response_peak_mw"),
        ("load shed, peak (MW)", "shed_peak_mw"), ("PV/wind curtailed, peak (MW)",
                                                   "curtailed_peak_mw"),
        ("service energy (kWh)", "response_kwh"), ("load shed (kWh)", "shed_kwh"),
        ("lowest mean state of charge", "min_mean_state_of_charge"),
        ("samples late", "late_samples")]
    title = (f"grid event {spec.name}: {summary['sites']} sites, "
             + ("replayed recording (open loop)" if summary["open_loop"] else
                f"loss of {summary['lost_mw']:g} MW, swing-equation RoCoF "
                f"{summary['swing_equation_rocof_hz_per_s']:g} Hz/s"))
    console.print(table(title, ("quantity", *runs), [
        (label, *(_fmt(summary[r][key]) for r in runs)) for label, key in rows]))
    for r in runs:
        stages = summary[r]["stages"]
        if stages:
            console.print(table(f"{r}: stages fired", (
                "kind", "stage", "action", "first at (s)", *(("clock",) if "clock" in stages[0]
                                                             else ()), "f (Hz)", "times"),
                [(g["kind"], g["stage"], g["action"], f"{g['first_t_s']:.2f}",
                  *((g["clock"],) if "clock" in g else ()), f"{g['f_hz']:.3f}", g["count"])
                 for g in stages]))
        else:
            console.print(f"{r}: no stage fired")
    if "settlement" in summary:
        _print_settlement(summary["settlement"])
    if "reload" in summary:
        for r in summary["reload"]["records"]:
            console.print(f"reload {r['version']} from sample {r['from_sample']}: "
                          + (f"rejected ({r['error']})" if r["error"] else
                             f"applied {', '.join(r['applied']) or 'nothing live'}"
                             + (f"; needs a restart: {', '.join(r['restart'])}"
                                if r["restart"] else "")))
    if "nadir_gain_hz" in summary:
        console.print(f"the VPP raised the nadir by [bold]{summary['nadir_gain_hz']:.3f} Hz[/]")
    if plot:
        from vpp.runs.plots import plot_frequency

        plot_frequency(run_dir)
    console.print(f"results in [bold]{run_dir}[/]  (next: vpp trace plot {run_dir} --frequency)")


def _print_settlement(s: dict) -> None:
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
    console.print(table(
        f"{s['run']}: settlement of the capacity sold (penalty {s['penalty_eur_mwh']:g} "
        f"EUR/MWh of shortfall, tolerance {s['tolerance_share']:.0%} of the sold MW)",
        ("site", "MW", "called kWh", "short kWh", "perf.", "paid EUR", "withheld",
         "penalty", "net EUR"), rows))


def _fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 100 else f"{v:,.2f}"
    return str(v)
