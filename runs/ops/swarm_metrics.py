"""The metrics of a local swarm (merit order or ADMM): hosts, agents, negotiation, sites."""

from __future__ import annotations

from vpp.agents.ops.metrics import OpsMetrics, Reading

STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Buckets of a step's negotiation seconds."""


def _sites(model) -> list:
    return list(getattr(model, "sites", ()))


def _state_of_charge(sites) -> Reading:
    for site in list(sites):
        for dev in getattr(site, "devices", ()):
            soc = getattr(dev.model, "soc", None)
            if soc is not None:
                yield (site.name, dev.name), soc


def _site_power(sites) -> Reading:
    for site in list(sites):
        power = getattr(site, "power_kw", None)
        if power is not None:
            yield (site.name,), power


def _outcomes(model) -> list:
    agg = getattr(model, "aggregator", None)
    return list(getattr(agg, "outcomes", ())) if agg is not None else []


def swarm_metrics(model, metrics: OpsMetrics | None = None) -> OpsMetrics:
    """Register ``model``'s hosts and its negotiation and site figures with ``metrics``
    (a new :class:`OpsMetrics` when None); all are read when scraped."""
    metrics = metrics or OpsMetrics()
    for name in ("agg_host", "site_host"):
        host = getattr(model, name, None)
        if host is not None:
            metrics.watch_host(host)
    metrics.counter("vpp_steps", "Steps run.", (), lambda: [((), model.step_index)])
    outcomes = lambda: _outcomes(model)
    metrics.counter("vpp_negotiation_rounds", "Merit-order rounds over all steps.", (),
                    lambda: [((), sum(o.rounds for o in outcomes()))])
    metrics.counter("vpp_negotiation_declines", "Awards declined by sites.", (),
                    lambda: [((), sum(len(o.declined) for o in outcomes()))])

    def last(field: str) -> Reading:
        outs = outcomes()
        return [((), getattr(outs[-1], field))] if outs else []

    for field, help in (("target_kw", "The last step's target (kW)."),
                        ("served_kw", "What the sites served in the last step (kW)."),
                        ("unserved_kw", "The last step's unserved power (kW).")):
        metrics.gauge(f"vpp_{field}", help, (), lambda field=field: last(field))
    if hasattr(model, "negotiations"):
        _admm(model, metrics)
    metrics.gauge("vpp_site_power_kw", "A site's power in the last step (kW).", ("site",),
                  lambda: _site_power(_sites(model)))
    metrics.gauge("vpp_site_state_of_charge", "A store's state of charge (0-1).",
                  ("site", "device"), lambda: _state_of_charge(_sites(model)))
    return metrics


def _admm(model, metrics: OpsMetrics) -> None:
    """ADMM: iterations, negotiations converged, sites dropped; each site's local solves,
    failures and solver seconds."""
    results = lambda: [n[2] for n in list(model.negotiations)]
    metrics.counter("vpp_admm_iterations", "ADMM iterations over all negotiations.", (),
                    lambda: [((), sum(r.iterations for r in results()))])
    metrics.counter("vpp_admm_negotiations", "ADMM negotiations, by whether they converged.",
                    ("converged",), lambda: [
                        (("true",), sum(1 for r in results() if r.converged)),
                        (("false",), sum(1 for r in results() if not r.converged))])
    metrics.counter("vpp_admm_sites_dropped", "Sites dropped from a negotiation.", (),
                    lambda: [((), sum(len(r.dropped) for r in results()))])
    for attr, name, help in (
            ("solves", "vpp_admm_local_solves", "Local proximal steps a site solved."),
            ("solve_failures", "vpp_admm_local_solve_failures",
             "Rounds a site's local solver could not answer."),
            ("solve_s", "vpp_admm_local_solve_seconds", "Wall seconds in a site's solver.")):
        metrics.counter(name, help, ("site",), lambda attr=attr: [
            ((s.name,), getattr(s, attr)) for s in _sites(model)])


def aggregator_metrics(run, metrics: OpsMetrics | None = None) -> OpsMetrics:
    """Register a distributed :class:`~runs.distributed.AggregatorRun`: its host, the
    negotiation, and per site whether its process is up (``vpp_site_up``, 1 or 0) and
    per site host the seconds since it was last heard (``vpp_site_heartbeat_age_seconds``).
    """
    import time

    metrics = metrics or OpsMetrics()
    metrics.watch_host(run.host)
    coord = run.coordinator
    metrics.counter("vpp_steps", "Steps run.", (), lambda: [((), run.step_index)])
    metrics.counter("vpp_negotiation_rounds", "Merit-order rounds over all steps.", (),
                    lambda: [((), sum(o.rounds for o in _outcomes(run)))])

    def up() -> Reading:
        joined = coord.joined()
        return [((name,), 1.0 if name in joined else 0.0) for name in coord.site_names]

    def age() -> Reading:
        now = time.monotonic()
        for host in list(coord.members):
            seen = coord.liveness.last_seen(host)
            if seen is not None:
                yield (host,), now - seen

    metrics.gauge("vpp_site_up", "1 while the site's process is joined and heard, else 0.",
                  ("site",), up)
    metrics.gauge("vpp_site_host", "1 for each (site, host) serving it now.", ("site", "host"),
                  lambda: [((s, h), 1.0) for s, h in list(coord.holder.items())])
    metrics.gauge("vpp_site_heartbeat_age_seconds",
                  "Seconds since a site host was last heard.", ("host",), age)
    metrics.gauge("vpp_sites_lost", "Sites whose host is not joined now.", (),
                  lambda: [((), len(coord.site_names) - len(coord.joined()))])
    return metrics


def site_process_metrics(host, metrics: OpsMetrics) -> OpsMetrics:
    """Register a site process's host, its sites' power and their stores' state of
    charge (``vpp site --metrics-port``)."""
    metrics.watch_host(host)
    sites = [a for a in host.agents.values() if hasattr(a, "devices")]
    metrics.gauge("vpp_site_power_kw", "A site's power in the last step (kW).", ("site",),
                  lambda: _site_power(sites))
    metrics.gauge("vpp_site_state_of_charge", "A store's state of charge (0-1).",
                  ("site", "device"), lambda: _state_of_charge(sites))
    return metrics
