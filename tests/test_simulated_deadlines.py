"""Timers on the clock: under a simulated timer clock a deadline is simulated time, fires
only once every host of the loop is quiescent, at the instant it was due, and never past
the horizon; wall timers stay wall timers (docs/runtime.md, Time)."""

from __future__ import annotations

import math
import time

import msgspec
import pytest
import zmq
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop, SimulationStalled
from vpp.agents.runtime.messages import KindRegistry
from vpp.agents.runtime.timers import TimerQueue


class Ping(msgspec.Struct):
    hops: int


class Pong(msgspec.Struct):
    hops: int


class Expired(msgspec.Struct):
    at: float


KINDS = KindRegistry([Ping, Pong, Expired])


class Asker(Agent):
    """Sends a Ping, arms a deadline; on the deadline tells the other side it expired."""

    role = "asker"

    def __init__(self, name: str, peer: str, deadline_s: float) -> None:
        super().__init__(name)
        self.peer, self.deadline_s = peer, deadline_s
        self.answered_at: float | None = None
        self.expired_at: float | None = None
        self.timer = None
        self.on(Pong, self._pong)
        self.on(Ping, lambda env, ping: self.send(env.sender, Ping(ping.hops)))

    def ask(self, hops: int) -> None:
        self.send(self.peer, Ping(hops))
        self.timer = self.host.call_later(self.deadline_s, self._expired)

    def _pong(self, env, pong) -> None:
        self.answered_at = self.clock.now()
        self.timer.cancel()

    def _expired(self) -> None:
        self.expired_at = self.clock.now()
        self.send(self.peer, Expired(self.expired_at))


class Relay(Agent):
    """Bounces a Ping back to its sender ``hops`` times, taking ``work_s`` wall seconds
    each time (a site slow to answer), then answers Pong; or never answers (``mute``)."""

    role = "relay"

    def __init__(self, name: str, work_s: float = 0.0, mute: bool = False) -> None:
        super().__init__(name)
        self.work_s, self.mute = work_s, mute
        self.bounces = 0
        self.told: list[tuple[float, float]] = []  # (Expired.at, envelope sim_time)
        self.on(Ping, self._ping)
        self.on(Expired, lambda env, e: self.told.append((e.at, env.sim_time)))

    def _ping(self, env, ping) -> None:
        if self.mute:
            return
        time.sleep(self.work_s)
        self.bounces += 1
        if ping.hops > 0:
            self.send(env.sender, Ping(ping.hops - 1))
        else:
            self.send(env.sender, Pong(0))


def _pair(context, endpoint, clock, timer_clock):
    agg = Host("agg", endpoint("agg"), context=context, registry=KINDS, clock=clock,
               timer_clock=timer_clock)
    sites = Host("sites", endpoint("sites"), context=context, registry=KINDS, clock=clock,
                 timer_clock=timer_clock)
    agg.connect("sites", sites.endpoint)
    sites.connect("agg", agg.endpoint)
    return agg, sites


# -- the claim quiescence rests on ------------------------------------------------------
def test_inproc_sends_are_visible_to_the_peers_poll_at_once(context, endpoint):
    """An addressed batch flushed to an inproc peer, and a broadcast, are seen by a poll
    with no wait right after the send: a loop that polls and finds nothing has nothing
    in flight."""
    clock = SimulatedClock()
    a = Host("a", endpoint("a"), context=context, registry=KINDS, clock=clock)
    b = Host("b", endpoint("b"), context=context, registry=KINDS, clock=clock,
             pub_endpoint=endpoint("b-pub"))
    a.connect("b", b.endpoint, b.pub_endpoint)
    b.connect("a", a.endpoint)
    sender, listener = b.add(Agent("sender")), a.add(Agent("listener"))
    a.subscribe(listener, "news")
    EventLoop(a, b).run_once(0.0)
    poller = zmq.Poller()
    poller.register(b.router, zmq.POLLIN)
    poller.register(a.sub, zmq.POLLIN)
    for i in range(2000):
        a._peers["b"].send(b"x")  # one raw frame, as flush_out sends a batch
        assert dict(poller.poll(0)).get(b.router) == zmq.POLLIN, i
        b.router.recv_multipart()
        sender.publish("news", Ping(i))
        assert dict(poller.poll(0)).get(a.sub) == zmq.POLLIN, i
        a.sub.recv()
    assert not poller.poll(0)
    a.close()
    b.close()


# -- the queue ---------------------------------------------------------------------------
def test_a_simulated_timer_is_due_on_simulated_time():
    clock = SimulatedClock()
    clock.advance_to(10.0)
    queue = TimerQueue(clock)
    fired = []
    queue.schedule(2.0, lambda: fired.append(("late", clock.now())))
    queue.schedule(0.5, lambda: fired.append(("soon", clock.now())))
    queue.schedule(0.5, lambda: fired.append(("tie", clock.now())))
    queue.schedule(1.0, lambda: fired.append("never")).cancel()
    queue.schedule(-3.0, lambda: fired.append(("past", clock.now())))
    assert queue.simulated and queue.next_due() == 10.0 and queue.next_in() == 0.0
    time.sleep(0.01)  # wall time passing changes nothing
    assert queue.run_due() == 1 and fired == [("past", 10.0)]
    assert queue.next_due() == 10.5 and queue.next_in() == 0.5
    clock.advance_to(10.4999)
    assert queue.run_due() == 0
    clock.advance_to(12.0)
    assert queue.run_due() == 3
    assert fired[1:] == [("soon", 12.0), ("tie", 12.0), ("late", 12.0)]
    assert queue.next_due() is None and queue.next_in() is None
    with pytest.raises(ValueError, match="NaN"):
        queue.schedule(math.nan, lambda: None)


