"""Volt-VAR over a scenario's steps on a pandapower feeder (``grid.voltage``).

Each site named in ``grid.voltage.sites`` sits at a bus of the feeder
(``physics/feeder.py``). Its PV plants (pvlib on the scenario's weather, ``physics/pv.py``)
and batteries (idle here: no dispatch runs beside the study) make one inverter whose
apparent power is ``s_kva`` (default ``kva_per_kw`` x their AC rating: the PV inverters'
``Paco`` and the batteries' larger power rating); its ``load`` and ``curtailable-load``
devices draw at the same bus. The feeder's own loads follow ``grid.voltage.load``.

Every step runs twice: without Volt-VAR (unity power factor) and with it (each inverter on
its curve within its kVA limit, ``coordination/voltage/support.py``). The run reports per
step the lowest and highest voltage of the monitored buses against the band, and each
inverter's active and reactive power against its kVA rating.
"""

from __future__ import annotations

import csv
import fnmatch
import math
from collections.abc import Callable
from pathlib import Path

import msgspec
from vpp.coordination.voltage.volt_var import VoltVarCurve
from vpp.runs.fleet.devices import build_device
from vpp.runs.scenario import Scenario, ScenarioError, resolve, step_times
from vpp.runs.scenario.devices import BatterySpec, CurtailableLoadSpec, LoadSpec, PVSpec
from vpp.runs.stages import announce

_ON_FEEDER = (PVSpec, BatterySpec, LoadSpec, CurtailableLoadSpec)


def check_voltage(scenario: Scenario, fail: Callable[[str, str], None]) -> None:
    """Scenario checks that need no power flow: the sites exist and carry only devices
    the feeder models (``fail(path, message)`` raises)."""
    voltage = scenario.grid.voltage
    specs = {e.name: e.spec for e in scenario.entries()}
    names = set(specs)
    for site in voltage.sites:
        if site not in names:
            fail(f"grid.voltage.sites.{site}", f"no site named {site!r} in `sites`")
        for dev in specs[site].devices:
            if not isinstance(dev, _ON_FEEDER):
                fail(f"grid.voltage.sites.{site}",
                     f"device {dev.name!r} ({type(dev).__name__}) is not modelled on the "
                     "feeder: pv, battery, load and curtailable-load are")


def _pv_rating_kw(spec: PVSpec) -> float:
    from vpp.physics import pv

    return pv.PVSystemSpec(spec.latitude, spec.longitude, surface_tilt=spec.surface_tilt,
                           surface_azimuth=spec.surface_azimuth,
                           modules_per_string=spec.modules_per_string,
                           strings_per_inverter=spec.strings_per_inverter,
                           inverter_count=spec.inverter_count).ac_rating_kw


class FeederSite(msgspec.Struct, frozen=True):
    """A site on the feeder: its bus, its inverter's rating and, per step, the inverter's
    active power (kW, + out of the inverter) and the site's own load (kW)."""

    name: str
    bus: str
    s_kva: float
    rated_kw: float
    inverter_kw: list[float]
    load_kw: list[float]


def feeder_sites(scenario: Scenario) -> list[FeederSite]:
    """The sites of ``grid.voltage.sites`` with their inverters and loads per step."""
    voltage = scenario.grid.voltage
    times = step_times(scenario)
    dt_h = scenario.dt_h
    specs = {e.name: e.spec for e in scenario.entries()}
    out = []
    for name, bus in voltage.sites.items():
        rated = 0.0
        inverter = [0.0] * len(times)
        load = [0.0] * len(times)
        for dev in specs[name].devices:
            if isinstance(dev, PVSpec):
                rated += _pv_rating_kw(dev)
                model = build_device(dev, times, dt_h).model
                inverter = [p + model.available_at(k * dt_h) for k, p in enumerate(inverter)]
            elif isinstance(dev, BatterySpec):
                rated += max(dev.p_charge_kw, dev.p_discharge_kw)
            elif isinstance(dev, (LoadSpec, CurtailableLoadSpec)):
                model = build_device(dev, times, dt_h).model
                load = [d + model.demand_at(k * dt_h) for k, d in enumerate(load)]
        s_kva = voltage.s_kva.get(name, voltage.kva_per_kw * rated)
        if not s_kva > 0.0:
            raise ScenarioError(f"grid.voltage.sites.{name}: the site has no PV or battery "
                                "inverter (and no s_kva) - at `$.grid.voltage.sites`")
        out.append(FeederSite(name, bus, s_kva, rated, inverter, load))
    return out


