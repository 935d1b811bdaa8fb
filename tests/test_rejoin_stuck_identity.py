"""A site process whose connection comes in under a host name still held by an earlier
connection (a restart, or a reconnection after a network cut, before the aggregator has let
the old one go) is never read by a ROUTER without handover (``bind_identities``): libzmq
keeps the new pipe aside and does not look at it again. The link connects afresh when the
aggregator has said nothing for a while, and joins once the name is free."""

from __future__ import annotations

import uuid

import pytest
import zmq
from vpp.agents.membership.coordinator import CoordinatorAgent, LinkSettings
from vpp.agents.membership.messages import SiteInfo, distributed_registry
from vpp.agents.membership.site_link import SiteLinkAgent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop

pytestmark = pytest.mark.timeout(60)

NAMES = ["a", "b", "c"]


class _Site:
    def __init__(self, name: str) -> None:
        self.name = name
        self.last_cleared_step = -1

    def info(self) -> SiteInfo:
        return SiteInfo(self.name, ["battery"], -1.0, 1.0)

    def release(self) -> None:
        pass


@pytest.fixture
def rig():
    context = zmq.Context()
    agg = Host("agg", "tcp://127.0.0.1:*", context=context, registry=distributed_registry(),
               bind_identities=True)  # no handover: the first connection keeps the name
    coordinator = agg.add(CoordinatorAgent("coordinator", NAMES, scenario_digest="d" * 64,
                                           seed=1, run_name="r", settings=LinkSettings()))
    hosts = [agg]
    yield context, agg, coordinator, hosts
    for host in hosts[1:]:
        host.close()
    agg.close()
    context.term()


def _holder(context: zmq.Context, endpoint: str) -> zmq.Socket:
    """A connection that takes the name ``north`` first (an earlier process's)."""
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, b"north")
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def _north(context: zmq.Context, agg: Host, hosts: list[Host]) -> tuple[Host, SiteLinkAgent]:
    """The site process ``north``, connected to ``agg`` (its link registers at once)."""
    north = Host("north", f"inproc://n-{uuid.uuid4().hex}", context=context,
                 registry=distributed_registry())
    hosts.append(north)
    north.connect("agg", agg.endpoint, duplex=True)
    link = north.add(SiteLinkAgent([_Site(n) for n in NAMES], digest="d" * 64,
                                   aggregator="agg/coordinator", heartbeat_ms=50,
                                   timeout_ms=150, grace_s=1.0, site_indices=range(3),
                                   n_sites=3))
    return north, link


def test_a_link_stuck_behind_its_old_connection_connects_afresh_and_joins(rig):
    context, agg, coordinator, hosts = rig
    old = _holder(context, agg.endpoint)
    loop = EventLoop(agg)
    loop.run_until(lambda: False, 0.3)  # the old connection is attached under "north"
    north, link = _north(context, agg, hosts)
    loop.add(north)
    # while the old connection holds the name, nothing of the new one is read
    assert not loop.run_until(lambda: link.welcome is not None, 1.0)
    assert coordinator.members == {} and link.reconnects >= 1
    old.close()  # the old process is gone: the next fresh connection gets the name
    assert loop.run_until(lambda: link.welcome is not None, 5.0)
    assert coordinator.members["north"].sites == NAMES


def test_a_link_that_hears_its_aggregator_never_reconnects(rig):
    context, agg, _coordinator, hosts = rig
    north, link = _north(context, agg, hosts)
    loop = EventLoop(agg, north)
    assert loop.run_until(lambda: link.welcome is not None, 5.0)
    loop.run_until(lambda: False, 1.5)  # ten timeouts, joined, heartbeats both ways
    assert link.reconnects == 0 and link.mode.value == "joined"
