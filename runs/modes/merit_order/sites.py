"""The merit-order sites of a scenario: devices from their specs, one bidding strategy each,
as :class:`~vpp.agents.merit_order.site.SiteAgent` (this process) or
:class:`~vpp.agents.membership.site_link.RemoteSiteAgent` (a site process)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vpp.agents.membership.site_link import RemoteSiteAgent
from vpp.agents.merit_order.site import SiteAgent
from vpp.runs.fleet.devices import build_devices
from vpp.runs.fleet.strategies import site_strategy
from vpp.runs.scenario import Scenario, SiteEntry, step_times
from vpp.runs.stages import announce


def merit_order_sites(scenario: Scenario, entries: Sequence[SiteEntry],
                      streams: Sequence[np.random.Generator] | None, *, where: str,
                      allow_plugins: bool = False, remote: bool = False,
                      own: set[str] | None = None) -> list[SiteAgent]:
    """The site agents of ``entries``, each with its random stream (None: given when the
    aggregator welcomes a site process). Every strategy is built before any device, so a
    strategy that is refused fails the run before anything heavy is done.

    ``allow_plugins`` (``--allow-plugins``) lets ``module:Class`` strategies load; with
    ``own`` (the names a site owner described in a site file of their own), only those.
    Announces the stage ``building N sites`` (:mod:`vpp.runs.stages`).
    """
    announce(f"building {len(entries)} site{'s' if len(entries) != 1 else ''}")
    strategies = [site_strategy(e.spec, e.entry, where,
                                allow_import=allow_plugins and (own is None or e.name in own))
                  for e in entries]
    times = step_times(scenario)
    cls = RemoteSiteAgent if remote else SiteAgent
    out = []
    for n, (entry, strategy) in enumerate(zip(entries, strategies)):
        devices = build_devices(scenario, entry.entry, times, where)
        out.append(cls(entry.name, devices, strategy, dt_h=scenario.dt_h,
                       outage_probability=entry.spec.outage_probability,
                       rng=None if streams is None else streams[n]))
    return out