def load_scales(scenario: Scenario, scenario_path: Path | None) -> list[float]:
    """The feeder's own loads' scale per step: ``grid.voltage.load`` (the column at the
    steps, interpolated, times ``scale_at_max`` over the column's largest value), or
    ``load_scale`` throughout."""
    voltage = scenario.grid.voltage
    if voltage.load is None:
        return [voltage.load_scale] * scenario.steps
    import numpy as np
    import pandas as pd
    from vpp.runs.scenario.data_files import numeric_column, read_csv, time_column

    spec = voltage.load
    where = resolve(scenario_path, spec.csv, "grid.voltage.load.csv")
    frame = read_csv(where, "grid.voltage.load.csv")
    stamps = time_column(frame, spec.timestamp_column, "grid.voltage.load.timestamp_column",
                         where)
    seconds = (stamps - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy()
    wanted = np.array([t.timestamp() for t in step_times(scenario)])
    if wanted[0] < seconds.min() or wanted[-1] > seconds.max():
        raise ScenarioError(f"grid.voltage.load: {where} covers {stamps.min()} to "
                            f"{stamps.max()}, not the scenario's horizon from "
                            f"{scenario.start} - at `$.grid.voltage.load`")
    values = numeric_column(frame, spec.column, "grid.voltage.load.column", where)
    peak = float(np.nanmax(values))
    if not peak > 0.0:
        raise ScenarioError(f"grid.voltage.load: column {spec.column!r} has no positive "
                            "value - at `$.grid.voltage.load.column`")
    return [float(x) for x in np.interp(wanted, seconds, values) * spec.scale_at_max / peak]


def _band(result, monitor: list[str]) -> tuple[float, float]:
    v = result.bus_vm_pu
    picked = [float(v[b]) for b in v.index if any(fnmatch.fnmatchcase(b, p) for p in monitor)]
    return min(picked), max(picked)


class VoltVarDay:
    """The study, one step at a time: the feeder, the sites' inverters, their curves.

    Args:
        scenario: the validated scenario (with ``grid.voltage``).
        scenario_path: the scenario file, to resolve the load profile it names.

    Raises:
        ScenarioError: a bus, a site or the load profile cannot be used (names the field).
    """

    def __init__(self, scenario: Scenario, scenario_path: Path | None = None) -> None:
        from vpp.physics.feeder import Feeder

        self.voltage = voltage = scenario.grid.voltage
        self.times = step_times(scenario)
        self.sites = feeder_sites(scenario)
        self.scales = load_scales(scenario, scenario_path)
        announce("feeder network (pandapower)")
        try:
            self.feeder = Feeder({s.name: s.bus for s in self.sites}, voltage.network)
        except ValueError as exc:
            raise ScenarioError(f"{scenario_path or '<scenario>'}: {exc} - at "
                                "`$.grid.voltage.sites`") from None
        for bus_pattern in voltage.monitor:
            if not any(fnmatch.fnmatchcase(b, bus_pattern) for b in self.feeder.bus_names):
                raise ScenarioError(f"grid.voltage.monitor: no bus matches {bus_pattern!r} - "
                                    "at `$.grid.voltage.monitor`")
        self.spec = voltage.curve_spec()
        self.curves = {s.name: VoltVarCurve(self.spec, s.s_kva) for s in self.sites}
        self.steps: list[dict] = []
        self.inverter_rows: list[tuple] = []

    def step(self, k: int) -> dict:
        """Step ``k`` without and with Volt-VAR; return its record (with each inverter's)."""
        from vpp.coordination.voltage.support import solve_volt_var

        voltage, sites, t, scale = self.voltage, self.sites, self.times[k], self.scales[k]
        low, high = voltage.band_pu
        self.feeder.set_load_scale(scale)
        p_inv = {s.name: s.inverter_kw[k] for s in sites}
        p_net = {s.name: s.inverter_kw[k] - s.load_kw[k] for s in sites}
        try:
            without = self.feeder.voltages({n: (p, 0.0) for n, p in p_net.items()})
            with_vv = solve_volt_var(self.feeder, p_net, self.curves, inverter_p_kw=p_inv)
        except ValueError as exc:
            raise ScenarioError(f"grid.voltage: step {k} ({t.isoformat()}): {exc}") from None
        v0, v1 = _band(without, voltage.monitor), _band(with_vv.feeder, voltage.monitor)
        inverters = {}
        for s in sites:
            q = with_vv.q_kvar[s.name]
            apparent = math.hypot(p_inv[s.name], q)
            inverters[s.name] = {
                "p_kw": round(p_inv[s.name], 4), "q_kvar": round(q, 4),
                "s_kva": round(s.s_kva, 4), "apparent_kva": round(apparent, 4),
                "kva_limited": with_vv.kva_limited[s.name],
                "v_pu_without": round(without.site_vm_pu[s.name], 5),
                "v_pu_with": round(with_vv.feeder.site_vm_pu[s.name], 5)}
            self.inverter_rows.append((k, t.isoformat(), s.name, *inverters[s.name].values()))
        record = {
            "step": k, "time": t.isoformat(), "load_scale": round(scale, 4),
            "pv_kw": round(sum(p_inv.values()), 3),
            "load_kw": round(sum(s.load_kw[k] for s in sites), 3),
            "without": {"min_vm_pu": round(v0[0], 5), "max_vm_pu": round(v0[1], 5),
                        "in_band": low <= v0[0] and v0[1] <= high},
            "with": {"min_vm_pu": round(v1[0], 5), "max_vm_pu": round(v1[1], 5),
                     "in_band": low <= v1[0] and v1[1] <= high},
            "q_kvar": round(sum(with_vv.q_kvar.values()), 3),
            "iterations": with_vv.iterations, "converged": with_vv.converged,
            "inverters": inverters}
        self.steps.append(record)
        return record

    def summary(self) -> dict:
        """The ``voltage`` part of the summary, over the steps run."""
        voltage, spec, steps = self.voltage, self.spec, self.steps
        low, high = voltage.band_pu
        return {
            "network": voltage.network,
            "curve": {"v_pu": list(spec.v_pu), "q_fraction": list(spec.q_fraction)},
            "curve_name": voltage.curve if isinstance(voltage.curve, str) else "custom",
            "band_pu": [low, high], "monitor": voltage.monitor,
            "sites": {s.name: {"bus": s.bus, "rated_kw": round(s.rated_kw, 3),
                               "s_kva": round(s.s_kva, 3)} for s in self.sites},
            "steps_out_of_band_without": sum(1 for s in steps if not s["without"]["in_band"]),
            "steps_out_of_band_with": sum(1 for s in steps if not s["with"]["in_band"]),
            "max_vm_pu_without": max(s["without"]["max_vm_pu"] for s in steps),
            "max_vm_pu_with": max(s["with"]["max_vm_pu"] for s in steps),
            "min_vm_pu_without": min(s["without"]["min_vm_pu"] for s in steps),
            "min_vm_pu_with": min(s["with"]["min_vm_pu"] for s in steps),
            "max_kva_use": round(max(i["apparent_kva"] / i["s_kva"] for s in steps
                                     for i in s["inverters"].values()), 5),
            "all_converged": all(s["converged"] for s in steps),
            "steps": steps}

    def write(self, run_dir: Path) -> None:
        """Write ``voltage.csv`` and ``inverters.csv`` into ``run_dir``."""
        _write_csvs(Path(run_dir), self.steps, self.inverter_rows)


def _write_csvs(run_dir: Path, steps: list[dict], inverter_rows: list[tuple]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "voltage.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("step", "time", "load_scale", "pv_kw", "load_kw", "min_vm_pu_without",
                    "max_vm_pu_without", "min_vm_pu_with", "max_vm_pu_with", "q_kvar",
                    "iterations", "converged"))
        for s in steps:
            w.writerow((s["step"], s["time"], s["load_scale"], s["pv_kw"], s["load_kw"],
                        s["without"]["min_vm_pu"], s["without"]["max_vm_pu"],
                        s["with"]["min_vm_pu"], s["with"]["max_vm_pu"], s["q_kvar"],
                        s["iterations"], s["converged"]))
    with (run_dir / "inverters.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("step", "time", "site", "p_kw", "q_kvar", "s_kva", "apparent_kva",
                    "kva_limited", "v_pu_without", "v_pu_with"))
        w.writerows(inverter_rows)
