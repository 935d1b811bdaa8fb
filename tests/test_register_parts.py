"""A site process with more sites than fit one frame registers in parts; parts out of
order, duplicated, or claiming more than a host may are refused naming the field; an
unfinished registration is dropped and counted; nothing is held after."""

from __future__ import annotations

import os
import re
import uuid

import msgspec
import pytest
import zmq
from vpp.agents.membership.coordinator import CoordinatorAgent, LinkSettings
from vpp.agents.membership.joining import JoinAssembler, JoinRefused
from vpp.agents.membership.messages import (
    Refused,
    Register,
    SiteInfo,
    Welcome,
    distributed_registry,
)
from vpp.agents.membership.site_link import SiteLinkAgent, register_parts
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.limits import MAX_REGISTER_PARTS
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.errors import ProtocolError

pytestmark = pytest.mark.timeout(60)

DIGEST = "d" * 64
NAMES = [f"site-{i:04d}-with-a-longish-name" for i in range(300)]
CAP = 8192  # the aggregator's frame cap here: 300 sites do not fit one frame


class _Site:
    """What the link asks of a site: its description."""

    def __init__(self, name: str, i: int) -> None:
        self.name = name
        self.last_cleared_step = -1
        self._info = SiteInfo(name, ["battery", "pv"], -float(i), float(i))

    def info(self) -> SiteInfo:
        return self._info

    def release(self) -> None:
        pass


class _Link(Agent):
    """A hand-driven link: sends what the test gives it, keeps the answers."""

    role = "link"

    def __init__(self) -> None:
        super().__init__("link")
        self.answers: list = []
        self.on(Refused, lambda env, r: self.answers.append(r))
        self.on(Welcome, lambda env, w: self.answers.append(w))


@pytest.fixture
def rig():
    context = zmq.Context()
    endpoint = f"inproc://agg-{uuid.uuid4().hex}"
    agg = Host("agg", f"inproc://a-{uuid.uuid4().hex}", context=context,
               registry=distributed_registry(), max_frame_bytes=CAP)
    agg.listen(endpoint)
    coordinator = agg.add(CoordinatorAgent(
        "coordinator", NAMES, scenario_digest=DIGEST, seed=1, run_name="r",
        settings=LinkSettings()))
    hosts = [agg]

    def site_host(name: str) -> Host:
        host = Host(name, f"inproc://{name}-{uuid.uuid4().hex}", context=context,
                    registry=distributed_registry())
        host.connect("agg", endpoint, duplex=True)
        hosts.append(host)
        return host

    yield coordinator, site_host, lambda: EventLoop(*hosts)
    for h in hosts:
        h.close()
    context.term()


def test_register_parts_split_by_size_and_keep_every_site():
    infos = [_Site(n, i).info() for i, n in enumerate(NAMES)]
    parts = register_parts("h", infos, DIGEST, 7, ["north"], part_bytes=2000)
    assert len(parts) > 3
    assert [p.part for p in parts] == list(range(len(parts)))
    assert {p.parts for p in parts} == {len(parts)} and {p.total for p in parts} == {300}
    assert [s.name for p in parts for s in p.sites] == NAMES
    assert all(len(msgspec.msgpack.encode(p.sites)) <= 2000 + 64 for p in parts)
    assert [p.regions for p in parts] == [[]] * (len(parts) - 1) + [["north"]]
    one = register_parts("h", infos[:3], DIGEST, 7, part_bytes=2000)
    assert len(one) == 1 and (one[0].part, one[0].parts, one[0].total) == (0, 1, -1)


