"""The metrics of a run: its negotiation (merit order or ADMM), its sites, and a remote
fleet's membership; the runner's ops hooks register them (``vpp.runs.ops.hooks``)."""

from __future__ import annotations

from vpp.agents.ops.metrics import OpsMetrics, Reading

STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Buckets of a step's negotiation seconds."""


def _state_of_charge(sites) -> Reading:
    for site in list(sites):
        for dev in site.devices:
            soc = getattr(dev.model, "soc", None)  # stores have one, other devices not
            if soc is not None:
                yield (site.name, dev.name), soc


def _site_power(sites) -> Reading:
    for site in list(sites):
        yield (site.name,), site.power_kw


def site_metrics(sites, metrics: OpsMetrics) -> None:
    """Each site's power in the last step and its stores' state of charge (the sites of
    this process), read when scraped."""
    metrics.gauge("vpp_site_power_kw", "A site's power in the last step (kW).", ("site",),
                  lambda: _site_power(sites))
    metrics.gauge("vpp_site_state_of_charge", "A store's state of charge (0-1).",
                  ("site", "device"), lambda: _state_of_charge(sites))


def merit_order_metrics(run, metrics: OpsMetrics) -> None:
    """A merit-order run's negotiation: steps, rounds, declines, the last step's target,
    served and unserved power; its local sites."""
    totals = lambda: run.aggregator.history.totals   # every step's, whatever is kept
    metrics.counter("vpp_steps", "Steps run.", (), lambda: [((), run.step_index)])
    metrics.counter("vpp_negotiation_rounds", "Merit-order rounds over all steps.", (),
                    lambda: [((), totals().rounds)])
    metrics.counter("vpp_negotiation_declines", "Awards declined by sites.", (),
                    lambda: [((), totals().declines)])

    def last(field: str) -> Reading:
        try:
            out = run.aggregator.outcomes[-1]
        except IndexError:
            return []
        return [((), getattr(out, field))]

    for field, help in (("target_kw", "The last step's target (kW)."),
                        ("served_kw", "What the sites served in the last step (kW)."),
                        ("unserved_kw", "The last step's unserved power (kW).")):
        metrics.gauge(f"vpp_{field}", help, (), lambda field=field: last(field))
    site_metrics(run.sites, metrics)


def admm_metrics(run, metrics: OpsMetrics) -> None:
    """An ADMM run: steps, iterations, negotiations converged, sites dropped; each local
    site's solves, failures and solver seconds, power and state of charge."""
    results = lambda: [n[2] for n in list(run.negotiations)]
    metrics.counter("vpp_steps", "Steps run.", (), lambda: [((), run.step_index)])
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
            ((s.name,), getattr(s, attr)) for s in run.sites])
    site_metrics(run.sites, metrics)


def membership_metrics(fleet, metrics: OpsMetrics) -> None:
    """A remote fleet's sites: per site whether its process is up (``vpp_site_up``, 1 or
    0) and which host serves it, per site host the seconds since it was last heard
    (``vpp_site_heartbeat_age_seconds``), and how many sites are lost."""
    import time

    coord = fleet.coordinator

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
    metrics.gauge("vpp_sites_lost", "Sites that had joined and whose host is lost now.", (),
                  lambda: [((), sum(1 for state in site_states(coord).values()
                                    if state == "lost"))])
    metrics.gauge("vpp_site_state",
                  "1 for a site's state: waiting (not joined yet), up, lost or stopped.",
                  ("site", "state"), lambda: [((s, state), 1.0)
                                              for s, state in site_states(coord).items()])


SITE_STATES = ("waiting", "up", "lost", "stopped")
"""What ``vpp_site_state`` says of a site: ``waiting`` until its host first joins, ``up``
while its host is joined, then ``lost`` (silent, revoked or gone unasked) or ``stopped``
(asked to stop at the end of the run)."""


def site_state(coord, site: str) -> str:
    """One of :data:`SITE_STATES` for ``site`` of the coordinator ``coord``."""
    if site in coord.holder:
        return "up"
    last = None
    for event in list(coord.events):
        if site in event.sites:
            last = event.event
    return _state_after(last)


def site_states(coord) -> dict[str, str]:
    """:func:`site_state` of every site of ``coord``, in its order, read in one pass over
    the liveness events (a scrape at 100,000 sites: asking per site walked every event's
    site list once per site)."""
    last: dict[str, str] = {}
    for event in list(coord.events):
        kind = event.event
        for site in event.sites:
            last[site] = kind
    holder = coord.holder
    return {s: "up" if s in holder else _state_after(last.get(s))
            for s in coord.site_names}


def _state_after(last: str | None) -> str:
    """A site's state when its host is not joined, by the last liveness event naming it."""
    if last is None:
        return "waiting"
    return "stopped" if last == "stopped" else "lost"


def site_process_metrics(host, sites, metrics: OpsMetrics) -> OpsMetrics:
    """Register a site process's host, its sites' power and their stores' state of
    charge (``vpp site --metrics-port``)."""
    metrics.watch_host(host)
    site_metrics(sites, metrics)
    return metrics
