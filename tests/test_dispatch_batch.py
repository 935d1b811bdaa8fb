"""A step's outcome once per site host, its sites' acknowledgements back in batches: how a
host's ``Applied`` are cut into batches under the frame cap, what the coordinator keeps of
a batch and what it refuses (naming the field), that it sends the outcome to the hosts'
links and again only to hosts not done, and that a link runs the outcome on its sites and
answers for all of them (a resend running nothing twice)."""

from __future__ import annotations

import msgspec
import pytest
from vpp.agents.membership.dispatch_batch import (
    APPLIED_BYTES,
    BATCH_BYTES,
    accepted,
    applied_batches,
    entry_bytes,
)
from vpp.agents.membership.messages import AppliedBatch
from vpp.agents.membership.site_link import SiteLinkAgent
from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.messages import CallForBids
from vpp.runs.placement.site_process import build_sites
from vpp.runs.scenario import BUNDLED, load

from tests.coordinator_rig import two_host_coordinator

NAMES = [f"s{i}" for i in range(6)]


def _applied(step: int, i: int) -> Applied:
    return Applied(step, 1.5 * i, 0.25 * i, 10.0 + i, planned_kw=None if i % 2 else -2.0 * i,
                   cost_eur=0.125 * i, battery_energy_gap_kwh=None if i % 3 else 1e-3 * i)


def test_applied_bytes_bounds_every_applied():
    for a in (_applied(3, 7), _applied(2**40, 2), Applied(0, 0.0, 0.0, 0.0)):
        assert len(msgspec.msgpack.encode(a)) <= APPLIED_BYTES


def test_batches_keep_every_ack_in_order_and_each_fits_a_frame():
    names = [f"site-with-a-long-name-{i:06d}" for i in range(9000)]
    acks = [_applied(5, i) for i in range(len(names))]
    batches = applied_batches(5, names, acks, [entry_bytes(n) for n in names])
    assert len(batches) > 1
    assert [s for b in batches for s in b.sites] == names
    assert [a for b in batches for a in b.applied] == acks
    for b in batches:
        assert b.step == 5 and len(b.sites) == len(b.applied)
        assert len(msgspec.msgpack.encode(b)) <= BATCH_BYTES < DEFAULT_MAX_FRAME_BYTES
    # as full as fits: one entry more would not have fitted the first batch
    first = batches[0]
    assert sum(entry_bytes(n) for n in names[:len(first.sites) + 1]) > BATCH_BYTES


def test_few_acks_go_in_one_batch_and_none_in_no_batch():
    (batch,) = applied_batches(1, NAMES, [_applied(1, i) for i in range(6)],
                               [entry_bytes(n) for n in NAMES])
    assert batch.sites == NAMES
    assert applied_batches(1, [], [], []) == []
    with pytest.raises(ValueError, match="part_bytes"):
        applied_batches(1, NAMES, [], [], part_bytes=0)


OWN = frozenset(NAMES[:3])


@pytest.mark.parametrize("batch, field", [
    (AppliedBatch(2, ["s0", "s1"], [_applied(2, 0)]), "AppliedBatch.applied has 1 entries"),
    (AppliedBatch(2, ["s0", "s1"], [_applied(2, 0), _applied(1, 1)]),
     r"AppliedBatch.applied\[1\].step is 1"),
    (AppliedBatch(2, ["s0", "s0"], [_applied(2, 0), _applied(2, 1)]),
     "AppliedBatch.sites names a site twice"),
])
def test_a_bad_batch_is_refused_naming_its_field(batch, field):
    with pytest.raises(ProtocolError, match=field):
        accepted(batch, OWN, "h1")