def test_more_sites_than_fit_one_frame_join_in_parts(rig):
    coordinator, site_host, loop_of = rig
    whole = Register("big", [_Site(n, i).info() for i, n in enumerate(NAMES)], DIGEST, 1)
    assert len(msgspec.msgpack.encode(whole)) > CAP  # one Register could not join
    host = site_host("big")
    link = host.add(SiteLinkAgent([_Site(n, i) for i, n in enumerate(NAMES)], digest=DIGEST,
                                  aggregator="agg/coordinator", heartbeat_ms=250,
                                  timeout_ms=1500, grace_s=1.0, site_indices=range(300),
                                  n_sites=300, regions=["north"], part_bytes=CAP // 2))
    loop = loop_of()
    assert loop.run_until(lambda: link.welcome is not None, 10)
    assert link.welcome.sites == [] and link.welcome.registered == 300
    member = coordinator.members["big"]
    assert member.sites == NAMES and member.regions == ["north"]
    assert coordinator.joined() == set(NAMES) and coordinator.refusals == 0
    assert coordinator.joins.pending == 0
    assert coordinator.host.stats.dropped_total == 0


def test_a_host_of_many_sites_is_given_a_longer_silence_and_told(rig):
    # 300 sites at 10 ms a site: 3 s, against the link's 1.5 s (a host answering for all its
    # sites in one pass sends no heartbeat meanwhile)
    coordinator, site_host, loop_of = rig
    coordinator.site_call_ms = 10.0
    host = site_host("big")
    link = host.add(SiteLinkAgent([_Site(n, i) for i, n in enumerate(NAMES)], digest=DIGEST,
                                  aggregator="agg/coordinator", heartbeat_ms=250,
                                  timeout_ms=1500, grace_s=1.0, site_indices=range(300),
                                  n_sites=300, part_bytes=CAP // 2))
    loop = loop_of()
    assert loop.run_until(lambda: link.welcome is not None, 10)
    assert link.welcome.timeout_ms == 3000
    heard = coordinator.liveness.last_seen("big")
    assert coordinator.liveness.expire(heard + 2.0) == []       # past the link's 1.5 s
    assert coordinator.liveness.expire(heard + 3.1) == ["big"]


def test_a_host_of_many_sites_may_send_in_proportion_to_them():
    # the aggregator's rate limit is meant for a host of SITES_PER_PEER_RATE sites: one of
    # 300 bids three times as much in a round, and is let through three times as much
    from vpp.agents.runtime.limits import SITES_PER_PEER_RATE, RateLimiter

    context = zmq.Context()
    endpoint = f"inproc://agg-{uuid.uuid4().hex}"
    limiter = RateLimiter(5000.0, 10000.0)
    agg = Host("agg", f"inproc://a-{uuid.uuid4().hex}", context=context,
               registry=distributed_registry(), limiter=limiter)
    agg.listen(endpoint)
    coordinator = agg.add(CoordinatorAgent("coordinator", NAMES, scenario_digest=DIGEST,
                                           seed=1, run_name="r", settings=LinkSettings()))
    host = Host("big", f"inproc://big-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry())
    host.connect("agg", endpoint, duplex=True)
    try:
        link = host.add(SiteLinkAgent([_Site(n, i) for i, n in enumerate(NAMES)],
                                      digest=DIGEST, aggregator="agg/coordinator",
                                      heartbeat_ms=250, timeout_ms=1500, grace_s=1.0,
                                      site_indices=range(300), n_sites=300))
        loop = EventLoop(agg, host)
        assert loop.run_until(lambda: link.welcome is not None, 10)
        assert limiter.weight("big") == 300 / SITES_PER_PEER_RATE == 3.0
        coordinator._drop_member("big")  # lost or stopped: the plain rate again
        assert limiter.weight("big") == 1.0
    finally:
        host.close()
        agg.close()
        context.term()


def _send(loop, link: _Link, *regs: Register, wait_s: float = 1.0) -> list:
    before = len(link.answers)
    for reg in regs:
        link.send("agg/coordinator", reg, conversation="join/evil")
    loop.run_until(lambda: len(link.answers) > before, wait_s)
    loop.run_once(0.05)
    return link.answers[before:]


def _part(sites: list[str], part: int, parts: int, total: int) -> Register:
    return Register("evil", [SiteInfo(n, [], 0.0, 1.0) for n in sites], DIGEST, 1,
                    part=part, parts=parts, total=total)


@pytest.mark.parametrize(("regs", "field"), [
    ([_part(NAMES[:3], 0, 3, 9), _part(NAMES[6:9], 2, 3, 9)],
     r"Register\.part 2 out of order: expected part 1"),
    ([_part(NAMES[:3], 0, 3, 9), _part(NAMES[3:6], 1, 3, 9), _part(NAMES[6:9], 1, 3, 9)],
     r"Register\.part 1 again \(a duplicate\)"),
    ([_part(NAMES[:3], 0, 2, 10_000)], r"Register\.total must be 2 .* to 300"),
    ([_part(NAMES[:3], 0, MAX_REGISTER_PARTS + 1, 300)], r"Register\.parts must be 1 to"),
    ([_part(NAMES[:3], 0, 3, 9), _part(NAMES[2:5], 1, 3, 9)],
     r"Register\.sites: site '.*0002.*' listed twice"),
    ([_part(NAMES[:3], 0, 2, 4), _part(NAMES[3:6], 1, 2, 4)],
     r"Register\.total says 4 sites; part 1 brings the count to 6"),
    ([_part(NAMES[:3], 0, 2, 9), _part(NAMES[3:6], 1, 3, 9)], r"Register\.parts changed"),
    ([_part(["nowhere"], 0, 2, 2)], r"Register\.sites: sites not in the scenario"),
])
def test_bad_parts_are_refused_naming_the_field(rig, regs, field):
    coordinator, site_host, loop_of = rig
    host = site_host("evil")
    link = host.add(_Link())
    answers = _send(loop_of(), link, *regs)
    assert len(answers) == 1 and isinstance(answers[0], Refused), answers
    assert re.search(field, answers[0].reason), answers[0].reason
    # nothing held for the refused host, nobody joined
    assert coordinator.joins.pending == 0 and coordinator.members == {}
    assert coordinator.refusals == 1


def test_a_registration_is_complete_only_with_its_last_part(rig):
    coordinator, site_host, loop_of = rig
    link = site_host("evil").add(_Link())
    loop = loop_of()
    assert _send(loop, link, _part(NAMES[:3], 0, 2, 5), wait_s=0.3) == []  # no answer to part 0 alone
    assert coordinator.joins.pending == 1 and coordinator.members == {}
    answers = _send(loop, link, _part(NAMES[3:5], 1, 2, 5))
    assert isinstance(answers[0], Welcome) and answers[0].registered == 5
    assert coordinator.members["evil"].sites == NAMES[:5] and coordinator.joins.pending == 0
    # a part with no part 0 before it (say, part 0 was dropped): dropped, not refused
    assert _send(loop, link, _part(NAMES[5:8], 1, 2, 6), wait_s=0.3) == []
    assert coordinator.refusals == 0 and coordinator.joins.pending == 0
    assert coordinator.host.stats.dropped_total == 1


def test_an_unfinished_registration_is_dropped_and_counted_and_pending_is_bounded():
    joins = JoinAssembler(set(NAMES), deadline_s=1.5, max_pending=2)
    assert joins.add("a", _part(NAMES[:2], 0, 2, 4), now_s=0.0) is None
    assert joins.add("b", _part(NAMES[2:4], 0, 2, 4), now_s=1.0) is None
    with pytest.raises(ProtocolError, match="2 registrations in parts under way"):
        joins.add("c", _part(NAMES[4:6], 0, 2, 4), now_s=1.0)
    assert joins.expire(1.4) == [] and joins.pending == 2
    assert joins.expire(1.6) == ["a"] and joins.expired == 1 and joins.pending == 1
    # a's late part 1 finds nothing begun: dropped (a sends part 0 again), nothing kept
    with pytest.raises(ProtocolError, match=r"Register\.part 1 of 2 from a with no part 0"):
        joins.add("a", _part(NAMES[6:8], 1, 2, 4), now_s=1.7)
    done = joins.add("b", _part(NAMES[8:10], 1, 2, 4), now_s=1.8)
    assert done is not None and done.sites == NAMES[2:4] + NAMES[8:10]
    assert joins.pending == 0
    assert joins.add("b", _part(NAMES[:2], 0, 3, 6), now_s=2.0) is None
    with pytest.raises(JoinRefused, match=r"Register\.part 2 out of order: expected part 1"):
        joins.add("b", _part(NAMES[4:6], 2, 3, 6), now_s=2.0)
    assert joins.pending == 0


def test_the_sites_held_part_way_are_bounded_by_twice_the_fleet():
    joins = JoinAssembler(set(NAMES[:10]), deadline_s=1.5)
    assert joins.add("a", _part(NAMES[:2], 0, 2, 10), now_s=0.0) is None
    assert joins.add("b", _part(NAMES[:2], 0, 2, 10), now_s=0.0) is None  # 20 reserved
    with pytest.raises(ProtocolError, match="for 20 sites; dropped"):
        joins.add("c", _part(NAMES[:2], 0, 2, 2), now_s=0.0)
    assert joins.add("a", _part(NAMES[:1], 0, 2, 2), now_s=0.1) is None  # a begins again
    assert joins.add("c", _part(NAMES[:2], 0, 2, 2), now_s=0.1) is None  # 14 reserved
    assert joins.pending == 3


def test_a_registration_in_parts_is_sent_again_once_per_timeout_not_every_heartbeat(rig):
    _, site_host, loop_of = rig
    host = site_host("slow")
    sites = [_Site(n, i) for i, n in enumerate(NAMES)]
    link = host.add(SiteLinkAgent(sites, digest="another scenario", aggregator="agg/nobody",
                                  heartbeat_ms=20, timeout_ms=10_000, grace_s=1.0,
                                  site_indices=range(300), n_sites=300, part_bytes=CAP // 2))
    sent: list = []
    link.send = lambda receiver, body, **kw: sent.append(body)  # what it would send
    loop = loop_of()
    loop.run_until(lambda: False, 0.3)  # about 15 heartbeats, all before the timeout
    parts = register_parts("slow", [s.info() for s in sites], "another scenario", os.getpid(),
                           part_bytes=CAP // 2)
    assert len(parts) > 1 and sent == parts  # the whole registration, once
    link.watch.timeout_s = 0.1  # past the timeout it is sent again, whole
    loop.run_until(lambda: len(sent) >= 2 * len(parts), 2.0)
    loop.run_once(0.0)
    assert sent[len(parts):2 * len(parts)] == parts


def test_log_lines_name_at_most_ten_sites_of_a_host():
    from vpp.agents.membership.liveness import few

    assert few(NAMES[:2]) == repr(NAMES[:2])
    line = few(NAMES)
    assert line.startswith(repr(NAMES[:10])[:-1] + ", ...]") and line.endswith("(300 sites)")
    assert NAMES[10] not in line


def test_a_deadline_with_thousands_of_sites_silent_names_ten(caplog):
    # a lost host of 40,000 sites made one warning a round of 1.2 MB
    import logging
    from types import SimpleNamespace

    from vpp.agents.merit_order.aggregator import AggregatorAgent

    agent = AggregatorAgent("aggregator", [f"h/{n}" for n in NAMES])
    silent = {f"h/{n}" for n in NAMES}
    agent.auction = SimpleNamespace(done=False, step=3, round=1, waiting_for=silent,
                                    on_deadline=lambda: [])
    agent._emit = lambda outgoing: None
    with caplog.at_level(logging.WARNING, logger="vpp.agents.merit_order.aggregator"):
        agent._on_deadline()
    (line,) = caplog.messages
    assert "step 3 round 1" in line and line.endswith("(300 sites)")
    assert len(line) < 1000
