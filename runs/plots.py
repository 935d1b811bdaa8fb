"""Plots of a run as PNGs, drawn from the same views as the trace explorer (so any traced
run can be plotted again): clock time on the x axis, units on every axis, one colour per
site, unserved energy and shedding stages marked and labelled, tolerances drawn.

matplotlib is the ``plots`` extra: without it each ``plot_*`` raises
:class:`~vpp.physics.extras.MissingExtra` before reading anything."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from vpp.physics.extras import require
from vpp.runs.explorer import studies, views
from vpp.runs.explorer.record import RunRecord

DPI = 110


def _pyplot():
    matplotlib = require("plots", "drawing PNG plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(plt, n: int) -> list:
    """``n`` distinct colours: tab10, then tab20's light shades, then a spread of hues."""
    base = list(plt.cm.tab10.colors) + list(plt.cm.tab20.colors[1::2])
    if n <= len(base):
        return base[:n]
    return [plt.cm.hsv(i / n) for i in range(n)]


def _clock(times: list[str]) -> list:
    out = []
    for t in times:
        try:
            out.append(datetime.strptime(t, "%Y-%m-%d %H:%M:%S"))
        except ValueError:
            return list(range(len(times)))
    return out


def _time_axis(ax, x: list) -> None:
    import matplotlib.dates as mdates

    if x and isinstance(x[0], datetime):
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M\n%d %b"))
        ax.set_xlabel("time (UTC)")
    else:
        ax.set_xlabel("step")


