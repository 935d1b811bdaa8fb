"""An ADMM site in its own process: plans by ADMM, hears each step by address, acknowledges.

:class:`RemoteAdmmSite` is an :class:`~vpp.agents.admm.dispatch.AdmmDispatchSite` with the
remote acknowledgement role (:class:`~vpp.agents.dispatch.acknowledging.Acknowledging`),
served by a site process next to a :class:`~vpp.agents.membership.site_link.SiteLinkAgent`.
The ADMM rounds come to it by address as in one process; the step's ``StepCleared`` comes
from the coordinator through its process's link, which acknowledges it with the site's
``Applied`` (in a batch), which also carries the plan's power and private cost of the step. The sequence:
``docs/protocols/distributed.md`` ("ADMM").

Through regional aggregators the negotiation's end (``AdmmDone``) comes from the site's
region while the step's ``StepCleared`` comes from the coordinator, by another path: a
``StepCleared`` that arrives while a negotiation the site answered is still open is held
(the latest one) and run once the ``AdmmDone`` is in, so the step runs on the new plan; the
site then acknowledges it with its own ``Applied``.
"""

from __future__ import annotations

from vpp.agents.admm.dispatch import AdmmDispatchSite
from vpp.agents.dispatch.acknowledging import Acknowledging
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.admm.messages import AdmmDone, AdmmRound
from vpp.coordination.dispatch import Applied, StepCleared


class RemoteAdmmSite(Acknowledging, AdmmDispatchSite):
    """An ADMM dispatch site that acknowledges each step's outcome (the arguments of
    :class:`~vpp.agents.admm.dispatch.AdmmDispatchSite`)."""

    _open = False           # a negotiation began (round 0) and its AdmmDone is not in
    _held: tuple[Envelope, StepCleared] | None = None

    def _on_round(self, envelope: Envelope, msg: AdmmRound) -> None:
        if msg.round == 0:
            self._open = True
        super()._on_round(envelope, msg)

    def _on_done(self, envelope: Envelope, msg: AdmmDone) -> None:
        try:
            super()._on_done(envelope, msg)
        finally:
            self._open = False
            held, self._held = self._held, None
            if held is not None:
                self.answer(*held)

    def run_cleared(self, envelope: Envelope, cleared: StepCleared) -> Applied | None:
        """Run the step as :meth:`Acknowledging.run_cleared` does, except while a
        negotiation the site answered is open: then the step is held (None)."""
        if self._open:  # the plan is on its way (through a region): run the step after it
            self._held = (envelope, cleared)
            return None
        return super().run_cleared(envelope, cleared)

    def release(self) -> None:
        """The aggregator is gone for good: drop the plan (the devices run at their
        baselines from now on)."""
        self._parts = self._schedule = self._costs = None
