"""Operations around a run, as the runner's step hooks: metrics (a Prometheus endpoint
while the run lasts, ``metrics.json`` and a ``metrics`` key in the summary at its end),
hot reload of the scenario file, alert rules. One place, for every mode and placement
(``vpp run``, ``vpp aggregator``): the mode's run says what it can (its metrics, its
applier of live edits), the hooks do the rest."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs.ops.swarm_metrics import STEP_BUCKETS
from vpp.runs.ops.wiring import attach, attach_alerts


class StepMetrics:
    """A step hook: each step's wall seconds into the metrics, and the end-of-run figures
    (per host messages sent, received and dropped; the steps' seconds; process CPU and
    resident memory) into the summary and ``metrics.json``.

    Args:
        metrics: the run's metrics.
        hosts: this process's hosts.
        out_dir: where ``metrics.json`` goes.
    """

    def __init__(self, metrics: OpsMetrics, hosts, out_dir: Path,
                 port: int | None = None) -> None:
        self.metrics = metrics
        self.port = port
        self.hosts = list(hosts)
        self.out_dir = Path(out_dir)
        self.step_seconds = metrics.histogram(
            "vpp_step_negotiation_seconds", "Wall seconds to negotiate and run one step.",
            STEP_BUCKETS)
        self.durations: list[float] = []
        self._t0 = 0.0

    def before_step(self, step: int) -> None:
        """Start the step's clock."""
        self._t0 = time.perf_counter()

    def after_step(self, step: int) -> None:
        """Observe the step's seconds."""
        elapsed = time.perf_counter() - self._t0
        self.durations.append(elapsed)
        self.step_seconds.observe(elapsed)

    def summary(self) -> dict[str, Any]:
        """``{"metrics": ...}`` for the run's summary; ``metrics.json`` written."""
        hosts = {h.name: {"sent": h.stats.sent, "received": h.stats.received,
                          "dropped": h.stats.dropped_total} for h in self.hosts}
        cpu = self.metrics.value("process_cpu_seconds_total")
        rss = self.metrics.value("process_resident_memory_bytes")
        (self.out_dir / "metrics.json").write_text(
            json.dumps(self.metrics.snapshot(), indent=1))
        return {"metrics": {
            "hosts": hosts,
            "step_s_p50": statistics.median(self.durations) if self.durations else None,
            "step_s_max": max(self.durations) if self.durations else None,
            "process_cpu_s": cpu,
            "process_rss_mib": rss / 2**20 if rss is not None else None,
            "metrics_port": self.port,
        }}

    def close(self) -> None:
        """Stop serving the metrics."""
        self.metrics.close()


class OpsError(ValueError):
    """An operation asked for that this run cannot do (names the option)."""


