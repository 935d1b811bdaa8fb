"""``vpp status``: what a running aggregator's metrics endpoint says, as plain data."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any


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
    """Sites (up, host, seconds since the host's last heartbeat), hosts (messages sent,
    received, dropped), the run (steps, rounds, alerts firing) and the process."""
    def one(name: str) -> float | None:
        rows = samples.get(name)
        return rows[0][1] if rows else None

    host_of = {lab["site"]: lab["host"] for lab, v in samples.get("vpp_site_host", []) if v}
    age = {lab["host"]: v for lab, v in samples.get("vpp_site_heartbeat_age_seconds", [])}
    sites = [{"site": lab["site"], "up": bool(v), "host": host_of.get(lab["site"]),
              "heartbeat_age_s": age.get(host_of.get(lab["site"], ""))}
             for lab, v in samples.get("vpp_site_up", [])]
    hosts: dict[str, dict[str, float]] = {}
    for key, name in (("sent", "vpp_host_messages_sent_total"),
                      ("received", "vpp_host_messages_received_total"),
                      ("dropped", "vpp_host_messages_dropped_total")):
        for lab, v in samples.get(name, []):
            h = hosts.setdefault(lab["host"], {"sent": 0.0, "received": 0.0, "dropped": 0.0})
            h[key] += v
    firing = {lab["rule"]: v for lab, v in samples.get("vpp_alerts_firing", []) if v}
    rss = one("process_resident_memory_bytes")
    return {
        "sites": sites,
        "sites_up": sum(1 for s in sites if s["up"]),
        "hosts": hosts,
        "steps": one("vpp_steps_total"),
        "negotiation_rounds": one("vpp_negotiation_rounds_total"),
        "alerts_firing": firing,
        "process_cpu_s": one("process_cpu_seconds_total"),
        "process_rss_mib": rss / 2**20 if rss is not None else None,
    }
