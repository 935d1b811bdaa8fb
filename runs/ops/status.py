"""``vpp status``: what a running aggregator's metrics endpoint says, as plain data."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

_STATE_ORDER = {"up": 0, "waiting": 1, "lost": 2, "stopped": 3}
"""The order sites are counted in by state."""


class StatusError(RuntimeError):
    """The endpoint could not be read; the message says where and why."""


def metrics_url(address: str) -> str:
    """``tcp://HOST:PORT`` or ``http://HOST:PORT[/metrics]`` as the URL to scrape."""
    if address.startswith("tcp://"):
        return f"http://{address[len('tcp://'):].rstrip('/')}/metrics"
    if address.startswith(("http://", "https://")):
        return address if address.rstrip("/").endswith("/metrics") else \
            address.rstrip("/") + "/metrics"
    raise StatusError(f"expected tcp://HOST:PORT (the aggregator's --metrics-port), got "
                      f"{address!r}")


def scrape(address: str, timeout_s: float = 5.0) -> dict[str, list[tuple[dict, float]]]:
    """Every sample of the endpoint, by sample name."""
    from prometheus_client.parser import text_string_to_metric_families

    url = metrics_url(address)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        raise StatusError(f"cannot read {url}: {getattr(exc, 'reason', exc)}") from None
    out: dict[str, list[tuple[dict, float]]] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.setdefault(s.name, []).append((dict(s.labels), s.value))
    except ValueError as exc:
        raise StatusError(f"{url} is not a Prometheus endpoint: {exc}") from None
    return out


def status(samples: dict[str, list[tuple[dict, float]]]) -> dict[str, Any]:
    """Sites (state, up, host, seconds since the host's last heartbeat), hosts (messages
    sent, received, dropped), the run (steps, rounds, alerts firing) and the process.

    A site's ``state`` is ``waiting`` (its host has not joined yet), ``up``, ``lost`` or
    ``stopped`` (``vpp_site_state``); counters (steps, rounds, messages, alerts firing)
    are integers.
    """
    def one(name: str) -> float | None:
        rows = samples.get(name)
        return rows[0][1] if rows else None

    def count(name: str) -> int | None:
        value = one(name)
        return None if value is None else int(value)

    host_of = {lab["site"]: lab["host"] for lab, v in samples.get("vpp_site_host", []) if v}
    age = {lab["host"]: v for lab, v in samples.get("vpp_site_heartbeat_age_seconds", [])}
    state = {lab["site"]: lab["state"] for lab, v in samples.get("vpp_site_state", []) if v}
    sites = []
    for lab, v in samples.get("vpp_site_up", []):
        name = lab["site"]
        # an endpoint without vpp_site_state (an older aggregator) tells up from not-up only
        sites.append({"site": name, "state": state.get(name, "up" if v else "down"),
                      "up": bool(v), "host": host_of.get(name),
                      "heartbeat_age_s": age.get(host_of.get(name, ""))})
    hosts: dict[str, dict[str, int]] = {}
    for key, name in (("sent", "vpp_host_messages_sent_total"),
                      ("received", "vpp_host_messages_received_total"),
                      ("dropped", "vpp_host_messages_dropped_total")):
        for lab, v in samples.get(name, []):
            h = hosts.setdefault(lab["host"], {"sent": 0, "received": 0, "dropped": 0})
            h[key] += int(v)
    firing = {lab["rule"]: int(v) for lab, v in samples.get("vpp_alerts_firing", []) if v}
    rss = one("process_resident_memory_bytes")
    return {
        "sites": sites,
        "sites_up": sum(1 for s in sites if s["up"]),
        "sites_by_state": {k: sum(1 for s in sites if s["state"] == k) for k in sorted(
            {s["state"] for s in sites}, key=lambda k: (_STATE_ORDER.get(k, 9), k))},
        "hosts": hosts,
        "steps": count("vpp_steps_total"),
        "negotiation_rounds": count("vpp_negotiation_rounds_total"),
        "alerts_firing": firing,
        "process_cpu_s": one("process_cpu_seconds_total"),
        "process_rss_mib": rss / 2**20 if rss is not None else None,
    }
