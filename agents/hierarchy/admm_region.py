"""A regional aggregator of the hierarchical sharing ADMM, as an agent.

The logic is :class:`~vpp.coordination.hierarchy.admm_region.RegionalAdmm`; this agent
moves its messages: the parent's ``RegionalRound`` is relayed to the region's sites
(``AdmmRound``) and regions below (``RegionalRound``), their ``AdmmSchedule``\\ s and
``RegionalSums`` are gathered into one ``RegionalSums`` to the parent, the parent's
``RegionalDone`` becomes each site's ``AdmmDone``. The region's deadline (its share of the
parent's) runs on the host's timers. A message from a node that is not the region's
parent or child, or of another negotiation, or out of sequence, raises
:class:`~vpp.coordination.errors.ProtocolError` (the runtime logs and drops it).
``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from vpp.agents.hierarchy.admm_node import AdmmNodeAgent
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.admm.messages import AdmmSchedule
from vpp.coordination.admm.protocol import Outgoing
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_region import RegionalAdmm
from vpp.coordination.hierarchy.messages import (
    RegionalDone,
    RegionalRound,
    RegionalSums,
)
from vpp.coordination.hierarchy.topology import Topology


class AdmmRegionAgent(AdmmNodeAgent):
    """The regional aggregator ``region`` of ``topology``.

    A new negotiation starts with the parent's round 0 of a conversation the region has
    not seen (it replaces an unfinished one: the parent gave it up).

    Args:
        region: the region's node name (also the agent's name).
        topology: the fleet's hierarchy.
        addresses: the address of the region's parent and of each of its children, by
            node name.
        deadline_share: the part of the parent's deadline the region gives its children.
    """

    role = "region"

    def __init__(self, region: str, topology: Topology, addresses: Mapping[str, str], *,
                 deadline_share: float = 0.8) -> None:
        if topology.kind(region) != "region":
            raise ValueError(f"{region!r} is a {topology.kind(region)}, not a region")
        parent = topology.parent(region)
        assert parent is not None
        peers = [parent, *topology.children(region)]
        missing = [n for n in peers if n not in addresses]
        if missing:
            raise ValueError(f"region {region}: no address for {missing[:5]}")
        super().__init__(region, {n: addresses[n] for n in peers})
        if not 0.0 < deadline_share < 1.0:
            raise ValueError(f"deadline_share must be in (0, 1), got {deadline_share!r}")
        self.region = region
        self.parent = parent
        self.topology = topology
        self.deadline_share = deadline_share
        self.machine: RegionalAdmm | None = None
        self.negotiations = 0
        """Negotiations this region has seen end (its parent's ``RegionalDone``)."""
        self._children = frozenset(topology.children(region))
        self.on(RegionalRound, self._on_round)
        self.on(AdmmSchedule, self._on_schedule)
        self.on(RegionalSums, self._on_sums)
        self.on(RegionalDone, self._on_done)

    @property
    def done(self) -> bool:
        """True once the current negotiation has ended."""
        return self.machine is not None and self.machine.done

    def site_schedules(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The last schedule and private cost of each of the region's own sites still
        included, by site name (nothing before a negotiation)."""
        return self.machine.site_schedules() if self.machine is not None else ({}, {})

    def _on_round(self, envelope: Envelope, msg: RegionalRound) -> None:
        if (msg.signal.round == 0 and envelope.conversation != self.conversation
                and self.nodes.get(envelope.sender) == self.parent):
            if self.machine is not None and not self.machine.done:
                self.log.warning("region %s: %s replaces the unfinished %s", self.name,
                                 envelope.conversation, self.conversation)
            self.stop_deadline()
            self._conversation = envelope.conversation
            self.machine = RegionalAdmm(self.region, self.topology, msg.signal.horizon,
                                        deadline_share=self.deadline_share)
        self.node_of(envelope, "RegionalRound", (self.parent,))
        machine = self._machine("RegionalRound")
        if envelope.round != msg.signal.round:
            raise ProtocolError(f"RegionalRound for round {msg.signal.round} in an envelope "
                                f"of round {envelope.round}")
        self._run(machine, lambda: machine.on_round(msg))

    def _on_schedule(self, envelope: Envelope, msg: AdmmSchedule) -> None:
        site = self.node_of(envelope, "AdmmSchedule", self._children)
        machine = self._machine("AdmmSchedule")
        self._run(machine, lambda: machine.on_schedule(site, msg))

    def _on_sums(self, envelope: Envelope, msg: RegionalSums) -> None:
        child = self.node_of(envelope, "RegionalSums", self._children)
        machine = self._machine("RegionalSums")
        self._run(machine, lambda: machine.on_sums(child, msg))

    def _on_done(self, envelope: Envelope, msg: RegionalDone) -> None:
        self.node_of(envelope, "RegionalDone", (self.parent,))
        machine = self._machine("RegionalDone")
        self._run(machine, lambda: machine.on_done(msg))
        self.negotiations += 1

    def _machine(self, kind: str) -> RegionalAdmm:
        if self.machine is None:
            raise ProtocolError(f"{kind} at region {self.name} before any negotiation")
        return self.machine

    def _run(self, machine: RegionalAdmm, call: Callable[[], list[Outgoing]]) -> None:
        """Apply one message to ``machine``; send what it says, even when it raised (an
        invalid answer that was the last awaited still closes the iteration)."""
        try:
            out = call()
        except ProtocolError:
            self._after(machine, machine.take_after_error())
            raise
        self._after(machine, out)

    def _after(self, machine: RegionalAdmm, out: list[Outgoing]) -> None:
        self.emit(out)
        if machine.done:
            self.stop_deadline()
            return
        round_ = machine.children.round
        self.keep_deadline(bool(machine.waiting_for), round_, machine.deadline_ms / 1000.0,
                           lambda: self._on_deadline(machine, round_))

    def _on_deadline(self, machine: RegionalAdmm, round_: int) -> None:
        self.timer_fired()
        if machine is not self.machine or machine.children.round != round_:
            return
        if machine.waiting_for:
            self.log.warning("region %s: deadline of %s round %d passed; dropping %s",
                             self.name, self.conversation, round_,
                             sorted(machine.waiting_for)[:10])
        self._after(machine, machine.on_deadline())
