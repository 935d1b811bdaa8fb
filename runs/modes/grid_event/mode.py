"""The grid-event mode (``grid.events`` or ``grid.replay``): a grid agent publishes the
frequency sample by sample and every site answers on its own, in a closed loop with the
swing equation (with and without the VPP) or on a replayed recording; what sites sold is
settled at the end. ``docs/protocols/frequency.md``.

A step is one frequency sample; the with-VPP and without-VPP runs are stepped together.
With a ``grid.voltage`` part as well, its Volt-VAR study runs over the scenario's steps once
the event has ended, and is added under ``voltage`` (``docs/protocols/voltage.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from vpp.runs.modes.base import Fail, Mode, Report, RunContext, StepRecord
from vpp.runs.modes.grid_event.event import GridEvent
from vpp.runs.scenario import Scenario

_COLUMNS = ("f_hz", "rocof_hz_per_s", "vpp_kw", "response_kw", "shed_kw", "curtailed_kw",
            "state_of_charge", "sites_missing")


class GridEventMode(Mode):
    """A frequency event: local rule-based response in a closed loop, or on a recording."""

    name = "grid_event"
    title = "a grid frequency event, with and without the VPP (or replayed)"
    live_edits = True
    step_unit = "sample"

    def applies(self, scenario: Any) -> bool:
        """A scenario whose ``grid`` section has ``events`` or a ``replay``."""
        if not isinstance(scenario, Scenario) or scenario.grid is None:
            return False
        return bool(scenario.grid.events) or scenario.grid.replay is not None

    def check(self, scenario: Scenario, fail: Fail) -> None:
        """A Volt-VAR part beside the event: the sites it places on the feeder."""
        if scenario.grid.voltage is not None:
            from vpp.runs.modes.volt_var.study import check_voltage

            check_voltage(scenario, fail)

    def placement_problem(self, scenario: Scenario, placement: str) -> str | None:
        """A grid event runs in one process (the message names the field)."""
        if placement != "local":
            return "$.grid: a grid event runs in one process; run it without --processes"
        return None

    def build(self, scenario: Scenario, context: RunContext) -> GridEventRun:
        """The rigs (grid and site hosts) of each run of the event."""
        return GridEventRun(scenario, context)

    def report(self, summary: Mapping[str, Any]) -> Report:
        """Nadir and RoCoF with and without the VPP, the stages fired, the settlement."""
        from vpp.runs.modes.grid_event.report import event_report

        out = event_report(summary)
        if "voltage" in summary:
            from vpp.runs.modes.volt_var.report import voltage_report

            out += voltage_report(summary["voltage"])
        return out

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """``frequency.png``: frequency, the VPP's response, state of charge, load shed;
        ``voltage.png`` too when the scenario had a Volt-VAR part."""
        from vpp.runs.plots import plot_frequency, plot_voltage

        figures = [plot_frequency(run_dir)]
        if (run_dir / "voltage.csv").is_file():
            figures.append(plot_voltage(run_dir))
        return figures


class GridEventRun:
    """One grid event, stepped sample by sample by the runner."""

    def __init__(self, scenario: Scenario, context: RunContext) -> None:
        self.scenario = scenario
        self.out_dir = Path(context.out_dir)
        # the study beside the event is built first: a bad bus fails before any socket
        self.voltage = None
        if scenario.grid.voltage is not None:
            from vpp.runs.modes.volt_var.study import VoltVarDay

            self.voltage = VoltVarDay(scenario, context.scenario_path)
        self.event = GridEvent(scenario, context.out_dir, context.scenario_path,
                               pace=context.options.get("pace"),
                               trace=context.options.get("trace"), seed=context.seed)
        self.steps = self.event.samples
        self.hosts = self.event.hosts
        self.sites = self.event.sites
        period = scenario.grid.sample_period_s
        start: datetime = self.event.start or scenario.start
        self._times = [start + timedelta(seconds=k * period) for k in range(self.steps)]

    def step_time(self, k: int):
        """The instant of sample ``k`` (the recording's clock for a replay)."""
        return self._times[k]

    def step(self, k: int) -> StepRecord:
        """Sample ``k`` of every run: frequency, RoCoF and the VPP's answer, by run."""
        rows = self.event.sample(k)
        out: dict[str, Any] = {"t_s": next(iter(rows.values())).t_s}
        for label, row in rows.items():
            prefix = label.replace("-", "_")
            out.update({f"{prefix}_{c}": getattr(row, c) for c in _COLUMNS})
        return StepRecord(out)

    def summary(self) -> dict[str, Any]:
        """Each run's nadir, RoCoF, energies and stages; the settlement; ``timeline.csv``;
        with ``grid.voltage``, the Volt-VAR study over the scenario's steps (``voltage``,
        ``voltage.csv``, ``inverters.csv``)."""
        summary = self.event.finish()
        if self.voltage is not None:
            for k in range(self.scenario.steps):
                self.voltage.step(k)
            self.voltage.write(self.out_dir)
            summary["voltage"] = self.voltage.summary()
        return summary

    @property
    def ops_host(self):
        """The grid host of the run a reload edits (with the VPP, or the replay)."""
        return self.event.live.grid_host

    def register_metrics(self, metrics: Any) -> None:
        """Nothing beyond the hosts' counters."""

    def applier(self, scenario_path: Path) -> Any:
        """Each response group's service and contracted power, from the next sample."""
        from vpp.runs.ops.appliers import FrequencyApplier

        return FrequencyApplier(self.sites)

    def close(self) -> None:
        """Close the rigs."""
        self.event.close()
