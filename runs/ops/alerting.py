"""Alerts of a live run: rules from a YAML file, evaluated on the run's thread, logged,
put on the bus (hence traced) and delivered to a webhook or a command off-thread."""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import msgspec
from vpp.agents.ops.agent import OpsAgent
from vpp.agents.ops.alerts import AlertEngine, AlertsSpec
from vpp.agents.ops.messages import AlertCleared, AlertRaised
from vpp.agents.ops.metrics import OpsMetrics

log = logging.getLogger(__name__)


class AlertsError(ValueError):
    """An alerts file that cannot be used; the message names the file and the field."""


def load_alerts(path: Path | str, content: bytes | None = None) -> AlertsSpec:
    """Read (or take ``content``) and validate an alerts file (errors name the file and
    ``$.path``)."""
    from vpp.runs.scenario.limits import LimitsError
    from vpp.runs.scenario.yaml_bounds import YamlError, read_yaml

    path = Path(path)
    try:  # bounded like a scenario: size, nodes with aliases expanded, depth
        data = read_yaml(path, content)
    except (YamlError, LimitsError) as exc:
        raise AlertsError(str(exc)) from None
    try:
        spec = msgspec.convert(data, AlertsSpec, strict=False)
    except msgspec.ValidationError as exc:
        raise AlertsError(f"{path}: {exc}") from None
    names = [r.name for r in spec.rules]
    if len(set(names)) != len(names):
        raise AlertsError(f"{path}: rule names must be unique, got {names} - at `$.rules`")
    if spec.webhook is not None and not spec.webhook.startswith(("http://", "https://")):
        raise AlertsError(f"{path}: Expected an http(s) URL - at `$.webhook`")
    return spec


def payload(alert: AlertRaised | AlertCleared, host: str) -> dict:
    """The JSON delivered: status (``firing`` or ``resolved``), the alert's fields, the
    host that raised it and the time (UTC, ISO 8601)."""
    status = "firing" if isinstance(alert, AlertRaised) else "resolved"
    return {"status": status, "host": host,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **msgspec.to_builtins(alert)}