def test_a_timer_scheduled_by_a_callback_waits_for_the_next_run():
    clock = SimulatedClock()
    queue = TimerQueue(clock)
    fired = []

    def first():
        fired.append("first")
        queue.schedule(0.0, lambda: fired.append("second"))

    queue.schedule(0.0, first)
    assert queue.run_due() == 1 and fired == ["first"]
    assert queue.run_due() == 1 and fired == ["first", "second"]


def test_wall_timers_stay_on_wall_time_even_with_a_simulated_envelope_clock(context, endpoint):
    """The distributed aggregator's case: envelopes carry simulated time, deadlines and
    heartbeats are wall time, and the loop moves no clock."""
    clock = SimulatedClock()
    agg, sites = _pair(context, endpoint, clock, None)
    loop = EventLoop(agg, sites)
    assert loop.clock is None and agg.timers.simulated_clock is None
    fired = []
    t0 = time.monotonic()
    agg.call_later(0.05, lambda: fired.append(time.monotonic() - t0))
    # a horizon means nothing to a wall loop: it waits on wall time
    assert loop.run_until(lambda: bool(fired), 5.0, horizon_s=1e9)
    assert fired[0] >= 0.05 and clock.now() == 0.0
    agg.close()
    sites.close()


# -- the loop ----------------------------------------------------------------------------
def test_a_deadline_waits_until_every_host_is_quiescent(context, endpoint):
    """A site that takes ten times the deadline in wall time, over twenty messages between
    the hosts, still answers in time: while anything moves, simulated time stands still."""
    clock = SimulatedClock()
    agg, sites = _pair(context, endpoint, clock, clock)
    asker = agg.add(Asker("asker", "sites/relay", deadline_s=0.01))
    relay = sites.add(Relay("relay", work_s=0.01))
    loop = EventLoop(agg, sites)
    assert loop.clock is clock
    asker.ask(hops=10)
    assert loop.run_until(lambda: asker.answered_at is not None, 30.0, horizon_s=60.0)
    assert relay.bounces == 11 and asker.answered_at == 0.0 and asker.expired_at is None
    assert clock.now() == 0.0  # the answer came first: time never had to move
    agg.close()
    sites.close()


def test_a_silent_site_meets_its_deadline_at_the_simulated_instant(context, endpoint):
    clock = SimulatedClock()
    clock.advance_to(900.0)
    agg, sites = _pair(context, endpoint, clock, clock)
    asker = agg.add(Asker("asker", "sites/relay", deadline_s=2.0))
    relay = sites.add(Relay("relay", mute=True))
    loop = EventLoop(agg, sites)
    asker.ask(hops=0)
    assert loop.run_until(lambda: bool(relay.told), 30.0, horizon_s=1800.0)
    # fired at exactly 902 s, and what it sent carries that instant
    assert asker.expired_at == 902.0 and relay.told == [(902.0, 902.0)]
    assert clock.now() == 902.0 and asker.answered_at is None
    agg.close()
    sites.close()


class Repeater(Agent):
    """Re-arms a deadline every ``period_s`` and counts the instants it fired at."""

    role = "repeater"

    def __init__(self, name: str, period_s: float) -> None:
        super().__init__(name)
        self.period_s = period_s
        self.fired: list[float] = []

    def started(self) -> None:
        self.host.call_later(self.period_s, self._tick)

    def _tick(self) -> None:
        self.fired.append(self.clock.now())
        self.host.call_later(self.period_s, self._tick)


def test_deadlines_that_add_up_past_the_horizon_stop_with_a_clear_error(context, endpoint):
    clock = SimulatedClock()
    agg, sites = _pair(context, endpoint, clock, clock)
    rep = agg.add(Repeater("rep", period_s=25.0))
    loop = EventLoop(agg, sites)
    with pytest.raises(SimulationStalled, match=r"at simulated 50 s .* next deadline is due at "
                                                r"75 s, past 60 s"):
        loop.run_until(lambda: False, 30.0, horizon_s=60.0)
    # time went as far as the deadlines that fit, and no further: the next step may start
    assert rep.fired == [25.0, 50.0] and clock.now() == 50.0
    clock.advance_to(60.0)
    agg.close()
    sites.close()


def test_a_wait_nothing_can_end_is_an_error_not_a_hang(context, endpoint):
    clock = SimulatedClock()
    agg, sites = _pair(context, endpoint, clock, clock)
    loop = EventLoop(agg, sites)
    agg.call_later(math.inf, lambda: None)  # a market's gate that only closes by hand
    with pytest.raises(SimulationStalled, match="no deadline is armed: nothing can end it"):
        loop.run_until(lambda: False, 30.0, horizon_s=60.0)
    assert clock.now() == 0.0
    agg.close()
    sites.close()


