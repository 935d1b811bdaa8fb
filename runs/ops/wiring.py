"""Operations around a run, as the CLI asks for them: metrics endpoint, alerts file, hot
reload. One place, so that ``vpp run`` and ``vpp aggregator`` wire them alike."""

from __future__ import annotations

from pathlib import Path

from vpp.agents.ops.agent import OpsAgent
from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs.modes.base import phase_deadline_ms
from vpp.runs.ops.alerting import AlertMonitor, AlertsApplier, AlertsError, load_alerts
from vpp.runs.ops.appliers import Applier
from vpp.runs.ops.reload import ScenarioReloader
from vpp.runs.scenario import Scenario


class AggregatorApplier(Applier):
    """Live fields of a distributed aggregator: targets, reserve and the negotiation's
    deadline and rounds (a site's own fields live in its process: they need a restart
    of that process). Once an edit is applied, a site process must hold the edited file
    to join or rejoin (it reads the file when it starts)."""

    def __init__(self, run, scenario_path: Path | None) -> None:
        super().__init__()
        self.run = run
        from vpp.runs.scenario import reserve_series, target_series

        agg = run.aggregator
        self.rules = [
            ("$.description", lambda c, s: None),
            ("$.target", lambda c, s: setattr(run, "targets", target_series(s, scenario_path))),
            ("$.reserve_kw", lambda c, s: setattr(run, "reserves", reserve_series(s))),
            ("$.negotiation.deadline_ms",
             lambda c, s: setattr(agg, "deadline_ms",
                                  phase_deadline_ms(s.negotiation.deadline_ms, run.fleet))),
            ("$.negotiation.max_rounds",
             lambda c, s: setattr(agg, "max_rounds", s.negotiation.max_rounds)),
        ]

    def apply(self, changes, scenario: Scenario) -> None:
        """Apply the live changes; from now on the edited file is the one sites join with."""
        from vpp.runs.placement.remote import scenario_digest

        super().apply(changes, scenario)
        self.run.fleet.coordinator.scenario_digest = scenario_digest(scenario)


def attach(host, metrics: OpsMetrics, *, alerts: Path | None, watch: Path | None,
           running: Scenario | None, applier: Applier | None, host_name: str,
           unit: str = "step", early: tuple[OpsAgent, AlertMonitor | None] | None = None):
    """The ops agent (on ``host``), an alert monitor (when ``alerts`` names a file) and a
    reloader (when ``watch`` names the scenario file: then the alerts file is watched
    too, and its reloader is the monitor's ``reloader``); (None, None, None) when neither
    is asked for. ``unit``: what the run calls a step (the reloads' records name it).
    ``early``: the ops agent and monitor attached already (while a fleet waited for its
    sites, :func:`attach_alerts`): they are kept, only the reloaders are added.
    Raises :class:`~runs.ops.alerting.AlertsError` for a bad alerts file."""
    reloader = None
    if alerts is None and watch is None:
        return None, None, None
    ops, monitor = early if early is not None else attach_alerts(host, metrics, alerts,
                                                                  host_name)
    if monitor is not None and watch is not None:
        monitor.reloader = ScenarioReloader(
            alerts, monitor.spec, AlertsApplier(monitor), ops=ops, loader=load_alerts,
            errors=(AlertsError,))
    if watch is not None:
        assert running is not None and applier is not None
        reloader = ScenarioReloader(watch, running, applier, ops=ops, unit=unit)
    return ops, monitor, reloader


def attach_alerts(host, metrics: OpsMetrics, alerts: Path | None,
                  host_name: str) -> tuple[OpsAgent, AlertMonitor | None]:
    """An ops agent on ``host`` and, when ``alerts`` names a file, its alert monitor (not
    started). Raises :class:`~runs.ops.alerting.AlertsError` for a bad alerts file."""
    spec = load_alerts(alerts) if alerts is not None else None
    ops = host.add(OpsAgent())
    monitor = AlertMonitor(spec, metrics, ops=ops, host=host_name) if spec is not None else None
    return ops, monitor
