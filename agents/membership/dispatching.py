"""The coordinator's part in each step's dispatch: the outcome to every live site host,
its acknowledgements back, resent until they are in.

A step's outcome (``StepCleared``) goes once to each live host's link (``<host>/link``),
not to each of its sites: the link hands it to its sites in its process and answers with
its sites' ``Applied`` in batches (:class:`~.messages.AppliedBatch`, checked by
:func:`~.dispatch_batch.accepted`). A site that answers on its own (an ADMM site whose plan
was still on its way when the outcome came) sends its ``Applied`` by itself. Every
``ack_ms`` the outcome is sent again to each host with a live site that has not
acknowledged. The sequence: ``docs/protocols/distributed.md``, "Dispatch".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vpp.agents.membership.dispatch_batch import accepted
from vpp.agents.membership.liveness import few
from vpp.agents.membership.members import Member
from vpp.agents.membership.messages import AppliedBatch
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.coordination.errors import ProtocolError

if TYPE_CHECKING:
    from vpp.agents.runtime.timers import Timer

LINK_AGENT = "link"
"""The name of the link agent on every site host."""


class DispatchAcks:
    """The dispatch and its acknowledgements, a part of
    :class:`~.coordinator.CoordinatorAgent` (which holds ``members``, ``holder``,
    ``settings`` and sends); call :meth:`_init_dispatch` from its constructor."""

    members: dict[str, Member]
    holder: dict[str, str]

    def _init_dispatch(self) -> None:
        self._dispatch: tuple[StepCleared, str] | None = None
        self._resend: Timer | None = None
        self._newest_step = -1
        self.rejected_acks = 0
        """Acknowledgements dropped because the site is not the sending host's."""
        self.late_acks = 0
        """Acknowledgements of an earlier step than the newest dispatched (a host that
        answered a resent outcome twice), ignored."""
        self.on(Applied, self._on_applied)
        self.on(AppliedBatch, self._on_applied_batch)

    def _on_applied(self, envelope: Envelope, applied: Applied) -> None:
        member = self._member(envelope)
        site = envelope.sender.partition("/")[2]
        if site not in member.site_set:
            raise ProtocolError(f"Applied from {envelope.sender}, not a site of {member.host}")
        if self._kept(applied.step, f"Applied from {envelope.sender}", "Applied.step", 1):
            member.applied.setdefault(applied.step, {})[site] = applied

    def _kept(self, step: int, where: str, field: str, count: int) -> bool:
        """Whether ``count`` acknowledgements of ``step`` are kept: only the newest
        dispatched step's are (so a host can make the coordinator hold one step's
        acknowledgements of its own sites, no more); an earlier step's are late repeats,
        ignored and counted in :attr:`late_acks`.

        Raises:
            ProtocolError: ``step`` was never dispatched (``field`` named).
        """
        newest = self._newest_step
        if not 0 <= step <= newest:
            raise ProtocolError(f"{where}: field {field} {step} is not a step dispatched "
                                + (f"(0 to {newest})" if newest >= 0 else "(none yet)"))
        if step < newest:
            self.late_acks += count
            return False
        return True

    def _on_applied_batch(self, envelope: Envelope, batch: AppliedBatch) -> None:
        member = self._member(envelope)
        if envelope.sender != f"{member.host}/{LINK_AGENT}":
            raise ProtocolError(f"AppliedBatch from {envelope.sender}, not a host's link")
        if not self._kept(batch.step, f"AppliedBatch from {member.host}",
                          "AppliedBatch.step", len(batch.sites)):
            return
        kept, rejected = accepted(batch, member.site_set, member.host)
        if rejected:
            self.rejected_acks += len(rejected)
            self.log.warning("AppliedBatch from %s: %d sites not its own dropped (%s)",
                             member.host, len(rejected), ", ".join(rejected[:5]))
        acks = member.applied.get(batch.step)
        if acks is None:
            member.applied[batch.step] = kept
        else:
            acks.update(kept)

    def dispatch(self, cleared: StepCleared) -> None:
        """Send the step's outcome to the link of every live host; resend it to those
        with sites that have not acknowledged it every ``ack_ms`` until they do or their
        host is lost. Acknowledgements of earlier steps are forgotten (:meth:`applied`
        reads a step's at its end)."""
        self._dispatch = (cleared, f"dispatch/{cleared.step}")
        self._newest_step = max(self._newest_step, cleared.step)
        for member in self.members.values():  # earlier steps' acks were read at their end
            for old in [k for k in member.applied if k < cleared.step]:
                del member.applied[old]
        self._send_dispatch(list(self.members))

    def _send_dispatch(self, hosts: list[str]) -> None:
        assert self._dispatch is not None
        cleared, conversation = self._dispatch
        for host in hosts:
            self.send(f"{host}/{LINK_AGENT}", cleared, conversation=conversation)
        if self._resend is not None:
            self._resend.cancel()
        self._resend = self.host.call_later(self.settings.ack_ms / 1000.0, self._on_ack_due)

    def _on_ack_due(self) -> None:
        self._resend = None
        if self._dispatch is None:
            return
        missing = self.unacknowledged(self._dispatch[0].step)
        if missing:
            hosts = sorted({a.partition("/")[0] for a in missing} & set(self.members))
            self.log.info("step %d: no Applied yet from %s; StepCleared sent again to %s",
                          self._dispatch[0].step, few(missing), hosts)
            self._send_dispatch(hosts)

    def acknowledged(self, step: int) -> bool:
        """Whether every live site has acknowledged ``step``'s outcome (asked on every
        pass of a step's wait: one count per host)."""
        # every live site is a member's and each member's acks are of its own sites, so
        # as many acks as live sites means none is missing (and fewer, that one is)
        return sum(len(m.applied.get(step, ())) for m in self.members.values()) == len(
            self.holder)

    def unacknowledged(self, step: int) -> list[str]:
        """Addresses of live sites that have not acknowledged ``step``'s outcome."""
        if self.acknowledged(step):
            return []
        out = []
        for address in self.live_sites():
            host, _, site = address.partition("/")
            if site not in self.members[host].applied.get(step, {}):
                out.append(address)
        return out

    def applied(self, step: int) -> dict[str, Applied]:
        """Every acknowledgement of ``step``, by site name (whatever became of the host)."""
        out: dict[str, Applied] = {}
        for member in self.members.values():
            out.update(member.applied.get(step, {}))
        return out

    def end_dispatch(self) -> None:
        """The step is over: no more resending."""
        self._dispatch = None
        if self._resend is not None:
            self._resend.cancel()
            self._resend = None
