"""Remote acknowledgement: the role a dispatched site takes in another process.

In one process, a site hears each step's outcome (``StepCleared``) on the ``dispatch``
topic and the run reads what it did. A site in another process must say what it ran:
the outcome comes once to its process's link, which runs it on each of its sites
(:meth:`Acknowledging.run_cleared`) and answers for all of them in batches; a site
addressed on its own (or whose run of the step was held, :meth:`Acknowledging.answer`)
answers with its own ``Applied``. :class:`Acknowledging` is that role, for any
dispatching protocol. The site kind gives what only it knows (the
:class:`DispatchedSite` protocol: its report of a step, and how it runs a step it missed);
the role adds the rest (no broadcast subscription, the registration's summary, catching
up on missed steps, answering a resend without running the devices twice). Merit-order
and ADMM sites use it alike (``vpp.agents.membership.site_link.RemoteSiteAgent``,
``vpp.agents.admm.remote.RemoteAdmmSite``). The sequence: ``docs/protocols/distributed.md``.
"""

from __future__ import annotations

from typing import Protocol

from vpp.agents.dispatch.devices import SiteDevice
from vpp.agents.membership.messages import SiteInfo
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.coordination.errors import ProtocolError


class DispatchedSite(Protocol):
    """What a dispatched site kind gives the role."""

    name: str
    devices: list[SiteDevice]
    dt_h: float
    last_cleared_step: int

    def applied(self, step: int) -> Applied:
        """The site's report of ``step``, which it has run."""
        ...

    def skip_step(self) -> None:
        """Run one step that never came at the devices' baselines."""
        ...


class Acknowledging:
    """The remote acknowledgement role; put it first among a site kind's bases, e.g.
    ``class RemoteSiteAgent(Acknowledging, SiteAgent)``.

    A repeated ``StepCleared`` (a resend) is acknowledged again without running the
    devices twice; a site that joins late or missed steps first runs its devices at their
    baselines through the steps it missed. A step outside the run (negative, or past
    :attr:`last_step`) is refused before anything runs, so a peer cannot make the site run
    steps without end.
    """

    last_step: int | None = None
    """The run's last step (its scenario's ``steps - 1``; a site process's sites are
    given it when built): a call or outcome for a later step is refused. None: no bound
    past the end (a site built outside a run)."""

    def check_step(self, step: int, field: str) -> None:
        """Refuse ``step`` (a :class:`ProtocolError` naming ``field``, e.g.
        ``StepCleared.step``) when it is outside the run: negative or past
        :attr:`last_step`."""
        last = self.last_step
        if step < 0 or (last is not None and step > last):
            raise ProtocolError(f"{field} {step} is outside the run's steps 0..{last}")

    def started(self: DispatchedSite) -> None:
        """No broadcast subscription: the outcome comes by address, to be acknowledged."""

    def info(self: DispatchedSite) -> SiteInfo:
        """What the site tells at registration: its devices and their power range now."""
        offers = [d.offer(self.dt_h) for d in self.devices]
        return SiteInfo(self.name, [d.name for d in self.devices],
                        sum(o.p_min_kw for o in offers), sum(o.p_max_kw for o in offers))

    def catch_up(self: DispatchedSite, step: int) -> int:
        """Run the devices at their baselines through every step before ``step`` that they
        have not run; return how many."""
        missed = 0
        while self.last_cleared_step + 1 < step:
            self.skip_step()
            self.last_cleared_step += 1
            missed += 1
        if missed:
            self.log.info("site %s ran %d missed steps at its baseline", self.name, missed)
        return missed

    def run_cleared(self, envelope: Envelope, cleared: StepCleared) -> Applied | None:
        """Run ``cleared``'s step (once: a resend runs nothing again) and return what the
        site ran; None when the site holds the step to run it later (then it answers on
        its own, :meth:`answer`). ``envelope`` is the outcome's (its sender is answered).
        A step outside the run raises :class:`ProtocolError` (:meth:`check_step`)."""
        self.check_step(cleared.step, "StepCleared.step")
        if cleared.step != self.last_cleared_step:
            if self.last_cleared_step + 1 < cleared.step:  # (else catch_up runs nothing)
                self.catch_up(cleared.step)
            super()._on_cleared(envelope, cleared)
        return self.applied(cleared.step)

    def answer(self, envelope: Envelope, cleared: StepCleared) -> None:
        """Run ``cleared``'s step as :meth:`run_cleared` does and acknowledge it with
        the site's own ``Applied`` to the outcome's sender."""
        applied = self.run_cleared(envelope, cleared)
        if applied is not None:
            self.send(envelope.sender, applied, conversation=envelope.conversation,
                      round=envelope.round)

    def _on_cleared(self, envelope: Envelope, cleared: StepCleared) -> None:
        self.answer(envelope, cleared)
