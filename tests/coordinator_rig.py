"""A coordinator with two site hosts already members (``h1`` with the first half of the
sites, ``h2`` with the rest), on an ``inproc`` host with no site process behind it: the
acknowledgement tests drive its handlers directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import zmq
from vpp.agents.membership.coordinator import CoordinatorAgent, LinkSettings
from vpp.agents.membership.members import Member
from vpp.agents.membership.messages import distributed_registry
from vpp.agents.runtime.host import Host


@contextmanager
def two_host_coordinator(names: Sequence[str]) -> Iterator[CoordinatorAgent]:
    """The coordinator of ``names``, split between hosts ``h1`` and ``h2``; closed after."""
    context = zmq.Context()
    host = Host("agg", f"inproc://a-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry())
    agent = host.add(CoordinatorAgent("coordinator", list(names), scenario_digest="d" * 64,
                                      seed=1, run_name="r", settings=LinkSettings()))
    half = len(names) // 2
    for name, sites in (("h1", names[:half]), ("h2", names[half:])):
        agent.members[name] = Member(name, list(sites), 1)
        for s in sites:
            agent.holder[s] = name
    try:
        yield agent
    finally:
        host.close()
        context.term()
