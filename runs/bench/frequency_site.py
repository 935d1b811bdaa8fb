"""The site processes of ``vpp bench frequency --processes``: frequency sites on a host.

Kept apart from ``vpp.runs.bench.frequency_procs`` so that the fork server can preload it:
a child then imports nothing when it starts.
"""

from __future__ import annotations

import json
import logging
import math
import time

from vpp.agents.frequency.site import DeferredBookkeeping, FrequencySiteAgent
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.clock import WallClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.physics.battery import Battery, BatteryParams
from vpp.runs.modes.grid_event.rig import AGGREGATOR_ADDRESS, GRID_ADDRESS
from vpp.runs.placement.site_process import parent_gone
from vpp.runs.placement.spawn import set_parent_death_signal


def frequency_child(index: int, names: list[str], grid_endpoint: str, pub_endpoint: str,
                    meter_delay_s: float, results, parent, log_level: int) -> None:
    """One site process: host ``names``, decide on every sample until the event closes,
    then send ``{seq: monotonic ns when the last of its sites applied it}`` as JSON on
    ``results`` (``parent``: the pipe whose end-of-file means the parent is gone)."""
    set_parent_death_signal()
    logging.basicConfig(level=log_level)
    last: dict[int, int] = {}

    def applied(seq: int) -> None:
        last[seq] = time.monotonic_ns()

    # its own endpoint in-process: nothing connects to this host from outside
    host = Host(f"sites-{index}", f"inproc://sites-{index}", clock=WallClock(),
                registry=default_registry())
    host.connect("grid", grid_endpoint, pub_endpoint)
    sites = bench_sites(len(names), applied)
    book = DeferredBookkeeping(meter_delay_s)
    for site, name in zip(sites, names):
        site.name = name
        site.grid, site.aggregator, site.bookkeeping = "grid/grid", "grid/aggregator", book
        host.add(site)
    loop = EventLoop(host)
    results.send_bytes(b"ready")
    try:
        while not all(s.closed for s in sites):
            # the parent's pipe is looked at when nothing arrived (not between a sample
            # and the metering), at least every second (no idle wake-ups in between)
            if not loop.run_once(1.0) and parent_gone(parent.fileno()):
                break
        loop.run_for(meter_delay_s + 0.05)
        results.send_bytes(json.dumps({str(k): v for k, v in last.items()}).encode())
    finally:
        host.close()


def make_rule() -> SiteFrequencyRule:
    """A site with Dynamic Containment, German UFLS and LFSM-O: every rule in use."""
    return SiteFrequencyRule(f0_hz=50.0, service=presets.service("gb-dc", 50.0),
                             contracted_kw=100.0, shedding=presets.shedding("de-ufls", 50.0),
                             sheddable_kw=300.0,
                             curtailment=presets.curtailment("lfsm-o-50", 50.0),
                             renewable_kw=50.0)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values``, nearest rank."""
    values = sorted(values)
    return values[min(len(values) - 1, int(math.ceil(q * len(values))) - 1)]


def bench_sites(n: int, on_applied) -> list[FrequencySiteAgent]:
    """N sites: a 200 kWh / 100 kW battery on Dynamic Containment, UFLS and LFSM-O each."""
    sites = []
    book = DeferredBookkeeping()
    for i in range(n):
        bat = Battery(BatteryParams(capacity_kwh=200.0, p_charge_max_kw=100.0,
                                    p_discharge_max_kw=100.0))
        sites.append(FrequencySiteAgent(f"site-{i}", make_rule(), grid=GRID_ADDRESS,
                                        aggregator=AGGREGATOR_ADDRESS, battery=bat,
                                        on_applied=on_applied, bookkeeping=book))
    return sites
