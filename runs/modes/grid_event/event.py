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
import logging
import math
from datetime import datetime, timedelta
from pathlib import Path

from vpp.agents.frequency.grid import (
    ReplaySource,
    SimulatedDrive,
    SwingSource,
    TimelineRow,
)
from vpp.agents.frequency.site import DeferredBookkeeping, FrequencySiteAgent
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.physics.frequency import GridParams, LossOfInfeed
from vpp.runs.fleet.devices import build_device
from vpp.runs.modes.grid_event.delivery import settle, sold_sites
from vpp.runs.modes.grid_event.rig import AGGREGATOR_ADDRESS, GRID_ADDRESS, FrequencyRig
from vpp.runs.scenario import Scenario, ScenarioError, resolve, step_times
from vpp.runs.scenario.data_files import check_size
from vpp.runs.scenario.devices import (
    BatterySpec,
    CurtailableLoadSpec,
    LoadSpec,
    PVSpec,
    WindSpec,
)
from vpp.runs.scenario.grid import GridSpec, ReplaySpec
from vpp.runs.stages import announce

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
    for entry in scenario.entries():
        name, spec = entry.name, entry.spec
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


class GridEvent:
    """A scenario's grid event, one frequency sample at a time: the with-VPP and
    without-VPP runs (or the replay) stepped together, each its own rig of hosts.

    Args:
        scenario: the validated scenario (with ``grid.events`` or ``grid.replay``).
        run_dir: the run's directory (the rigs' trace shards, ``timeline.csv``,
            ``delivery.csv``).
        scenario_path: the scenario file, to resolve the recording it names.
        pace: simulated seconds per wall second (None: as fast as it can).
        trace, seed: the run's trace level (None: full) and seed (the sample's, for
            ``sample:N``).

    Raises:
        ScenarioError: the section cannot be built (names the field).
    """

    def __init__(self, scenario: Scenario, run_dir: Path, scenario_path: Path | None = None,
                 *, pace: float | None = None, trace: str | None = None,
                 seed: int | None = None) -> None:
        grid = scenario.grid
        if grid is None:
            raise ScenarioError(f"{scenario_path}: no grid section - at `$.grid`")
        self.scenario = scenario
        self.run_dir = Path(run_dir)
        where = str(scenario_path or "<scenario>")
        announce("building the sites")
        self.sites = build_sites(scenario, where, DeferredBookkeeping())
        self.summary: dict = {"scenario": scenario.name, "kind": "grid-event",
                              "f0_hz": grid.f0_hz, "sites": len(self.sites),
                              "sample_period_s": grid.sample_period_s,
                              "messages": 0, "dropped": 0}
        self.start: datetime | None = None
        if grid.replay is not None:
            times, freqs, self.start, gaps = load_replay(
                grid.replay, resolve(scenario_path, grid.replay.csv, "grid.replay.csv"))
            source = ReplaySource(times, freqs, grid.f0_hz)
            duration = min(grid.duration_s, times[-1] - times[0])
            self.summary.update(open_loop=True, replay_start=self.start.isoformat(sep=" "),
                                replay_rows_skipped=gaps, duration_s=duration)
            self.first_event = None
            labels = [("replay", source, self.sites)]
        else:
            params = grid_params(grid)
            self.first_event = min((e.t_s for e in grid.events), default=None)
            duration = grid.duration_s
            lost = sum(e.mw for e in grid.events if e.t_s == self.first_event)
            self.summary.update(
                open_loop=False, duration_s=duration, lost_mw=sum(e.mw for e in grid.events),
                swing_equation_rocof_hz_per_s=round(params.initial_rocof_hz_per_s(lost), 5))
            labels = [("with-vpp", SwingSource(params), self.sites)]
            if grid.compare_without_vpp:
                self.summary["without_vpp_means"] = (
                    "the sites' frequency services off; their grid-code duties (UFLS, "
                    "over-frequency curtailment) stay")
                announce("building the sites without the VPP's services")
                labels.append(("without-vpp", SwingSource(params),
                               build_sites(scenario, where, DeferredBookkeeping(),
                                           services=False)))
        self.rigs: dict[str, FrequencyRig] = {}
        self.drives: dict[str, SimulatedDrive] = {}
        self.settling = bool(sold_sites(scenario))
        announce("starting agents")
        try:
            for label, source, members in labels:
                hosts = (("grid-without-vpp", "sites-without-vpp") if label == "without-vpp"
                         else ("grid", "sites"))
                rig = FrequencyRig(source, members, sample_period_s=grid.sample_period_s,
                                   run_dir=self.run_dir, event=label, hosts=hosts,
                                   record_sites=self.settling and label != "without-vpp")
                self.rigs[label] = rig
                for tr in rig.traces:
                    tr.set_meta(scenario=scenario.name, seed=scenario.seed, kind="grid-event")
                    if trace is not None:
                        tr.set_level(trace, scenario.site_names(),
                                     scenario.seed if seed is None else seed)
                self.drives[label] = SimulatedDrive(
                    rig.loop, rig.grid, rig.clock, duration,
                    response_timeout_s=grid.response_timeout_s, reports=rig.reports,
                    pace=pace)
        except BaseException:
            self.close()
            raise
        self.samples = min(d.samples for d in self.drives.values())
        self.hosts = [h for rig in self.rigs.values() for h in (rig.grid_host, rig.site_host)]

    @property
    def live(self) -> FrequencyRig:
        """The rig whose sites a hot reload edits (with the VPP, or the replay)."""
        return self.rigs.get("with-vpp") or self.rigs["replay"]

    def sample(self, k: int) -> dict[str, TimelineRow]:
        """Sample ``k`` of every run; its timeline row by run."""
        return {label: drive.sample(k) for label, drive in self.drives.items()}

    def finish(self) -> dict:
        """Close the event, settle what was sold, write ``timeline.csv``; the summary."""
        summary, runs = self.summary, {}
        for label, drive in self.drives.items():
            result = drive.finish()
            rig = self.rigs[label]
            final = rig.reports.final
            runs[label] = result.timeline
            summary[label] = {
                **metrics(result.timeline, self.first_event),
                "late_samples": result.late_samples, "wall_s": round(result.wall_s, 3),
                "sites_reported": len(final),
                "response_kwh": round(sum(r.response_kwh for r in final.values()), 4),
                "shed_kwh": round(sum(r.shed_kwh for r in final.values()), 4),
                "curtailed_kwh": round(sum(r.curtailed_kwh for r in final.values()), 4),
                "stages": stage_table(final, self.start)}
            if self.settling and label != "without-vpp":
                metered = {address.partition("/")[2]: series for address, series
                           in rig.grid.site_response_kw.items()}
                summary["settlement"] = settle(self.scenario, result.timeline, metered,
                                               self.run_dir, label)
            summary["messages"] += rig.grid_host.stats.sent + rig.site_host.stats.sent
            summary["dropped"] += (rig.grid_host.stats.dropped_total
                                   + rig.site_host.stats.dropped_total)
        if "with-vpp" in summary and "without-vpp" in summary:
            summary["nadir_gain_hz"] = round(summary["with-vpp"]["nadir_hz"]
                                             - summary["without-vpp"]["nadir_hz"], 5)
        _write_timeline(self.run_dir / "timeline.csv", runs)
        return summary

    def close(self) -> None:
        """Close every rig (idempotent)."""
        rigs, self.rigs = getattr(self, "rigs", {}), {}
        for rig in rigs.values():
            rig.close()
