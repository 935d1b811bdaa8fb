"""Plots of a run, drawn from its trace (so any traced run can be plotted again)."""

from __future__ import annotations

from pathlib import Path


def plot_run(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``dispatch.png``: target vs served with unserved energy shaded, each site's
    dispatch stacked, the reserve, and the marginal price. Returns the file written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from vpp.agents.trace_reader import TraceReader

    reader = TraceReader(run_dir)
    try:
        steps = reader.steps()
        dispatch = reader.dispatch()
        meta = reader.meta()
    finally:
        reader.close()
    out = Path(out) if out else Path(run_dir) / "dispatch.png"
    k = np.array([s["step"] for s in steps])
    hours = k * float(meta.get("step_minutes", 15)) / 60.0
    target = np.array([s["target_kw"] for s in steps])
    served = np.array([s["served_kw"] for s in steps])
    price = np.array([np.nan if s["marginal_price"] is None else s["marginal_price"]
                      for s in steps])
    sites = sorted({d["site"] for d in dispatch})
    index = {int(s): i for i, s in enumerate(k)}
    power = np.zeros((len(sites), len(k)))
    for d in dispatch:
        power[sites.index(d["site"]), index[d["step"]]] = d["power_kw"]

    fig, (ax, axp) = plt.subplots(2, 1, figsize=(11, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    pos, neg = np.clip(power, 0, None), np.clip(power, None, 0)
    labels = [s.partition("/")[2] or s for s in sites]
    colors = plt.cm.tab20(np.linspace(0, 1, max(len(sites), 1)))
    if len(sites) <= 20:
        ax.stackplot(hours, pos, labels=labels, colors=colors, alpha=0.8, step="post")
        ax.stackplot(hours, neg, colors=colors, alpha=0.8, step="post")
    else:
        ax.fill_between(hours, pos.sum(0), step="post", alpha=0.5, label=f"{len(sites)} sites")
        ax.fill_between(hours, neg.sum(0), step="post", alpha=0.5)
    ax.step(hours, target, where="post", color="black", lw=2, label="target (net)")
    ax.step(hours, served, where="post", color="white", lw=1, ls="--", label="served (net)")
    short = np.abs(served) < np.abs(target) - 1e-9
    ax.fill_between(hours, served, target, where=short, step="post", facecolor="none",
                    edgecolor="red", hatch="xxxx", lw=0, label="unserved")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("power (kW, + injection)\nstacks: each site; net = sum")
    protocol = "ADMM" if meta.get("coordination") == "admm" else "merit-order"
    ax.set_title(f"{meta.get('scenario', '')}: {protocol} dispatch "
                 f"(seed {meta.get('seed', '?')})")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    axp.step(hours, price, where="post", color="tab:purple")
    axp.set_ylabel("marginal price\n(EUR/MWh)")
    axp.set_xlabel("hours from start")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_rounds(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``rounds.png``: ADMM primal and dual residuals (log scale) and the penalty per
    iteration, one line per negotiation. Returns the file written.

    Raises:
        ValueError: when the trace holds no ADMM rounds.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vpp.agents.trace_reader import TraceReader

    reader = TraceReader(run_dir)
    try:
        rounds = [r for r in reader.rounds() if r["protocol"] == "admm"]
    finally:
        reader.close()
    if not rounds:
        raise ValueError(f"{run_dir} holds no ADMM rounds to plot")
    out = Path(out) if out else Path(run_dir) / "rounds.png"
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(9, 6), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    for conv in sorted({r["conversation"] for r in rounds}):
        rows = [r for r in rounds if r["conversation"] == conv]
        k = [r["round"] for r in rows]
        ax.semilogy(k, [r["primal_residual"] for r in rows], label=f"{conv} primal")
        ax.semilogy(k, [r["dual_residual"] for r in rows], ls="--", label=f"{conv} dual")
        axr.plot(k, [r["step_size"] for r in rows])
    ax.set_ylabel("residual (kW)")
    ax.set_title("ADMM convergence")
    ax.legend(fontsize=7)
    axr.set_ylabel("penalty rho")
    axr.set_xlabel("iteration")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_frequency(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``frequency.png`` of a grid event: frequency (each run: with and without the
    VPP, or the replay) with the stages that fired, the VPP's aggregate response (service,
    load shed, curtailment), the mean state of charge and the load shed. Returns the file.

    Raises:
        ValueError: when the trace holds no frequency samples.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vpp.agents.trace_reader import TraceReader

    reader = TraceReader(run_dir)
    try:
        rows = reader.rounds()
        meta = reader.meta()
    finally:
        reader.close()
    samples = [r for r in rows if r["protocol"] == "frequency"]
    stages = [r for r in rows if r["protocol"] == "frequency-stage"]
    if not samples:
        raise ValueError(f"{run_dir} holds no frequency samples to plot")
    out = Path(out) if out else Path(run_dir) / "frequency.png"
    runs: dict[str, list[dict]] = {}
    for r in sorted(samples, key=lambda r: (r["conversation"], r["round"])):
        runs.setdefault(r["conversation"].partition("/")[2] or r["conversation"], []).append(r)
    fig, (axf, axp, axs, axl) = plt.subplots(4, 1, figsize=(10, 10), sharex=True,
                                             gridspec_kw={"height_ratios": [3, 2, 1, 1]})
    for label, rs in runs.items():
        t = [r["sim_time"] for r in rs]
        d = [r["detail"] for r in rs]
        style = {"ls": "--", "color": "grey"} if label == "without-vpp" else {}
        axf.plot(t, [x["f_hz"] for x in d], label=label, **style)
        if label == "without-vpp":
            continue
        axp.plot(t, [r["served_kw"] / 1e3 for r in rs], color="black", lw=1.5,
                 label=f"{label}: net injection change")
        axp.plot(t, [x["response_kw"] / 1e3 for r, x in zip(rs, d)], label="service response")
        axp.plot(t, [x["shed_kw"] / 1e3 for x in d], label="load shed")
        axp.plot(t, [-x["curtailed_kw"] / 1e3 for x in d], label="PV/wind curtailed (-)")
        soc = [x["state_of_charge"] for x in d]
        if any(s is not None for s in soc):
            axs.plot(t, [float("nan") if s is None else s for s in soc], label=label)
        axl.fill_between(t, [x["shed_kw"] / 1e3 for x in d], step="post", alpha=0.5,
                         label=label)
    for label, rs in runs.items():
        if label == "without-vpp":
            rs_shed = [r["detail"]["shed_kw"] / 1e3 for r in rs]
            if any(rs_shed):
                axl.plot([r["sim_time"] for r in rs], rs_shed, ls="--", color="grey",
                         label=label)
    fired = {}
    for s in stages:
        d = s["detail"]
        if d.get("action") == "trip":
            key = (s["conversation"], d["kind"], d["stage"])
            fired[key] = min(fired.get(key, s["sim_time"]), s["sim_time"])
    for (conv, kind, stage), t in sorted(fired.items(), key=lambda kv: kv[1]):
        axf.axvline(t, color="red", lw=0.6, alpha=0.6)
        axf.annotate(f"{conv.partition('/')[2]}: {kind} {stage}", (t, axf.get_ylim()[0]),
                     rotation=90, fontsize=7,
                     color="red", va="bottom")
    axf.set_ylabel("frequency (Hz)")
    axf.set_title(f"{meta.get('scenario', '')}: frequency response")
    axf.legend(fontsize=8)
    axp.axhline(0, color="grey", lw=0.5)
    axp.set_ylabel("VPP (MW, + injection)")
    axp.legend(fontsize=7, ncol=2)
    axs.set_ylabel("mean SoC")
    axl.set_ylabel("load shed (MW)")
    axl.set_xlabel("time (s)")
    if axl.get_legend_handles_labels()[0]:
        axl.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_voltage(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``voltage.png`` of a Volt-VAR study (``voltage.csv``, ``inverters.csv``): the
    highest and lowest monitored voltage per step with and without Volt-VAR against the
    band, and each inverter's reactive power with its kVA room ``sqrt(S^2 - P^2)``.
    Returns the file written.

    Raises:
        ValueError: when the run has no Volt-VAR study.
    """
    import csv
    import json

    run_dir = Path(run_dir)
    if not (run_dir / "voltage.csv").is_file():
        raise ValueError(f"{run_dir} holds no Volt-VAR study (voltage.csv) to plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with (run_dir / "voltage.csv").open(newline="", encoding="utf-8") as fh:
        steps = list(csv.DictReader(fh))
    with (run_dir / "inverters.csv").open(newline="", encoding="utf-8") as fh:
        inverters = list(csv.DictReader(fh))
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    low, high = summary["voltage"]["band_pu"]
    out = Path(out) if out else run_dir / "voltage.png"
    hours = [s["time"][11:16] for s in steps]
    x = np.arange(len(steps))
    col = {k: np.array([float(s[k]) for s in steps]) for k in (
        "min_vm_pu_without", "max_vm_pu_without", "min_vm_pu_with", "max_vm_pu_with")}
    fig, (axv, axq) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    axv.axhspan(low, high, color="tab:green", alpha=0.1, label=f"band {low:g}-{high:g} pu")
    axv.fill_between(x, col["min_vm_pu_without"], col["max_vm_pu_without"], color="tab:red",
                     alpha=0.25, step="mid", label="without Volt-VAR (min-max)")
    axv.fill_between(x, col["min_vm_pu_with"], col["max_vm_pu_with"], color="tab:blue",
                     alpha=0.35, step="mid", label="with Volt-VAR (min-max)")
    axv.plot(x, col["max_vm_pu_without"], color="tab:red", lw=1, drawstyle="steps-mid")
    axv.plot(x, col["max_vm_pu_with"], color="tab:blue", lw=1, drawstyle="steps-mid")
    axv.axhline(high, color="black", lw=0.8, ls="--")
    axv.axhline(low, color="black", lw=0.8, ls="--")
    axv.set_ylabel("voltage of the monitored buses (pu)")
    axv.set_title(f"{summary.get('scenario', '')}: Volt-VAR "
                  f"({summary['voltage']['curve_name']}) on {summary['voltage']['network']}")
    axv.legend(fontsize=8, loc="upper left")
    sites = sorted({r["site"] for r in inverters})
    colors = plt.cm.tab10(np.linspace(0, 1, max(len(sites), 1)))
    for site, c in zip(sites, colors):
        rows = [r for r in inverters if r["site"] == site]
        q = np.array([float(r["q_kvar"]) for r in rows])
        room = np.array([np.sqrt(max(float(r["s_kva"]) ** 2 - float(r["p_kw"]) ** 2, 0.0))
                         for r in rows])
        axq.plot(x, q, color=c, marker="o", ms=3, label=f"{site} Q")
        axq.plot(x, -room, color=c, lw=0.8, ls=":")
    axq.axhline(0, color="grey", lw=0.5)
    axq.set_ylabel("reactive power (kvar, + inject)\ndotted: -sqrt(S^2 - P^2)")
    axq.set_xticks(x, hours, rotation=90, fontsize=7)
    axq.set_xlabel("step start (UTC)")
    axq.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