def test_without_a_horizon_simulated_time_stays_put(context, endpoint):
    """A wait at build time (a day-ahead market before step 0) never moves the clock: its
    simulated timers do not fire, and the wait ends on its wall timeout."""
    clock = SimulatedClock()
    agg, sites = _pair(context, endpoint, clock, clock)
    rep = agg.add(Repeater("rep", period_s=1.0))
    loop = EventLoop(agg, sites)
    assert not loop.run_until(lambda: False, 0.05)
    loop.run_for(0.02)
    assert rep.fired == [] and clock.now() == 0.0
    agg.close()
    sites.close()


def test_one_loop_drives_one_simulated_clock(context, endpoint):
    agg, _ = _pair(context, endpoint, None, SimulatedClock())
    other = Host("other", endpoint("other"), context=context, registry=KINDS,
                 timer_clock=SimulatedClock())
    with pytest.raises(ValueError, match="another simulated clock"):
        EventLoop(agg, other)
    agg.close()
    other.close()


def test_the_drop_log_keeps_wall_time_on_a_simulated_host(context, endpoint):
    """Housekeeping about the machine (the drop log's interval) is not a deadline: it
    never moves simulated time."""
    clock = SimulatedClock()
    host = Host("h", endpoint("h"), context=context, registry=KINDS, clock=clock,
                timer_clock=clock)
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"evil")
    raw.connect(host.endpoint)
    raw.send(b"\xc1 not msgpack")
    loop = EventLoop(host)
    assert loop.run_until(lambda: host.stats.dropped_total == 1, 5.0)
    assert host.timers.next_simulated_due() is None
    assert host.timers.wall.next_in() is not None  # the flush, on wall time
    assert host.next_timer_in() > 0.0
    raw.close(linger=0)
    host.close()


# -- a run ---------------------------------------------------------------------------------
MUTE = '''
from vpp.coordination.errors import ProtocolError


class Mute:
    """Never answers a call for bids."""

    def bid(self, call, offers):
        raise ProtocolError(f"mute at step {call.step}")
'''


@pytest.fixture
def mute_module(tmp_path, monkeypatch):
    import sys

    (tmp_path / "mute_bidder.py").write_text(MUTE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "mute_bidder:Mute"
    sys.modules.pop("mute_bidder", None)


def _mute_scenario(strategy: str, deadline_ms: int):
    from vpp.runs.scenario import parse

    return parse({
        "name": "mute", "start": "2019-01-16T00:00:00Z", "steps": 3, "step_minutes": 1,
        "target": {"values_kw": [300.0, 300.0, 300.0]},
        "negotiation": {"deadline_ms": deadline_ms},
        "sites": [
            {"name": "mute", "strategy": {"use": strategy},
             "devices": [{"type": "flexible", "name": "g", "p_max_kw": 500,
                          "cost_eur_mwh": 10}]},
            {"name": "steady", "devices": [
                {"type": "flexible", "name": "g", "p_max_kw": 500, "cost_eur_mwh": 60}]},
        ]})


def test_a_swarm_step_ends_at_its_deadline_in_simulated_time(mute_module, tmp_path):
    """A 20 s deadline takes 20 simulated seconds, not 20 wall seconds, and the awards
    after it go out at the step's start plus 20 s."""
    from vpp.agents.runtime.trace_reader import TraceReader
    from vpp.runs.runner import build_run

    _, model = build_run(_mute_scenario(mute_module, 20_000), tmp_path / "run",
                         allow_plugins=True)
    try:
        for k in range(model.steps):
            model.step(k)
        outcomes = model.aggregator.outcomes
        last_at = model.fleet.clock.now()
    finally:
        model.close()
    # each step: the mute site is silent, the steady one serves, at start + 20 s
    assert [o.silent for o in outcomes] == [["sites/mute"]] * 3
    assert [o.served_kw for o in outcomes] == [300.0] * 3
    assert last_at == 2 * 60.0 + 20.0
    reader = TraceReader(tmp_path / "run")
    try:
        awards = reader.messages(kind="Award", direction="send")
    finally:
        reader.close()
    assert [(m.conversation, m.sim_time) for m in awards] == [
        (f"merit-order/{k}", k * 60.0 + 20.0) for k in range(3)]


def test_deadlines_past_a_steps_window_fail_the_run_clearly(mute_module, tmp_path):
    """A 61 s deadline in a 60 s step: the run stops with the reason instead of letting
    simulated time run into the next step (which ``SimulatedClock.advance_to`` refuses)."""
    from vpp.runs.runner import build_run

    _, model = build_run(_mute_scenario(mute_module, 61_000), tmp_path / "run",
                         allow_plugins=True)
    try:
        with pytest.raises(SimulationStalled, match=r"next deadline is due at 61 s, past 60 s"):
            for k in range(model.steps):
                model.step(k)
        assert model.fleet.clock.now() == 0.0 and model.step_index == 0
    finally:
        model.close()
