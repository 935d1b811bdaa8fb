"""A live run: a local swarm stepped with its operations around it.

Each step :class:`LiveRun` applies a validated reload that is waiting (so an edit takes
effect from the next step), steps the model, times the step's negotiation into the
metrics and evaluates the alert rules. The metrics are served on a Prometheus endpoint
when a port is given, and summarized at the end of the run (``metrics.json`` and a
``metrics`` key in ``summary.json``).
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol

from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs.ops.swarm_metrics import STEP_BUCKETS, swarm_metrics

log = logging.getLogger(__name__)


class StepHook(Protocol):
    """Something a live run calls around each step (a reloader, alert rules)."""

    def before_step(self, step: int) -> None:
        """Called before step ``step`` is negotiated."""
        ...

    def after_step(self, step: int) -> None:
        """Called once step ``step`` has run."""
        ...


class LiveRun:
    """Steps ``model`` (a :class:`~runs.swarm.SwarmModel` or an ADMM swarm) with metrics
    and the given hooks.

    Args:
        model: the swarm.
        metrics: where to register (a new :class:`OpsMetrics` when None).
        metrics_port: serve ``/metrics`` on this port (0: any free port; None: no server).
        metrics_addr: the address to serve on (loopback by default).
        hooks: called before and after every step, in order.
    """

    def __init__(self, model, *, metrics: OpsMetrics | None = None,
                 metrics_port: int | None = None, metrics_addr: str = "127.0.0.1",
                 hooks: list[StepHook] | None = None) -> None:
        self.model = model
        self.metrics = swarm_metrics(model, metrics)
        self.step_seconds = self.metrics.histogram(
            "vpp_step_negotiation_seconds", "Wall seconds to negotiate and run one step.",
            STEP_BUCKETS)
        self.durations: list[float] = []
        self.hooks = list(hooks or [])
        self.metrics_port = (self.metrics.serve(metrics_port, metrics_addr)
                             if metrics_port is not None else None)

    def step(self) -> None:
        """Apply what the hooks have waiting, run one step, then let them look at it."""
        k = self.model.step_index
        for hook in self.hooks:
            hook.before_step(k)
        t0 = time.perf_counter()
        self.model.step()
        elapsed = time.perf_counter() - t0
        self.durations.append(elapsed)
        self.step_seconds.observe(elapsed)
        for hook in self.hooks:
            hook.after_step(k)

    def run(self, progress: Callable[[int], None] | None = None) -> dict:
        """Run every remaining step; write the results and the metrics; return the summary."""
        t0 = time.perf_counter()
        while not self.model.finished:
            self.step()
            if progress is not None:
                progress(self.model.step_index)
        summary = self.model.summary(wall_s=time.perf_counter() - t0)
        summary["metrics"] = self.metrics_summary()
        for hook in self.hooks:
            part = getattr(hook, "summary", None)
            if part is not None:
                summary.update(part())
        self.model.write_results(summary)
        out = self.model.out_dir / "metrics.json"
        out.write_text(json.dumps(self.metrics.snapshot(), indent=1))
        return summary

    def metrics_summary(self) -> dict[str, Any]:
        """The end-of-run figures: per host messages sent, received and dropped; the
        steps' negotiation seconds (p50, max); process CPU seconds and resident memory."""
        hosts = {h.name: {"sent": h.stats.sent, "received": h.stats.received,
                          "dropped": h.stats.dropped_total} for h in self.metrics.hosts}
        cpu = self.metrics.value("process_cpu_seconds_total")
        rss = self.metrics.value("process_resident_memory_bytes")
        return {
            "hosts": hosts,
            "step_s_p50": statistics.median(self.durations) if self.durations else None,
            "step_s_max": max(self.durations) if self.durations else None,
            "process_cpu_s": cpu,
            "process_rss_mib": rss / 2**20 if rss is not None else None,
            "metrics_port": self.metrics_port,
        }

    def close(self) -> None:
        """Stop serving the metrics and close every hook that can be closed."""
        for hook in self.hooks:
            close = getattr(hook, "close", None)
            if close is not None:
                close()
        self.metrics.close()
