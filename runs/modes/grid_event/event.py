"""A grid event from a scenario's ``grid:`` section: the VPP's sites answer the frequency
on their own, in a closed loop with the swing equation (with and without the VPP), or on a
replayed recording (open loop). Writes ``summary.json``, ``timeline.csv`` and the trace;
when sites sold capacity (``grid.response[i].sold``), their delivery is settled
(``runs/modes/grid_event/delivery.py``) and ``delivery.csv`` written.

The scenario's sites become frequency-responsive sites: a site's first battery backs its
service, its loads (``load``, ``curtailable-load``) at the first step are its sheddable
load, its PV and wind output at the first step is what over-frequency curtailment acts
on. ``grid.response`` gives each site its rules (preset names or specs).
"""

from __future__ import annotations

import csv
import fnmatch
import json
import logging
import math
from datetime import datetime, timedelta
from pathlib import Path

from vpp.agents.frequency.grid import ReplaySource, SwingSource, TimelineRow
from vpp.agents.frequency.site import DeferredBookkeeping, FrequencySiteAgent
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.physics.frequency import GridParams, LossOfInfeed
from vpp.runs.fleet.devices import (
    BatterySpec,
    CurtailableLoadSpec,
    LoadSpec,
    PVSpec,
    WindSpec,
    build_device,
)
from vpp.runs.modes.grid_event.delivery import settle, sold_sites
from vpp.runs.modes.grid_event.rig import AGGREGATOR_ADDRESS, GRID_ADDRESS, FrequencyRig
from vpp.runs.scenario import Scenario, ScenarioError, resolve, step_times
from vpp.runs.scenario.data_files import check_size
from vpp.runs.scenario.grid import GridSpec, ReplaySpec

log = logging.getLogger(__name__)


def _first(value: float | list[float]) -> float:
    return float(value if isinstance(value, (int, float)) else value[0])


def build_sites(scenario: Scenario, where: str = "<scenario>",
                bookkeeping: DeferredBookkeeping | None = None,
                services: bool = True) -> list[FrequencySiteAgent]:
    """The scenario's sites as frequency-responsive site agents (see the module doc);
    with ``services`` false, without their frequency services (droop, trigger): only the
    grid-code duties (UFLS, over-frequency curtailment) stay.

    Raises:
        ScenarioError: naming the file and the ``$.grid.response[i]`` field at fault.
    """
    grid = scenario.grid
    assert grid is not None
    times = step_times(scenario)[:1]
    dt_h = scenario.dt_h
    out = []
    for spec in scenario.sites:
        names = [spec.name] if spec.count == 1 else [
            f"{spec.name}-{i}" for i in range(1, spec.count + 1)]
        for name in names:
            match = next(((i, g) for i, g in enumerate(grid.response)
                          if any(fnmatch.fnmatchcase(name, p) for p in g.sites)), None)
            if match is None:
                continue
            i, group = match
            at = f"grid.response[{i}]"

            def fail(field: str, msg: str, at: str = at) -> None:
                raise ScenarioError(f"{where}: {msg} - at `$.{at}.{field}`")

            battery = None
            sheddable = renewable = 0.0
            for dev in spec.devices:
                if isinstance(dev, BatterySpec) and battery is None:
                    battery = build_device(dev, times, dt_h).model
                elif isinstance(dev, (LoadSpec, CurtailableLoadSpec)):
                    sheddable += _first(dev.demand_kw)
                elif isinstance(dev, (PVSpec, WindSpec)):
                    model = build_device(dev, times, dt_h).model
                    renewable += float(model.flexibility(1, dt_h).p_max_kw[0])
            kwargs = {}
            try:
                for field, pick in (("service", presets.service), ("shedding", presets.shedding),
                                    ("curtailment", presets.curtailment)):
                    choice = getattr(group, field)
                    if field == "service" and not services:
                        continue
                    if choice is not None:
                        kwargs[field] = pick(choice, grid.f0_hz, field)
            except ValueError as exc:
                fail(str(exc).partition(":")[0], str(exc).partition(": ")[2])
            contracted = group.contracted_kw
            if contracted is None and group.sold is not None:
                contracted = group.sold.mw * 1000.0
            if contracted is None:
                contracted = battery.params.p_discharge_max_kw if battery is not None else 0.0
            if "service" in kwargs and contracted == 0.0:
                fail("contracted_kw", f"site {name!r} has no battery and no contracted_kw for "
                     "its service")
            if "shedding" in kwargs and sheddable == 0.0:
                fail("shedding", f"site {name!r} has no load to shed")
            rule = SiteFrequencyRule(f0_hz=grid.f0_hz, contracted_kw=contracted,
                                     sheddable_kw=sheddable, renewable_kw=renewable, **kwargs)
            out.append(FrequencySiteAgent(name, rule, grid=GRID_ADDRESS,
                                          aggregator=AGGREGATOR_ADDRESS, battery=battery,
                                          bookkeeping=bookkeeping))
    return out


