"""The coordinator's bookkeeping of dispatch acknowledgements at a large fleet's size: the
quick "all acknowledged" answer agrees with the site-by-site one (a stale holder entry
included), an Applied from a site of another host is refused, and earlier steps' acks are
forgotten when the next step is dispatched."""

from __future__ import annotations

import pytest
from vpp.agents.membership.coordinator import CoordinatorAgent
from vpp.agents.membership.members import Member
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.coordination.errors import ProtocolError

from tests.coordinator_rig import two_host_coordinator

NAMES = [f"s{i}" for i in range(6)]


@pytest.fixture
def coordinator():
    with two_host_coordinator(NAMES) as agent:
        yield agent


def _dispatch(agent: CoordinatorAgent, step: int) -> None:
    """Dispatch ``step`` (no site host is connected here: the sends are dropped)."""
    for host in agent.members:
        agent.host.route_back(host)
        agent.host.forget_route(host)
    agent.dispatch(StepCleared(step, 0.0, 0.0, 0.0, None))


def _ack(agent: CoordinatorAgent, host: str, site: str, step: int) -> None:
    envelope = Envelope(1, "Applied", f"{host}/{site}", "agg/coordinator", f"dispatch/{step}",
                        0, 0.0, b"")
    agent._on_applied(envelope, Applied(step, 1.0, 0.0, 0.0))


def test_unacknowledged_names_exactly_the_missing_sites(coordinator):
    _dispatch(coordinator, 4)
    for site in NAMES[:5]:
        _ack(coordinator, coordinator.holder[site], site, 4)
    assert coordinator.unacknowledged(4) == ["h2/s5"]
    _ack(coordinator, "h2", "s5", 4)
    assert coordinator.unacknowledged(4) == []
    assert coordinator.unacknowledged(5) == [f"{coordinator.holder[s]}/{s}" for s in NAMES]


def test_a_stale_holder_entry_is_not_mistaken_for_an_ack(coordinator):
    # h2 registered again without s5: the holder still names it, no ack can come for it
    coordinator.members["h2"] = Member("h2", ["s3", "s4"], 2)
    _dispatch(coordinator, 0)
    for site in NAMES[:5]:
        _ack(coordinator, coordinator.holder[site], site, 0)
    assert coordinator.unacknowledged(0) == ["h2/s5"]


def test_an_applied_for_another_hosts_site_is_refused(coordinator):
    _dispatch(coordinator, 0)
    with pytest.raises(ProtocolError, match="not a site of h2"):
        _ack(coordinator, "h2", "s0", 0)
    assert coordinator.applied(0) == {}


def test_earlier_steps_acks_are_forgotten_at_the_next_dispatch(coordinator):
    _dispatch(coordinator, 0)
    for site in NAMES:
        _ack(coordinator, coordinator.holder[site], site, 0)
    assert set(coordinator.applied(0)) == set(NAMES)
    coordinator.end_dispatch()
    _dispatch(coordinator, 1)
    coordinator.end_dispatch()
    assert coordinator.applied(0) == {}


def test_only_the_newest_dispatched_steps_acks_are_kept(coordinator):
    # before any dispatch, and past the newest, an ack names a step never dispatched
    with pytest.raises(ProtocolError, match=r"Applied.step 0 is not a step dispatched \(none"):
        _ack(coordinator, "h1", "s0", 0)
    _dispatch(coordinator, 0)
    _dispatch(coordinator, 1)
    with pytest.raises(ProtocolError, match=r"Applied.step 7 is not a step dispatched \(0 to 1"):
        _ack(coordinator, "h1", "s0", 7)
    # a late repeat of step 0 (a resend answered twice) is ignored and counted, not kept
    for site in NAMES[:3]:
        _ack(coordinator, "h1", site, 0)
    assert coordinator.late_acks == 3
    assert coordinator.applied(0) == {} and coordinator.members["h1"].applied == {}
    _ack(coordinator, "h1", "s0", 1)
    assert coordinator.applied(1) == {"s0": Applied(1, 1.0, 0.0, 0.0)}
    assert coordinator.unacknowledged(1) == [f"{coordinator.holder[s]}/{s}" for s in NAMES[1:]]
