"""What the ADMM root and region agents share: node names to addresses, sending a state
machine's messages, and the deadline of the iteration that is waited for.

The hierarchy's state machines (``coordination/hierarchy/admm_root.py``,
``admm_region.py``) name their peers by topology node (a site's name, a region's name, the
root's name); an agent knows where each of its peers is served (``host/name``) and hears
each only from that address. ``docs/protocols/hierarchy.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.timers import Timer
from vpp.coordination.admm.protocol import Outgoing
from vpp.coordination.errors import ProtocolError


class AdmmNodeAgent(Agent):
    """An aggregator of the hierarchical sharing ADMM (the root or a region) as an agent.

    Args:
        name: the agent's name.
        addresses: the address (``host/name``) of each peer node this one talks to (its
            children, and a region's parent), by node name.
    """

    role = "aggregator"

    def __init__(self, name: str, addresses: Mapping[str, str]) -> None:
        super().__init__(name)
        self.addresses = dict(addresses)
        self.nodes = {address: node for node, address in self.addresses.items()}
        if len(self.nodes) != len(self.addresses):
            raise ValueError(f"{name}: two nodes share an address")
        self._conversation = ""
        self._timer: Timer | None = None
        self._timer_round = -1

    @property
    def conversation(self) -> str:
        """The id of the current negotiation (``admm/<step>``)."""
        return self._conversation

    def node_of(self, envelope: Envelope, kind: str, allowed: Sequence[str] | None = None,
                ) -> str:
        """The node that sent ``envelope``, in this negotiation; :class:`ProtocolError`
        when the sender is no peer (or not one of ``allowed``) or the conversation is
        another one."""
        node = self.nodes.get(envelope.sender)
        if node is None or (allowed is not None and node not in allowed):
            raise ProtocolError(f"{kind} from {envelope.sender}, which is not a peer of "
                                f"{self.name} for it")
        if envelope.conversation != self._conversation:
            raise ProtocolError(f"{kind} for {envelope.conversation!r} arrived outside its "
                                f"negotiation (now {self._conversation!r})")
        return node

    def emit(self, outgoing: list[Outgoing]) -> None:
        """Send a state machine's messages, each to its node's address; a run of the same
        body to several nodes is encoded once (a round's signal to a region's sites)."""
        i = 0
        while i < len(outgoing):
            first = outgoing[i]
            j = i + 1
            while (j < len(outgoing) and outgoing[j].body is first.body
                   and outgoing[j].round == first.round):
                j += 1
            receivers = [self.addresses[o.receiver] for o in outgoing[i:j]]
            if len(receivers) == 1:
                self.send(receivers[0], first.body, conversation=self._conversation,
                          round=first.round)
            else:
                self.send_all(receivers, first.body, conversation=self._conversation,
                              round=first.round)
            i = j

    def keep_deadline(self, waiting: bool, round: int, delay_s: float,
                      fire: Callable[[], None]) -> None:
        """One timer for the iteration ``round`` waited for: armed when it starts being
        waited for, cancelled once nothing is awaited or another iteration starts."""
        if self._timer is not None and (not waiting or self._timer_round != round):
            self._timer.cancel()
            self._timer = None
        if waiting and self._timer is None:
            self._timer_round = round
            self._timer = self.host.call_later(delay_s, fire)

    def timer_fired(self) -> None:
        """The armed deadline ran (it is forgotten before the handler acts)."""
        self._timer = None

    def stop_deadline(self) -> None:
        """Cancel the deadline (the negotiation ended or was replaced)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