class AlertDelivery:
    """Delivers alerts from a daemon thread so the run never waits on a slow receiver.

    Args:
        webhook: a URL to POST each alert to as JSON (None: no webhook).
        command: an argv run for each alert with its JSON on standard input (None: none).
        timeout_s: the longest one delivery may take.
    """

    def __init__(self, webhook: str | None, command: list[str] | None,
                 timeout_s: float = 5.0) -> None:
        self.webhook = webhook
        self.command = command
        self.timeout_s = timeout_s
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="alert-delivery", daemon=True)
        self._thread.start()

    def deliver(self, body: dict) -> None:
        """Queue one alert's payload."""
        self._queue.put(body)

    def _work(self) -> None:
        while (body := self._queue.get()) is not None:
            data = json.dumps(body).encode()
            if self.webhook is not None:
                self._post(data)
            if self.command is not None:
                self._run(data)
            self._queue.task_done()
        self._queue.task_done()

    def _post(self, data: bytes) -> None:
        request = urllib.request.Request(self.webhook, data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                resp.read()
            self.delivered += 1
        except (urllib.error.URLError, OSError) as exc:
            self.failed += 1
            log.error("alert not delivered to %s: %s", self.webhook, exc)

    def _run(self, data: bytes) -> None:
        try:
            done = subprocess.run(self.command, input=data, timeout=self.timeout_s,
                                  capture_output=True, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.failed += 1
            log.error("alert command %s failed: %s", self.command, exc)
            return
        if done.returncode != 0:
            self.failed += 1
            log.error("alert command %s exited %d: %s", self.command, done.returncode,
                      done.stderr.decode(errors="replace").strip())
        else:
            self.delivered += 1

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued alert was delivered or failed (True) or time ran out."""
        end = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < end:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self) -> None:
        """Deliver what is queued, then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=self.timeout_s + 1.0)


class AlertMonitor:
    """Evaluates the rules over a run's metrics after every step and, with
    :meth:`start`, every ``evaluate_every_s`` from a host timer (so that a lost site is
    seen between steps, on the run's own thread).

    Args:
        spec: the rules and the receivers.
        metrics: the run's metrics.
        ops: announces each alert on the bus (so it is traced); None: log only.
        host: the host named in the delivered alerts.
        clock: seconds for hold times (monotonic wall time by default).
    """

    def __init__(self, spec: AlertsSpec, metrics: OpsMetrics, *, ops: OpsAgent | None = None,
                 host: str = "-", clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.metrics = metrics
        self.ops = ops
        self.host = host
        self.clock = clock
        self.engine = AlertEngine(spec.rules)
        self.delivery = (AlertDelivery(spec.webhook, spec.command)
                         if spec.webhook or spec.command else None)
        self.history: list[AlertRaised | AlertCleared] = []
        self.reloader = None
        """Watches the alerts file (a :class:`~runs.ops.reload.ScenarioReloader`), if any."""
        self._timer = None
        metrics.gauge("vpp_alerts_firing", "Alerts firing now, by rule.", ("rule",),
                      self._firing)

    def set_spec(self, spec: AlertsSpec) -> None:
        """Use new rules and receivers from now on (a live reload): alerts of rules that
        changed or went away clear (and are delivered as resolved)."""
        old = self.spec
        self.spec = spec
        cleared = self.engine.set_rules(spec.rules)
        if (spec.webhook, spec.command) != (old.webhook, old.command):
            previous = self.delivery
            self.delivery = (AlertDelivery(spec.webhook, spec.command)
                             if spec.webhook or spec.command else None)
            for alert in cleared:  # the resolutions go where the alerts went
                if previous is not None:
                    previous.deliver(payload(alert, self.host))
                self.history.append(alert)
                if self.ops is not None:
                    self.ops.announce(alert)
            if previous is not None:
                previous.close()
            return
        for alert in cleared:
            self._emit(alert)

    def _firing(self):
        counts: dict[str, int] = {r.name: 0 for r in self.engine.rules}
        for rule, _ in self.engine.firing:
            counts[rule] = counts.get(rule, 0) + 1
        return [((k,), v) for k, v in counts.items()]

    def evaluate(self) -> list[AlertRaised | AlertCleared]:
        """Evaluate every rule now; log, announce and deliver what was raised or cleared."""
        table = self.metrics.sample_table()
        alerts = self.engine.evaluate(lambda name: table.get(name, ()), self.clock())
        for alert in alerts:
            self._emit(alert)
        return alerts

    def _emit(self, alert: AlertRaised | AlertCleared) -> None:
        self.history.append(alert)
        if isinstance(alert, AlertRaised):
            log.warning("alert %s raised for %s: %s (value %g)", alert.rule, alert.subject,
                        alert.message, alert.value)
        else:
            log.warning("alert %s cleared for %s", alert.rule, alert.subject)
        if self.ops is not None:
            self.ops.announce(alert)
        if self.delivery is not None:
            self.delivery.deliver(payload(alert, self.host))

    def start(self, host) -> None:
        """Evaluate every ``evaluate_every_s`` from a timer of ``host`` (the run's loop)."""
        def tick() -> None:
            self.evaluate()
            self._timer = host.call_later(self.spec.evaluate_every_s, tick)

        self._timer = host.call_later(self.spec.evaluate_every_s, tick)

    def before_step(self, step: int) -> None:
        """Apply an edit of the alerts file that is waiting (when it is watched)."""
        if self.reloader is not None:
            self.reloader.before_step(step)

    def after_step(self, step: int) -> None:
        """Evaluate after each step."""
        self.evaluate()

    def summary(self) -> dict:
        """For the run's summary: alerts raised and cleared, firing at the end, deliveries
        (waiting up to 5 s for those still on their way)."""
        if self.delivery is not None:
            self.delivery.flush(5.0)
        return {"alerts": {
            "raised": sum(1 for a in self.history if isinstance(a, AlertRaised)),
            "cleared": sum(1 for a in self.history if isinstance(a, AlertCleared)),
            "firing": [f"{r} ({s})" for r, s in self.engine.firing],
            "delivered": self.delivery.delivered if self.delivery else 0,
            "delivery_failed": self.delivery.failed if self.delivery else 0}}

    def close(self) -> None:
        """Stop the timer and the watcher, and deliver what is queued."""
        if self._timer is not None:
            self._timer.cancel()
        if self.reloader is not None:
            self.reloader.close()
        if self.delivery is not None:
            self.delivery.close()


class AlertsApplier:
    """Every field of an alerts file changes live: :meth:`AlertMonitor.set_spec`."""

    def __init__(self, monitor: AlertMonitor) -> None:
        self.monitor = monitor
        self.live_prefixes = ["$"]

    def live(self, change, spec) -> bool:
        """Always: alert rules and receivers are live settings."""
        return True

    def prepare(self, changes, spec: AlertsSpec) -> None:
        """Nothing to prepare."""

    def apply(self, changes, spec: AlertsSpec) -> None:
        """Use ``spec`` from now on."""
        if changes:
            self.monitor.set_spec(spec)