class OpsSession:
    """The ops a command asks for around one run (``--metrics-port``, ``--alerts``,
    ``--watch``), in two phases: :meth:`fleet_listening` while a fleet waits for its sites
    (``vpp aggregator``: ``vpp status`` already shows them waiting, "site lost" already
    fires), then :meth:`hooks` once the mode's run is built. Either phase may come alone.

    Args:
        scenario: the running scenario (the reloader compares edits with it).
        out_dir: the run's directory (``metrics.json``).
        watch: the scenario file to reload live, or None.
        alerts: the alert rules' file, or None.
        metrics_port: serve Prometheus metrics on this port (0: any free one), or None.
        metrics_addr: the address the metrics endpoint binds.
        alerts_between_steps: evaluate the rules on a timer of the aggregator's host too.
        step_unit: what the mode calls a step (:attr:`vpp.runs.modes.base.Mode.step_unit`).
        metrics: the metrics to fill (a new :class:`OpsMetrics` by default).
    """

    def __init__(self, scenario: Any, *, out_dir: Path, watch: Path | None = None,
                 alerts: Path | None = None, metrics_port: int | None = None,
                 metrics_addr: str = "127.0.0.1", alerts_between_steps: bool = False,
                 step_unit: str = "step", metrics: OpsMetrics | None = None) -> None:
        self.scenario = scenario
        self.out_dir = Path(out_dir)
        self.watch = watch
        self.alerts = alerts
        self.metrics_port = metrics_port
        self.metrics_addr = metrics_addr
        self.alerts_between_steps = alerts_between_steps
        self.step_unit = step_unit
        self.metrics = metrics if metrics is not None else OpsMetrics()
        self.port: int | None = None
        """The port the metrics are served on, once served."""
        self._early: tuple[Any, Any] | None = None  # the ops agent and monitor, attached
        self._monitor: Any = None                     # while the fleet waited
        self._started = False
        self._hooked = False

    def fleet_listening(self, fleet: Any) -> None:
        """A fleet listens and waits for its sites: serve its host's and its membership's
        metrics now, and evaluate the alert rules while the sites join."""
        self.metrics.watch_host(fleet.host)
        fleet.register_metrics(self.metrics)
        if self.alerts is not None or self.watch is not None:
            self._early = attach_alerts(fleet.host, self.metrics, self.alerts, fleet.host.name)
            self._monitor = self._early[1]
        self._serve()
        self._start_monitor(fleet.host)

    def hooks(self, run: Any) -> list:
        """The step hooks of a run that was just built: its hosts' and its own metrics
        (served on ``metrics_port`` when asked), a reloader of ``watch`` with the run's
        applier of live edits, alert rules evaluated after each step (and, with
        ``alerts_between_steps``, on a timer of the run's host as well: an aggregator
        waiting for its sites still raises "site lost").

        Raises:
            OpsError: ``--watch`` for a run that cannot apply edits live; a metrics port
                that cannot be bound.
            vpp.runs.ops.alerting.AlertsError: a bad alerts file.
        """
        for host in run.hosts:
            if host not in self.metrics.hosts:
                self.metrics.watch_host(host)
        run.register_metrics(self.metrics)
        applier = None
        if self.watch is not None:
            applier = run.applier(self.watch)
            if applier is None:
                raise OpsError("--watch: hot reload of this mode is not built (run it "
                               "without --watch)")
        host = run.ops_host
        if host is None and (self.watch is not None or self.alerts is not None):
            raise OpsError("--watch and --alerts need a run with agents (this mode has none)")
        _, monitor, reloader = attach(
            host, self.metrics, alerts=self.alerts, watch=self.watch, running=self.scenario,
            applier=applier, host_name=host.name if host is not None else "-",
            unit=self.step_unit, early=self._early)
        self._monitor = monitor
        self._hooked = True
        self._serve()
        self._start_monitor(host)
        return [h for h in (reloader, monitor) if h is not None] + [
            StepMetrics(self.metrics, run.hosts, self.out_dir, self.port)]

    def close(self) -> None:
        """Stop what :meth:`fleet_listening` started when the run never got to its steps'
        hooks (which close it otherwise): the alerts' timer and deliveries, the metrics
        endpoint. Idempotent."""
        if self._monitor is not None and not self._hooked:
            self._monitor.close()
            self._monitor = None
        self.metrics.close()

    def _serve(self) -> None:
        if self.metrics_port is None or self.port is not None:
            return
        try:
            self.port = self.metrics.serve(self.metrics_port, self.metrics_addr)
        except OSError as exc:
            raise OpsError(f"--metrics-port {self.metrics_port}: cannot serve metrics "
                           f"({exc.strerror})") from None

    def _start_monitor(self, host: Any) -> None:
        if self._monitor is not None and self.alerts_between_steps and not self._started:
            self._monitor.start(host)
            self._started = True


def ops_hooks(run, scenario: Any, *, metrics: OpsMetrics, out_dir: Path,
              watch: Path | None = None, alerts: Path | None = None,
              metrics_port: int | None = None, metrics_addr: str = "127.0.0.1",
              alerts_between_steps: bool = False, step_unit: str = "step") -> list:
    """The step hooks of a run that was just built, in one phase (see
    :meth:`OpsSession.hooks`)."""
    return OpsSession(scenario, out_dir=out_dir, watch=watch, alerts=alerts,
                      metrics_port=metrics_port, metrics_addr=metrics_addr,
                      alerts_between_steps=alerts_between_steps, step_unit=step_unit,
                      metrics=metrics).hooks(run)
