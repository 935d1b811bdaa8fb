"""An ADMM site in its own process: plans by ADMM, hears each step by address, acknowledges.

:class:`RemoteAdmmSite` is an :class:`~vpp.agents.admm.dispatch.AdmmDispatchSite` with the
remote acknowledgement role (:class:`~vpp.agents.dispatch.acknowledging.Acknowledging`),
served by a site process next to a :class:`~vpp.agents.membership.site_link.SiteLinkAgent`.
The ADMM rounds come to it by address as in one process; the step's ``StepCleared`` comes
by address from the coordinator and is acknowledged with ``Applied``, which also carries
the plan's power and private cost of the step. The sequence:
``docs/protocols/distributed.md`` ("ADMM").
"""

from __future__ import annotations

from vpp.agents.admm.dispatch import AdmmDispatchSite
from vpp.agents.dispatch.acknowledging import Acknowledging


class RemoteAdmmSite(Acknowledging, AdmmDispatchSite):
    """An ADMM dispatch site that acknowledges each step's outcome (the arguments of
    :class:`~vpp.agents.admm.dispatch.AdmmDispatchSite`)."""

    def release(self) -> None:
        """The aggregator is gone for good: drop the plan (the devices run at their
        baselines from now on)."""
        self._parts = self._schedule = self._costs = None
