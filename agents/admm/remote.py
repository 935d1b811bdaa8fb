"""An ADMM site in its own process: plans by ADMM, hears each step by address, acknowledges.

:class:`RemoteAdmmSite` is an :class:`~agents.admm_dispatch.AdmmDispatchSite` served by a
site process (``vpp.runs.placement.site_process``) next to a :class:`~agents.site_link.SiteLinkAgent`.
The ADMM rounds come to it by address as in one process; the step's ``StepCleared`` comes
by address from the coordinator (not on the ``dispatch`` topic) and is acknowledged with
``Applied``, which also carries the plan's power and private cost of the step. The
sequence: ``docs/protocols/distributed.md`` ("ADMM").
"""

from __future__ import annotations

import logging

from vpp.agents.admm.dispatch import AdmmDispatchSite
from vpp.agents.membership.messages import SiteInfo
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import Applied, StepCleared

log = logging.getLogger(__name__)


class RemoteAdmmSite(AdmmDispatchSite):
    """An ADMM dispatch site that acknowledges each step's outcome.

    It takes the arguments of :class:`~agents.admm_dispatch.AdmmDispatchSite`. A repeated
    ``StepCleared`` (a resend) is acknowledged again without running the devices twice; a
    site that missed steps runs its devices at their baselines through them first.
    """

    def started(self) -> None:
        """No broadcast subscription: the outcome comes by address, to be acknowledged."""

    def info(self) -> SiteInfo:
        """What the site tells at registration: devices and their power range now."""
        offers = [d.offer(self.dt_h) for d in self.devices]
        return SiteInfo(self.name, [d.name for d in self.devices],
                        sum(o.p_min_kw for o in offers), sum(o.p_max_kw for o in offers))

    def catch_up(self, step: int) -> int:
        """Run the devices at their baselines through every step before ``step`` that they
        have not run (they count against the plan's window); return how many."""
        missed = 0
        while self.last_cleared_step + 1 < step:
            for device in self.devices:
                device.run(device.offer(self.dt_h).baseline_kw, self.dt_h)
            self.last_cleared_step += 1
            self._t += 1
            missed += 1
        if missed:
            self.log.info("site %s ran %d missed steps at its baseline", self.name, missed)
        return missed

    def _on_cleared(self, envelope: Envelope, cleared: StepCleared) -> None:
        if cleared.step != self.last_cleared_step:
            self.catch_up(cleared.step)
            super()._on_cleared(envelope, cleared)
        self.send(envelope.sender,
                  Applied(cleared.step, self.power_kw, 0.0, self.stored_kwh,
                          planned_kw=self.planned_kw, cost_eur=self.cost_eur,
                          battery_energy_gap_kwh=self.battery_energy_gap_kwh),
                  conversation=envelope.conversation, round=envelope.round)

    def release(self) -> None:
        """The aggregator is gone for good: drop the plan (the devices run at their
        baselines from now on)."""
        self._parts = self._schedule = self._costs = None
