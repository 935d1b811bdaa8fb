"""What the merit-order hierarchy's agents share: the tree named by agent addresses, and
sending a state machine's messages with the phase's deadline armed.

The state machines of :mod:`vpp.coordination.hierarchy` name their peers by node. The
agents use a topology whose nodes *are* the agents' addresses (``sites/chp-north``,
``agg/region-01``): :func:`addressed` renames a scenario's tree once, so a message's
receiver is the node's address and a sender's address is its node, with no look-up per
message, and a step's outcome names the sites by address as the flat aggregator's does.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.timers import Timer
from vpp.coordination.hierarchy.topology import Topology


def addressed(topology: Topology, address: Callable[[str], str]) -> Topology:
    """``topology`` with every node renamed to ``address(node)`` (kinds, fleet orders and
    edges kept). Raises ``ValueError`` when two nodes get one address."""
    names = {n: address(n) for n in topology.graph.nodes}
    if len(set(names.values())) != len(names):
        seen: dict[str, str] = {}
        for node, addr in names.items():
            if addr in seen:
                raise ValueError(f"nodes {seen[addr]!r} and {node!r} share the address "
                                 f"{addr!r}")
            seen[addr] = node
    return Topology(nx.relabel_nodes(topology.graph, names, copy=True))


class PhaseDeadline:
    """One deadline per waiting phase: armed on the host's timers when a phase that waits
    for answers begins, cancelled when the phase ends (simulated time under a simulated
    timer clock).

    Args:
        agent: the agent whose host keeps the timer.
        fire: called when the deadline passes.
    """

    def __init__(self, agent: Agent, fire: Callable[[], None]) -> None:
        self.agent = agent
        self.fire = fire
        self._timer: Timer | None = None
        self._armed_for: tuple[object, ...] | None = None

    def update(self, phase: tuple[object, ...], waiting: bool, delay_s: float) -> None:
        """Arm a new deadline ``delay_s`` ahead when ``waiting`` in a phase not armed yet;
        cancel it when not waiting."""
        if not waiting:
            self.cancel()
            return
        if phase == self._armed_for:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.agent.host.call_later(delay_s, self._fired)
        self._armed_for = phase

    def cancel(self) -> None:
        """No deadline pending."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._armed_for = None

    def _fired(self) -> None:
        self._timer = None
        self._armed_for = None
        self.fire()
