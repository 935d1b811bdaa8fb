"""Sending what a merit-order state machine returns (the flat aggregator's and the
hierarchy's agents alike)."""

from __future__ import annotations

from vpp.agents.runtime.agent import Agent
from vpp.coordination.merit_order.auction import Outgoing


def send_outgoing(agent: Agent, outgoing: list[Outgoing], conversation: str) -> None:
    """Send a state machine's messages in order, from ``agent``; a run of messages with one
    body (a call for bids to every child) is encoded once (``send_all``)."""
    host = agent.host
    i, n = 0, len(outgoing)
    if n and host is None:
        raise RuntimeError(f"agent {agent.name} is not hosted yet")
    while i < n:
        receiver, body, round = outgoing[i]
        j = i + 1
        while j < n and outgoing[j].body is body and outgoing[j].round == round:
            j += 1
        if j == i + 1:
            # (Agent.send, inline: an award to each site)
            host.send(agent, receiver, body, conversation=conversation, round=round)
            agent.messages_out += 1
        else:
            agent.send_all([out.receiver for out in outgoing[i:j]], body,
                           conversation=conversation, round=round)
        i = j