def test_another_hosts_sites_are_dropped_and_the_rest_kept():
    batch = AppliedBatch(2, ["s0", "s4", "s2", "s5"], [_applied(2, i) for i in range(4)])
    kept, rejected = accepted(batch, OWN, "h1")
    assert kept == {"s0": _applied(2, 0), "s2": _applied(2, 2)}
    assert rejected == ["s4", "s5"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_number_not_finite_is_refused_by_the_decoder_naming_the_field(value):
    raw = msgspec.msgpack.encode({"step": 1, "sites": ["s0", "s1"], "applied": [
        msgspec.structs.asdict(_applied(1, 0)),
        {**msgspec.structs.asdict(_applied(1, 1)), "cost_eur": value}]})
    with pytest.raises(msgspec.ValidationError, match=r"\$\.applied\[1\]\.cost_eur"):
        msgspec.msgpack.decode(raw, type=AppliedBatch)


@pytest.fixture
def coordinator():
    with two_host_coordinator(NAMES) as agent:
        sent: list[tuple[str, object]] = []
        agent.send = lambda receiver, body, **kw: sent.append((receiver, body))
        yield agent, sent


def _batch(agent, sender: str, step: int, sites: list[str]) -> None:
    envelope = Envelope(WIRE_VERSION, "AppliedBatch", sender, "agg/coordinator",
                        f"dispatch/{step}", 0, 0.0, b"")
    agent._on_applied_batch(envelope, AppliedBatch(
        step, sites, [_applied(step, int(s[1:])) for s in sites]))


def test_the_outcome_goes_to_each_hosts_link_and_again_only_where_acks_are_missing(
        coordinator):
    agent, sent = coordinator
    cleared = StepCleared(0, 10.0, 9.0, 1.0, 50.0)
    agent.dispatch(cleared)
    assert sent == [("h1/link", cleared), ("h2/link", cleared)]
    _batch(agent, "h1/link", 0, ["s0", "s1"])
    _batch(agent, "h1/link", 0, ["s2"])
    _batch(agent, "h2/link", 0, ["s3", "s5"])
    assert not agent.acknowledged(0) and agent.unacknowledged(0) == ["h2/s4"]
    sent.clear()
    agent._on_ack_due()
    assert sent == [("h2/link", cleared)]
    _batch(agent, "h2/link", 0, ["s4"])
    assert agent.acknowledged(0) and agent.unacknowledged(0) == []
    assert agent.applied(0) == {s: _applied(0, int(s[1:])) for s in NAMES}
    agent.end_dispatch()


def test_a_batch_from_a_site_not_a_link_is_refused_and_foreign_sites_counted(coordinator):
    agent, _ = coordinator
    agent.dispatch(StepCleared(0, 10.0, 9.0, 1.0, 50.0))
    with pytest.raises(ProtocolError, match="not a host's link"):
        _batch(agent, "h1/s0", 0, ["s0"])
    _batch(agent, "h1/link", 0, ["s0", "s3"])   # s3 is h2's
    assert agent.rejected_acks == 1
    assert agent.applied(0) == {"s0": _applied(0, 0)}
    for step in (5, -1):                        # steps never dispatched
        with pytest.raises(ProtocolError, match=f"AppliedBatch.step {step} is not a step"):
            _batch(agent, "h1/link", step, ["s1"])
    agent.end_dispatch()


def test_a_link_runs_the_outcome_on_its_sites_and_answers_for_all_once():
    scenario = load(BUNDLED / "default.yaml")
    names = scenario.site_names()[:6]  # battery-park among them
    sites, indices = build_sites(scenario, names, "<t>")
    link = SiteLinkAgent(sites, digest="d" * 64, aggregator="agg/coordinator",
                         heartbeat_ms=250, timeout_ms=1500, grace_s=1.0,
                         site_indices=indices, n_sites=len(scenario.site_names()))
    sent: list[tuple[str, object, dict]] = []
    link.send = lambda receiver, body, **kw: sent.append((receiver, body, kw))
    envelope = Envelope(WIRE_VERSION, "StepCleared", "agg/coordinator", "h/link",
                        "dispatch/1", 0, 0.0, b"")
    cleared = StepCleared(1, 10.0, 9.0, 1.0, 50.0)
    link._on_cleared(envelope, cleared)
    ((receiver, batch, kw),) = sent
    assert receiver == "agg/coordinator" and kw["conversation"] == "dispatch/1"
    assert batch.step == 1 and batch.sites == names
    assert batch.applied == [s.applied(1) for s in sites]
    assert all(s.last_cleared_step == 1 for s in sites)  # step 0 caught up at baselines
    stored = [s.stored_kwh for s in sites]
    sent.clear()
    link._on_cleared(envelope, cleared)                   # a resend: nothing runs again
    ((_, again, _),) = sent
    assert again == batch and [s.stored_kwh for s in sites] == stored


def test_a_late_batch_of_an_earlier_step_is_ignored_and_counted(coordinator):
    agent, _ = coordinator
    agent.dispatch(StepCleared(0, 10.0, 9.0, 1.0, 50.0))
    agent.end_dispatch()
    agent.dispatch(StepCleared(1, 10.0, 9.0, 1.0, 50.0))
    _batch(agent, "h1/link", 0, ["s0", "s1", "s2"])   # step 0's outcome answered twice
    assert agent.late_acks == 3 and agent.members["h1"].applied == {}
    _batch(agent, "h1/link", 1, ["s0", "s1", "s2"])
    assert agent.applied(1) == {s: _applied(1, int(s[1:])) for s in ("s0", "s1", "s2")}
    assert agent.unacknowledged(1) == ["h2/s3", "h2/s4", "h2/s5"]
    agent.end_dispatch()


def test_a_step_outside_the_run_is_refused_naming_its_field_before_anything_runs():
    # (a peer's far step would otherwise make each site run every step up to it)
    scenario = load(BUNDLED / "default.yaml")
    names = scenario.site_names()[:3]
    sites, indices = build_sites(scenario, names, "<t>")
    assert [s.last_step for s in sites] == [scenario.steps - 1] * 3
    link = SiteLinkAgent(sites, digest="d" * 64, aggregator="agg/coordinator",
                         heartbeat_ms=250, timeout_ms=1500, grace_s=1.0,
                         site_indices=indices, n_sites=len(scenario.site_names()))
    sent: list = []
    link.send = lambda receiver, body, **kw: sent.append(body)
    envelope = Envelope(WIRE_VERSION, "StepCleared", "agg/coordinator", "h/link",
                        "dispatch/1", 0, 0.0, b"")
    stored = [s.stored_kwh for s in sites]
    for step in (10**12, scenario.steps, -1):
        with pytest.raises(ProtocolError, match=rf"StepCleared.step {step} is outside the "
                                                rf"run's steps 0..{scenario.steps - 1}"):
            link._on_cleared(envelope, StepCleared(step, 10.0, 9.0, 1.0, 50.0))
    call = CallForBids(10**12, 0.0, 900.0, 10.0, 0.0, 1000)
    with pytest.raises(ProtocolError, match=r"CallForBids.step 1000000000000 is outside"):
        sites[0]._on_call(envelope, call)
    assert sent == [] and [s.last_cleared_step for s in sites] == [-1] * 3
    assert [s.stored_kwh for s in sites] == stored
    # the run's last step is taken (the steps before it caught up at the baselines)
    link._on_cleared(envelope, StepCleared(scenario.steps - 1, 10.0, 9.0, 1.0, 50.0))
    ((batch,),) = [sent]
    assert batch.step == scenario.steps - 1 and batch.sites == names
    assert [s.last_cleared_step for s in sites] == [scenario.steps - 1] * 3
