"""Metrics per host and agent, read when scraped (``docs/operations.md``).

The hot path pays almost nothing: hosts already count frames sent, received and dropped
(:class:`vpp.agents.runtime.limits.HostStats`) and every agent counts the messages it sent and was
handed (``messages_out`` / ``messages_in``). :class:`OpsMetrics` reads those integers,
and whatever a run registers with :meth:`OpsMetrics.gauge` / :meth:`OpsMetrics.counter`
(negotiation rounds, state of charge, positions), only when Prometheus scrapes or the
run ends. It wraps one ``prometheus_client`` registry, which also carries the process's
CPU seconds and resident memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from vpp.agents.runtime.host import Host

log = logging.getLogger(__name__)

Reading = Iterable[tuple[tuple[str, ...], float]]
"""What a source returns: (label values, value) pairs."""


@dataclass(frozen=True)
class Source:
    """A family of samples computed on demand: a gauge or a counter."""

    name: str
    help: str
    labels: tuple[str, ...]
    kind: str
    read: Callable[[], Reading]


class OpsMetrics:
    """One process's metrics: its hosts, their agents, and registered sources.

    Args:
        process: also export the process's CPU seconds and resident memory.
    """

    def __init__(self, *, process: bool = True) -> None:
        self.registry = CollectorRegistry()
        self.hosts: list[Host] = []
        self.sources: list[Source] = []
        self.registry.register(self)
        if process:
            ProcessCollector(registry=self.registry)
        self.server: WSGIServer | None = None

    # -- what is measured --------------------------------------------------------------
    def watch_host(self, host: Host) -> None:
        """Export ``host``'s frame counters and its agents' message counters."""
        self.hosts.append(host)

    def gauge(self, name: str, help: str, labels: Iterable[str],
              read: Callable[[], Reading]) -> None:
        """A gauge family read at scrape time (``read`` returns (labels, value) pairs)."""
        self.sources.append(Source(name, help, tuple(labels), "gauge", read))

    def counter(self, name: str, help: str, labels: Iterable[str],
                read: Callable[[], Reading]) -> None:
        """A counter family read at scrape time (exported with the ``_total`` suffix)."""
        self.sources.append(Source(name, help, tuple(labels), "counter", read))

    def histogram(self, name: str, help: str, buckets: Iterable[float]) -> Histogram:
        """A histogram the run observes into (e.g. a step's negotiation seconds)."""
        return Histogram(name, help, buckets=tuple(buckets), registry=self.registry)

    # -- the collector (prometheus_client calls this on every scrape) -------------------
    def describe(self) -> list[Metric]:
        """Nothing: the families are known only when collected (unchecked collector)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family, read now."""
        sent = CounterMetricFamily("vpp_host_messages_sent", "Messages a host sent.",
                                   labels=["host"])
        received = CounterMetricFamily("vpp_host_messages_received",
                                       "Messages a host decoded and handed to an agent.",
                                       labels=["host"])
        dropped = CounterMetricFamily("vpp_host_messages_dropped",
                                      "Frames a host dropped, by reason (decode errors, "
                                      "unknown receivers, rate limits ...).",
                                      labels=["host", "reason"])
        agent_out = CounterMetricFamily("vpp_agent_messages_out",
                                        "Messages an agent sent or broadcast.",
                                        labels=["host", "agent", "role"])
        agent_in = CounterMetricFamily("vpp_agent_messages_in",
                                       "Messages handed to an agent.",
                                       labels=["host", "agent", "role"])
        for host in list(self.hosts):
            stats = host.stats
            sent.add_metric([host.name], stats.sent)
            received.add_metric([host.name], stats.received)
            for reason, n in dict(stats.dropped).items():
                dropped.add_metric([host.name, reason], n)
            for agent in list(host.agents.values()):
                labels = [host.name, agent.name, agent.role]
                agent_out.add_metric(labels, agent.messages_out)
                agent_in.add_metric(labels, agent.messages_in)
        yield from (sent, received, dropped, agent_out, agent_in)
        for source in list(self.sources):
            family = (GaugeMetricFamily if source.kind == "gauge" else CounterMetricFamily)(
                source.name, source.help, labels=list(source.labels))
            for label_values, value in source.read():
                family.add_metric(list(label_values), float(value))
            yield family

    # -- reading it ----------------------------------------------------------------------
    def snapshot(self) -> dict[str, list[dict]]:
        """Every sample now, as ``{sample name: [{"labels": {...}, "value": v}, ...]}``
        (the end-of-run summary; histograms appear as their ``_sum`` and ``_count``)."""
        out: dict[str, list[dict]] = {}
        for family in self.registry.collect():
            for s in family.samples:
                if s.name.endswith(("_created", "_bucket")):
                    continue
                out.setdefault(s.name, []).append({"labels": dict(s.labels), "value": s.value})
        return out

    def sample_table(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Every sample now, by sample name: ``{name: [(labels, value), ...]}`` (one
        collection, for evaluating alert rules)."""
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for s in family.samples:
                out.setdefault(s.name, []).append((dict(s.labels), s.value))
        return out

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value now (labels must match exactly), or None."""
        return self.registry.get_sample_value(name, labels)

    def serve(self, port: int = 0, addr: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` over HTTP from a daemon thread; return the port bound."""
        from prometheus_client import start_http_server

        server, _ = start_http_server(port, addr=addr, registry=self.registry)
        self.server = server
        bound = server.server_port
        log.info("metrics on http://%s:%d/metrics", addr, bound)
        return bound

    def close(self) -> None:
        """Stop serving (when serving)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
