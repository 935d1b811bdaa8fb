"""The coordinator's bookkeeping of dispatch acknowledgements at a large fleet's size: the
quick "all acknowledged" answer agrees with the site-by-site one (a stale holder entry
included), an Applied from a site of another host is refused, and earlier steps' acks are
forgotten when the next step is dispatched."""

from __future__ import annotations

import uuid

import pytest
import zmq
from vpp.agents.membership.coordinator import CoordinatorAgent, LinkSettings
from vpp.agents.membership.members import Member
from vpp.agents.membership.messages import distributed_registry
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.coordination.errors import ProtocolError

NAMES = [f"s{i}" for i in range(6)]


@pytest.fixture
def coordinator():
    context = zmq.Context()
    host = Host("agg", f"inproc://a-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry())
    agent = host.add(CoordinatorAgent("coordinator", NAMES, scenario_digest="d" * 64, seed=1,
                                      run_name="r", settings=LinkSettings()))
    for name, sites in (("h1", NAMES[:3]), ("h2", NAMES[3:])):
        agent.members[name] = Member(name, sites, 1)
        for s in sites:
            agent.holder[s] = name
    yield agent
    host.close()
    context.term()


def _ack(agent: CoordinatorAgent, host: str, site: str, step: int) -> None:
    envelope = Envelope(1, "Applied", f"{host}/{site}", "agg/coordinator", f"dispatch/{step}",
                        0, 0.0, b"")
    agent._on_applied(envelope, Applied(step, 1.0, 0.0, 0.0))


def test_unacknowledged_names_exactly_the_missing_sites(coordinator):
    for site in NAMES[:5]:
        _ack(coordinator, coordinator.holder[site], site, 4)
    assert coordinator.unacknowledged(4) == ["h2/s5"]
    _ack(coordinator, "h2", "s5", 4)
    assert coordinator.unacknowledged(4) == []
    assert coordinator.unacknowledged(5) == [f"{coordinator.holder[s]}/{s}" for s in NAMES]


def test_a_stale_holder_entry_is_not_mistaken_for_an_ack(coordinator):
    # h2 registered again without s5: the holder still names it, no ack can come for it
    coordinator.members["h2"] = Member("h2", ["s3", "s4"], 2)
    for site in NAMES[:5]:
        _ack(coordinator, coordinator.holder[site], site, 0)
    assert coordinator.unacknowledged(0) == ["h2/s5"]


def test_an_applied_for_another_hosts_site_is_refused(coordinator):
    with pytest.raises(ProtocolError, match="not a site of h2"):
        _ack(coordinator, "h2", "s0", 0)
    assert coordinator.applied(0) == {}


def test_earlier_steps_acks_are_forgotten_at_the_next_dispatch(coordinator):
    for site in NAMES:
        _ack(coordinator, coordinator.holder[site], site, 0)
    assert set(coordinator.applied(0)) == set(NAMES)
    for host in ("h1", "h2"):  # no site host is connected here: the sends are dropped
        coordinator.host.route_back(host)
        coordinator.host.forget_route(host)
    coordinator.dispatch(StepCleared(1, 0.0, 0.0, 0.0, None))
    coordinator.end_dispatch()
    assert coordinator.applied(0) == {}
