"""What a Volt-VAR run says when it ends: per step the band with and without Volt-VAR."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpp.runs.modes.base import Report, ReportTable


def voltage_report(v_: Mapping[str, Any]) -> Report:
    """Per step: the band with and without Volt-VAR, the reactive power, the kVA use
    (the largest inverter's apparent power over its rating) and how many the limit cut;
    then the totals."""
    low, high = v_["band_pu"]

    def v(value: float) -> str:
        return f"{value:.3f}" + ("" if low <= value <= high else "!")

    rows = [(s["time"][11:16], f"{s['pv_kw']:.0f}",
             v(s["without"]["min_vm_pu"]), v(s["without"]["max_vm_pu"]),
             v(s["with"]["min_vm_pu"]), v(s["with"]["max_vm_pu"]), f"{s['q_kvar']:.0f}",
             f"{max(i['apparent_kva'] / i['s_kva'] for i in s['inverters'].values()):.0%}",
             sum(i["kva_limited"] for i in s["inverters"].values()))
            for s in v_["steps"]]
    return [
        ReportTable(
            f"Volt-VAR ({v_['curve_name']}) on {v_['network']}, {len(v_['sites'])} "
            f"inverters, band {low:g}-{high:g} pu on {', '.join(v_['monitor'])} "
            f"(! = outside)",
            ("UTC", "PV kW", "min w/o", "max w/o", "min VV", "max VV", "Q kvar", "kVA use",
             "cut"), rows),
        f"steps out of the band: [bold]{v_['steps_out_of_band_without']}[/] without "
        f"Volt-VAR, [bold]{v_['steps_out_of_band_with']}[/] with it; highest voltage "
        f"{v_['max_vm_pu_without']:.4f} -> {v_['max_vm_pu_with']:.4f} pu; largest inverter "
        f"use {v_['max_kva_use']:.0%} of its kVA"]
