"""The Volt-VAR mode: ``grid.voltage`` without a frequency event. Each step, the feeder's
power flow without Volt-VAR (unity power factor) and with it (each inverter on its curve
within its kVA limit); ``docs/protocols/voltage.md``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpp.runs.modes.base import Fail, Mode, Report, RunContext, StepRecord
from vpp.runs.modes.volt_var.study import VoltVarDay, check_voltage
from vpp.runs.scenario import Scenario


class VoltVarMode(Mode):
    """A day on a pandapower feeder, each step with and without Volt-VAR."""

    name = "volt_var"
    title = "Volt-VAR on a feeder, each step with and without"

    def applies(self, scenario: Any) -> bool:
        """A scenario whose ``grid`` section has a ``voltage`` part and no frequency event."""
        if not isinstance(scenario, Scenario) or scenario.grid is None:
            return False
        grid = scenario.grid
        return grid.voltage is not None and not grid.events and grid.replay is None

    def check(self, scenario: Scenario, fail: Fail) -> None:
        """The sites placed on the feeder exist and carry only devices it models."""
        check_voltage(scenario, fail)

    def placement_problem(self, scenario: Scenario, placement: str) -> str | None:
        """A Volt-VAR study runs in one process (the message names the field)."""
        if placement != "local":
            return ("$.grid.voltage: a Volt-VAR study runs in one process; run it without "
                    "--processes")
        return None

    def build(self, scenario: Scenario, context: RunContext) -> VoltVarRun:
        """The feeder and the sites' inverters (no agents: a power-flow study)."""
        return VoltVarRun(scenario, context)

    def report(self, summary: Mapping[str, Any]) -> Report:
        """Per step the band with and without Volt-VAR, and the totals."""
        from vpp.runs.modes.volt_var.report import voltage_report

        return voltage_report(summary["voltage"])

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """``voltage.png``: the band with and without, each inverter's kvar."""
        from vpp.runs.plots import plot_voltage

        return [plot_voltage(run_dir)]


class VoltVarRun:
    """The study of one scenario, stepped by the runner."""

    def __init__(self, scenario: Scenario, context: RunContext) -> None:
        self.scenario = scenario
        self.out_dir = Path(context.out_dir)
        self.day = VoltVarDay(scenario, context.scenario_path)
        self.steps = scenario.steps
        self.hosts: list = []
        self.ops_host = None

    def step_time(self, k: int):
        """The start instant (UTC) of step ``k``."""
        return self.day.times[k]

    def step(self, k: int) -> StepRecord:
        """Step ``k`` without and with Volt-VAR: the band, and each inverter's P and Q."""
        s = self.day.step(k)
        row = {"load_scale": s["load_scale"], "pv_kw": s["pv_kw"], "load_kw": s["load_kw"],
               "min_vm_pu_without": s["without"]["min_vm_pu"],
               "max_vm_pu_without": s["without"]["max_vm_pu"],
               "min_vm_pu_with": s["with"]["min_vm_pu"],
               "max_vm_pu_with": s["with"]["max_vm_pu"], "q_kvar": s["q_kvar"],
               "iterations": s["iterations"], "converged": s["converged"]}
        sites = [{"site": name, **inv} for name, inv in s["inverters"].items()]
        return StepRecord(row, sites)

    def summary(self) -> dict[str, Any]:
        """The study's summary (``voltage``), with ``voltage.csv`` and ``inverters.csv``."""
        self.day.write(self.out_dir)
        return {"scenario": self.scenario.name, "kind": "volt-var",
                "voltage": self.day.summary()}

    def register_metrics(self, metrics: Any) -> None:
        """Nothing: a power-flow study has no agents."""

    def applier(self, scenario_path: Path) -> None:
        """None: a study is not reloaded live."""
        return None

    def close(self) -> None:
        """Nothing to release."""