def load_replay(spec: ReplaySpec, path: Path) -> tuple[list[float], list[float], datetime, int]:
    """The recording's (seconds from the window's start, Hz), the start instant and the
    number of rows skipped for want of a frequency.

    Raises:
        ScenarioError: the file cannot be read or lacks a column; the window is empty.
    """
    def parse(text: str | None, field: str, line: int | None = None) -> datetime:
        try:
            return datetime.strptime(text or "", spec.time_format)
        except ValueError:  # its message quotes the text: a file's contents stay out
            raise ScenarioError(
                f"grid.replay.{field}: " + (f"line {line} of {path} is not a time in "
                                            if line is not None else "not a time in ")
                + f"the format {spec.time_format!r} - at `$.grid.replay.{field}`") from None

    start = parse(spec.start, "start") if spec.start else None
    end = parse(spec.end, "end") if spec.end else None
    check_size(path, "grid.replay.csv")
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"grid.replay.csv: cannot read {path} ({exc.strerror})") from None
    rows: list[tuple[datetime, float]] = []
    gaps = 0
    try:
        with handle:
            reader = csv.DictReader(handle)
            for col in (spec.time_column, spec.frequency_column):
                if col not in (reader.fieldnames or []):
                    raise ScenarioError(f"grid.replay: {path} has no column {col!r} - at "
                                        f"`$.grid.replay`")
            for row in reader:
                t = parse(row[spec.time_column], "time_column", reader.line_num)
                if (start is not None and t < start) or (end is not None and t > end):
                    continue
                try:
                    f = float(row[spec.frequency_column])
                except (TypeError, ValueError):
                    f = math.nan
                if not math.isfinite(f):
                    gaps += 1
                    continue
                rows.append((t, f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ScenarioError(f"grid.replay.csv: {path} is not a UTF-8 CSV table "
                            f"({type(exc).__name__}) - at `$.grid.replay.csv`") from None
    if len(rows) < 2:
        raise ScenarioError(f"grid.replay: fewer than two samples in {path} between "
                            f"{spec.start} and {spec.end}")
    t0 = rows[0][0]
    return [(t - t0).total_seconds() for t, _ in rows], [f for _, f in rows], t0, gaps


def grid_params(grid: GridSpec) -> GridParams:
    """The swing equation's parameters of the section."""
    return GridParams(f0_hz=grid.f0_hz, inertia_h_s=grid.inertia_h_s, s_base_mw=grid.s_base_mw,
                      damping_pu=grid.damping_pu, droop_pu=grid.droop_pu,
                      governor_time_constant_s=grid.governor_time_constant_s,
                      events=tuple(LossOfInfeed(e.t_s, e.mw) for e in grid.events))


def metrics(timeline: list[TimelineRow], first_event_s: float | None) -> dict:
    """Nadir, peak, RoCoF and the VPP's answer over one run's timeline."""
    low = min(timeline, key=lambda r: r.f_hz)
    high = max(timeline, key=lambda r: r.f_hz)
    after = next((r for r in timeline if first_event_s is not None and r.t_s > first_event_s),
                 None)
    socs = [r.state_of_charge for r in timeline if r.state_of_charge is not None]
    return {
        "nadir_hz": round(low.f_hz, 5), "nadir_t_s": round(low.t_s, 3),
        "peak_hz": round(high.f_hz, 5),
        "initial_rocof_hz_per_s": None if after is None else round(after.rocof_hz_per_s, 5),
        "max_abs_rocof_hz_per_s": round(max(abs(r.rocof_hz_per_s) for r in timeline), 5),
        "final_hz": round(timeline[-1].f_hz, 5),
        "vpp_peak_mw": round(max(r.vpp_kw for r in timeline) / 1e3, 4),
        "response_peak_mw": round(max(r.response_kw for r in timeline) / 1e3, 4),
        "shed_peak_mw": round(max(r.shed_kw for r in timeline) / 1e3, 4),
        "curtailed_peak_mw": round(max(r.curtailed_kw for r in timeline) / 1e3, 4),
        "min_mean_state_of_charge": round(min(socs), 5) if socs else None,
        "samples": len(timeline),
        "samples_with_missing_sites": sum(1 for r in timeline if r.sites_missing),
    }


def stage_table(reports, start: datetime | None) -> list[dict]:
    """Which stages fired when: per (rule, stage, action), the first time, the frequency
    then, and how many times it happened across the sites."""
    groups: dict[tuple[str, int, str], dict] = {}
    for report in reports.values():
        for c in report.changes:
            g = groups.setdefault((c.kind, c.stage, c.action), {
                "kind": c.kind, "stage": c.stage, "action": c.action,
                "first_t_s": math.inf, "f_hz": None, "count": 0})
            g["count"] += 1
            if c.t_s < g["first_t_s"]:
                g["first_t_s"], g["f_hz"] = round(c.t_s, 3), round(c.f_hz, 4)
    rows = sorted(groups.values(), key=lambda g: (g["first_t_s"], g["kind"], g["stage"]))
    if start is not None:
        for g in rows:
            g["clock"] = (start + timedelta(seconds=g["first_t_s"])).strftime("%H:%M:%S.%f")[:-4]
    return rows


def _write_timeline(path: Path, runs: dict[str, list[TimelineRow]]) -> None:
    fields = ("run", "seq", "t_s", "f_hz", "rocof_hz_per_s", "vpp_kw", "response_kw",
              "shed_kw", "curtailed_kw", "state_of_charge", "sites_missing")
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for label, rows in runs.items():
            for r in rows:
                w.writerow((label, r.seq, r.t_s, r.f_hz, r.rocof_hz_per_s, r.vpp_kw,
                            r.response_kw, r.shed_kw, r.curtailed_kw, r.state_of_charge,
                            r.sites_missing))


def run_event(scenario: Scenario, run_dir: Path, scenario_path: Path | None = None, *,
              watch: bool = False, pace: float | None = None) -> dict:
    """Run the scenario's grid event; write the results into ``run_dir``; return the
    summary (also in ``summary.json``).

    With ``watch``, ``scenario_path`` is hot-reloaded (``docs/operations.md``): a valid
    edit of the response groups' ``service`` or ``contracted_kw`` applies to the event's
    sites (the with-VPP or replay run) from the next frequency sample, an invalid one is
    rejected naming the field, and each is traced by an ops agent on the grid host; the
    summary's ``reload`` key lists them. ``pace``: simulated seconds per wall second
    (None: as fast as it can).

    Raises:
        ScenarioError: the section cannot be built (names the field).
    """
    if watch and scenario_path is None:
        raise ScenarioError("--watch needs the scenario's file")
    grid = scenario.grid
    if grid is None:
        raise ScenarioError(f"{scenario_path}: no grid section - at `$.grid`")
    where = str(scenario_path or "<scenario>")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    sites = build_sites(scenario, where, DeferredBookkeeping())
    summary: dict = {"scenario": scenario.name, "kind": "grid-event", "f0_hz": grid.f0_hz,
                     "sites": len(sites), "sample_period_s": grid.sample_period_s,
                     "messages": 0, "dropped": 0}
    runs: dict[str, list[TimelineRow]] = {}
    start = None
    if grid.replay is not None:
        times, freqs, start, gaps = load_replay(
            grid.replay, resolve(scenario_path, grid.replay.csv, "grid.replay.csv"))
        source = ReplaySource(times, freqs, grid.f0_hz)
        duration = min(grid.duration_s, times[-1] - times[0])
        summary.update(open_loop=True, replay_start=start.isoformat(sep=" "),
                       replay_rows_skipped=gaps, duration_s=duration)
        first_event = None
        labels = [("replay", source, sites)]
    else:
        params = grid_params(grid)
        first_event = min((e.t_s for e in grid.events), default=None)
        duration = grid.duration_s
        lost = sum(e.mw for e in grid.events if e.t_s == first_event)
        summary.update(open_loop=False, duration_s=duration,
                       lost_mw=sum(e.mw for e in grid.events),
                       swing_equation_rocof_hz_per_s=round(params.initial_rocof_hz_per_s(lost), 5))
        labels = [("with-vpp", SwingSource(params), sites)]
        if grid.compare_without_vpp:
            summary["without_vpp_means"] = ("the sites' frequency services off; their grid-code "
                                            "duties (UFLS, over-frequency curtailment) stay")
            labels.append(("without-vpp", SwingSource(params),
                           build_sites(scenario, where, DeferredBookkeeping(), services=False)))
    for label, source, members in labels:
        hosts = (("grid-without-vpp", "sites-without-vpp") if label == "without-vpp"
                 else ("grid", "sites"))
        settling = label != "without-vpp" and bool(sold_sites(scenario))
        rig = FrequencyRig(source, members, sample_period_s=grid.sample_period_s,
                           run_dir=run_dir, event=label, hosts=hosts, record_sites=settling)
        for t in rig.traces:
            t.set_meta(scenario=scenario.name, seed=scenario.seed, kind="grid-event")
        reloader = None
        if watch and label != "without-vpp":
            reloader = _watch(scenario, scenario_path, rig, members)
        try:
            result = rig.run(duration, grid.response_timeout_s, pace=pace,
                             before_sample=None if reloader is None else reloader.before_step)
            if reloader is not None:
                summary.update(reloader.summary())
                summary["reload"]["records"] = [
                    {"version": r.version, "from_sample": r.step, "error": r.error,
                     "applied": [c.path for c in r.applied],
                     "restart": [c.path for c in r.restart],
                     "reload_ms": round(r.reload_ms, 3)} for r in reloader.records]
            final = rig.reports.final
            runs[label] = result.timeline
            summary[label] = {
                **metrics(result.timeline, first_event),
                "late_samples": result.late_samples, "wall_s": round(result.wall_s, 3),
                "sites_reported": len(final),
                "response_kwh": round(sum(r.response_kwh for r in final.values()), 4),
                "shed_kwh": round(sum(r.shed_kwh for r in final.values()), 4),
                "curtailed_kwh": round(sum(r.curtailed_kwh for r in final.values()), 4),
                "stages": stage_table(final, start)}
            if settling:
                metered = {address.partition("/")[2]: series for address, series
                           in rig.grid.site_response_kw.items()}
                summary["settlement"] = settle(scenario, result.timeline, metered, run_dir,
                                               label)
            summary["messages"] += rig.grid_host.stats.sent + rig.site_host.stats.sent
            summary["dropped"] += (rig.grid_host.stats.dropped_total
                                   + rig.site_host.stats.dropped_total)
        finally:
            if reloader is not None:
                reloader.close()
            rig.close()
    if "with-vpp" in summary and "without-vpp" in summary:
        summary["nadir_gain_hz"] = round(summary["with-vpp"]["nadir_hz"]
                                         - summary["without-vpp"]["nadir_hz"], 5)
    _write_timeline(run_dir / "timeline.csv", runs)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _watch(scenario: Scenario, scenario_path: Path, rig: FrequencyRig,
           sites: list[FrequencySiteAgent]):
    """A reloader of ``scenario_path`` applying to ``sites``, announcing on ``rig``'s grid
    host (so every reload is in the trace)."""
    from vpp.agents.ops.agent import OpsAgent
    from vpp.runs.ops.appliers import FrequencyApplier
    from vpp.runs.ops.reload import ScenarioReloader

    ops = rig.grid_host.add(OpsAgent())
    return ScenarioReloader(scenario_path, scenario, FrequencyApplier(sites), ops=ops)


def run_grid(scenario: Scenario, run_dir: Path, scenario_path: Path | None = None, *,
             watch: bool = False, pace: float | None = None) -> dict:
    """Run a scenario's ``grid:`` section: its frequency event (unless it only has a
    ``voltage`` part: no ``events`` and no ``replay``) and its Volt-VAR study; return the
    summary (also in ``summary.json``, the study under ``voltage``). ``watch`` and
    ``pace``: see :func:`run_event` (the frequency event only).

    Raises:
        ScenarioError: the section cannot be built (names the field).
    """
    grid = scenario.grid
    if grid is None:
        raise ScenarioError(f"{scenario_path}: no grid section - at `$.grid`")
    if grid.voltage is None or grid.events or grid.replay is not None:
        summary = run_event(scenario, run_dir, scenario_path, watch=watch, pace=pace)
    else:
        if watch:
            raise ScenarioError(f"{scenario_path}: --watch applies to a frequency event "
                                "(grid.events or grid.replay), not to a Volt-VAR study - "
                                "at `$.grid`")
        summary = {"scenario": scenario.name, "kind": "volt-var"}
    if grid.voltage is not None:
        from vpp.runs.modes.volt_var import run_voltage_day

        summary["voltage"] = run_voltage_day(scenario, Path(run_dir), scenario_path)
        (Path(run_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n",
                                                    encoding="utf-8")
    return summary