def plot_run(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``dispatch.png`` (:func:`run_figure`). Returns the file written."""
    _pyplot()                                   # the plots extra, before reading the run
    return _save(run_figure(run_dir), Path(out) if out else Path(run_dir) / "dispatch.png")


def _save(fig, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(out, dpi=DPI)
    plt.close(fig)
    return out


def _bars(ax, edges: list, low, high, **style) -> None:
    """Bars from ``low`` to ``high`` over each step (``edges``: the steps' starts and the
    last one's end) as one filled step outline: what ``ax.bar`` draws, without a patch per
    step (2,900 of them made the default run's figure take 3 s)."""
    if not len(edges):
        return
    ax.fill_between(edges, [*low, low[-1]], [*high, high[-1]], step="post", lw=0, **style)


def run_figure(run_dir: Path | str):
    """Each site's dispatch stacked against the target and what was served, steps with
    unserved energy shaded red and labelled, the reserve asked and held, and the marginal
    price and cost, over clock time (a matplotlib Figure)."""
    plt = _pyplot()
    import numpy as np

    o = views.overview(RunRecord(run_dir))
    x = _clock(o["times"])
    dated = bool(x) and isinstance(x[0], datetime)
    width = timedelta(minutes=o["step_minutes"]) if dated else 1
    edges = [*x, x[-1] + width] if x else x
    hold = (lambda v: [*v, v[-1]] if v else v)
    fig, (ax, axr, axp) = plt.subplots(3, 1, figsize=(12, 9), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1.2, 1.2]})
    series = [(s["site"], np.array(s["power_kw"])) for s in o["sites"]]
    if o["others"]:
        series.append((f"{o['others']['count']} other sites", np.array(o["others"]["power_kw"])))
    colors = _colors(plt, len(series))
    pos_base = np.zeros(len(x))
    neg_base = np.zeros(len(x))
    for (name, p), c in zip(series, colors):   # stacked bars, one filled outline per side
        up, down = np.clip(p, 0, None), np.clip(p, None, 0)
        _bars(ax, edges, pos_base, pos_base + up, color=c, label=name)
        _bars(ax, edges, neg_base, neg_base + down, color=c)
        pos_base += up
        neg_base += down
    ax.step(edges, hold(o["target_kw"]), where="post", color="black", lw=2.2,
            label="target (net)")
    ax.step(edges, hold(o["served_kw"]), where="post", color="white", lw=1.2, ls="--",
            label="served (net)")
    for k in o["unserved_steps"]:
        i = o["steps"].index(k)
        for a in (ax, axr):
            a.axvspan(x[i], x[i] + width, color="tab:red", alpha=0.25, lw=0)
    if o["unserved_steps"]:
        first = o["steps"].index(o["unserved_steps"][0])
        ax.annotate(f"red bands: unserved energy in {len(o['unserved_steps'])} steps "
                    f"({o['totals']['unserved_kwh']:,.1f} kWh), first at "
                    f"{o['times'][first][11:16]}", (0.99, 0.97), xycoords="axes fraction",
                    ha="right", va="top", color="tab:red", fontsize=9, fontweight="bold",
                    bbox={"facecolor": "white", "edgecolor": "tab:red", "alpha": 0.9})
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("power (kW, + injection)\nbars: each site")
    ax.set_title(f"{o['scenario']}: {o['mode']} dispatch (seed {o['seed']})")
    ax.legend(loc="upper left", fontsize=7, ncol=3, framealpha=0.85)
    zero = np.zeros(len(x))
    _bars(axr, edges, zero, np.array(o["unserved_kw"], dtype=float), color="tab:red",
          label="unserved power")
    axr.step(edges, hold(o["reserve_target_kw"]), where="post", color="tab:purple", ls=":",
             label="reserve asked")
    axr.step(edges, hold(o["reserve_served_kw"]), where="post", color="tab:purple",
             label="reserve held")
    axr.set_ylabel("kW")
    axr.legend(loc="upper left", fontsize=7, ncol=3)
    price = [np.nan if p is None else p for p in o["price_eur_mwh"]]
    axp.step(edges, hold(price), where="post", color="tab:purple", label="marginal price")
    axp.set_ylabel("marginal price\n(EUR/MWh)")
    axc = axp.twinx()
    _bars(axc, edges, zero, np.array(o["cost_eur"], dtype=float), color="tab:brown",
          alpha=0.3, label="cost per step")
    axc.set_ylabel("cost (EUR)")
    axp.legend(loc="upper left", fontsize=7)
    axc.legend(loc="upper right", fontsize=7)
    _time_axis(axp, x)
    return fig


def plot_rounds(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``rounds.png`` (:func:`rounds_figure`). Returns the file written.

    Raises:
        ValueError: when the trace holds no ADMM rounds.
    """
    _pyplot()                                   # the plots extra, before reading the run
    return _save(rounds_figure(run_dir), Path(out) if out else Path(run_dir) / "rounds.png")


def rounds_figure(run_dir: Path | str):
    """Each ADMM negotiation's primal and dual residuals (log scale) with their tolerances
    as dashed lines, and the penalty per iteration (a matplotlib Figure).

    Raises:
        ValueError: when the trace holds no ADMM rounds.
    """
    a = studies.admm(RunRecord(run_dir))
    if not a["negotiations"]:
        raise ValueError(f"{run_dir} holds no ADMM rounds to plot")
    plt = _pyplot()
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    many = len(a["negotiations"]) > 1
    for n, c in zip(a["negotiations"], _colors(plt, len(a["negotiations"]))):
        tag = f"{n['conversation']}: " if many else ""
        ax.semilogy(n["round"], n["primal_residual"], color=c, label=f"{tag}primal residual")
        ax.semilogy(n["round"], n["dual_residual"], color=c, ls="-.", alpha=0.8,
                    label=f"{tag}dual residual")
        if any(e is not None for e in n["eps_pri"]):
            ax.semilogy(n["round"], n["eps_pri"], color=c, ls="--", lw=1,
                        label=f"{tag}primal tolerance")
            ax.semilogy(n["round"], n["eps_dual"], color=c, ls=":", lw=1,
                        label=f"{tag}dual tolerance")
        axr.plot(n["round"], n["rho"], color=c)
    ax.set_ylabel("residual (kW)")
    ax.set_title("ADMM convergence: residuals against their tolerances")
    ax.legend(fontsize=7, ncol=2)
    axr.set_ylabel("penalty rho\n(1/EUR)")
    axr.set_xlabel("iteration")
    return fig


_STAGE_MARKERS = ("v", "s", "D", "*", "^", "P", "X", "h")


def plot_frequency(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``frequency.png`` of a grid event (:func:`frequency_figure`). Returns the file.

    Raises:
        ValueError: when the trace holds no frequency samples.
    """
    _pyplot()                                   # the plots extra, before reading the run
    return _save(frequency_figure(run_dir),
                 Path(out) if out else Path(run_dir) / "frequency.png")


def frequency_figure(run_dir: Path | str):
    """A grid event: frequency per run (with and without the VPP, or the replay) with each
    stage that fired as its own labelled marker, the VPP's response (service, load shed,
    curtailment), the mean state of charge and the load shed; clock time when the event
    replays a dated recording (a matplotlib Figure).

    Raises:
        ValueError: when the trace holds no frequency samples.
    """
    g = studies.grid(RunRecord(run_dir))
    if not g["runs"]:
        raise ValueError(f"{run_dir} holds no frequency samples to plot")
    plt = _pyplot()
    start = datetime.fromisoformat(g["clock_start"]) if g["clock_start"] else None

    def xs(ts):
        return [start + timedelta(seconds=t) for t in ts] if start else ts

    fig, (axf, axp, axs, axl) = plt.subplots(4, 1, figsize=(11, 11), sharex=True,
                                             gridspec_kw={"height_ratios": [3, 2, 1, 1]})
    colors = dict(zip(g["runs"], _colors(plt, len(g["runs"]))))
    for label, r in g["runs"].items():
        t = xs(r["t_s"])
        grey = label == "without-vpp"
        style = {"ls": "--", "color": "grey"} if grey else {"color": colors[label]}
        axf.plot(t, r["f_hz"], label=label, **style)
        soc = [float("nan") if s is None else s for s in r["state_of_charge"]]
        axl.fill_between(t, r["shed_mw"], step="post", alpha=0.35 if not grey else 0.15,
                         color=style["color"], label=label)
        if grey:
            continue
        axp.plot(t, r["vpp_mw"], color="black", lw=1.5, label=f"{label}: net injection change")
        axp.plot(t, r["response_mw"], color="tab:blue", label="service response")
        axp.plot(t, r["shed_mw"], color="tab:red", label="load shed")
        axp.plot(t, [-c for c in r["curtailed_mw"]], color="tab:olive",
                 label="PV/wind curtailed (-)")
        axs.plot(t, soc, color=colors[label], label=label)
    stage_colors = _colors(plt, max(len(g["stages"]), 1))
    for i, s in enumerate(g["stages"]):
        when = xs([s["t_s"]])[0]
        clock = (f"{when:%H:%M:%S}.{when.microsecond // 100_000}" if start
                 else f"{s['t_s']:.1f} s")
        axf.plot([when], [s["f_hz"]], ls="none", marker=_STAGE_MARKERS[i % len(_STAGE_MARKERS)],
                 ms=10, mec="black", color=stage_colors[i],
                 label=f"{s['run']}: {s['kind']} stage {s['stage']} {s['action']} "
                       f"({len(s['sites'])} sites) at {clock}, {s['f_hz']:.3f} Hz")
    axf.set_ylabel("frequency (Hz)")
    axf.set_title(f"{g['scenario']}: frequency response")
    axf.legend(fontsize=7, loc="lower left")
    axp.axhline(0, color="grey", lw=0.5)
    axp.set_ylabel("VPP (MW, + injection)")
    axp.legend(fontsize=7, ncol=2)
    axs.set_ylabel("mean state of\ncharge (0-1)")
    axl.set_ylabel("load shed (MW)")
    axl.legend(fontsize=7)
    if start:
        import matplotlib.dates as mdates

        axl.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        axl.set_xlabel(f"time ({start:%Y-%m-%d})")
    else:
        axl.set_xlabel("time from the event's start (s)")
    return fig


def plot_voltage(run_dir: Path | str, out: Path | str | None = None) -> Path:
    """Draw ``voltage.png`` of a Volt-VAR study (:func:`voltage_figure`). Returns the file.

    Raises:
        ValueError: when the run has no Volt-VAR study.
    """
    _pyplot()                                   # the plots extra, before reading the run
    return _save(voltage_figure(run_dir), Path(out) if out else Path(run_dir) / "voltage.png")


def voltage_figure(run_dir: Path | str):
    """A Volt-VAR study: the highest and lowest monitored voltage per hour with and without
    Volt-VAR against the band, and each inverter's reactive power with its kVA room
    ``sqrt(S^2 - P^2)``, over clock time (a matplotlib Figure).

    Raises:
        ValueError: when the run has no Volt-VAR study.
    """
    record = RunRecord(run_dir)
    if not record.has("voltage.csv"):
        raise ValueError(f"{run_dir} holds no Volt-VAR study (voltage.csv) to plot")
    v = studies.voltage(record)
    plt = _pyplot()
    x = [datetime.fromisoformat(t) for t in v["times"]]
    low, high = v["band_pu"]
    fig, (axv, axq) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    axv.axhspan(low, high, color="tab:green", alpha=0.08, label=f"band {low:g}-{high:g} pu")
    axv.fill_between(x, v["min_vm_pu_without"], v["max_vm_pu_without"], color="tab:red",
                     alpha=0.25, step="post", label="without Volt-VAR (min-max)")
    axv.fill_between(x, v["min_vm_pu_with"], v["max_vm_pu_with"], color="tab:blue",
                     alpha=0.35, step="post", label="with Volt-VAR (min-max)")
    axv.step(x, v["max_vm_pu_without"], where="post", color="tab:red", lw=1)
    axv.step(x, v["max_vm_pu_with"], where="post", color="tab:blue", lw=1)
    for limit, name in ((high, "upper"), (low, "lower")):
        axv.axhline(limit, color="black", lw=0.8, ls="--")
        axv.annotate(f"{name} limit {limit:g} pu", (1.0, limit), xycoords=("axes fraction", "data"),
                     ha="right", va="bottom", fontsize=8)
    axv.set_ylabel("voltage of the monitored buses (pu)")
    axv.set_title(f"{v['scenario']}: Volt-VAR ({v['curve']}) on {v['network']}: "
                  f"{v['out_of_band']['without']} hours out of band without, "
                  f"{v['out_of_band']['with']} with")
    axv.legend(fontsize=8, loc="upper left")
    sites = list(v["inverters"])
    for site, c in zip(sites, _colors(plt, len(sites))):
        s = v["inverters"][site]
        t = [datetime.fromisoformat(z) for z in s["time"]]
        axq.plot(t, s["q_kvar"], color=c, marker="o", ms=3, label=f"{site} Q")
        axq.plot(t, [-r for r in s["room_kvar"]], color=c, lw=0.8, ls=":")
    axq.axhline(0, color="grey", lw=0.5)
    axq.set_ylabel("reactive power (kvar, + inject)\ndotted: -sqrt(S^2 - P^2)")
    import matplotlib.dates as mdates

    axq.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axq.set_xlabel(f"time (UTC, {x[0]:%Y-%m-%d})" if x else "time (UTC)")
    axq.legend(fontsize=7, ncol=3)
    return fig
