"""Live data feeds: a CSV replayed at a stated speed reaches the bundled market-side
(replay) and trader agents in order and on time, and becomes their prices; values pushed by an external process over ZeroMQ are published; bad
input is named or counted, never fatal."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import numpy as np
import pytest
from vpp.agents.markets.exchange import ContinuousMarketAgent
from vpp.agents.markets.price_feed import PriceBoard
from vpp.agents.markets.trader import ReplayAgent, TraderAgent
from vpp.agents.ops.feeds import CsvReplaySource, FeedAgent, FeedValue, ZmqPushSource
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import de_lu_2019_market_data
from vpp.markets.trading.types import StorageSpec
from vpp.physics.datasets import DE_LU_2019_CSV

PRICES = DE_LU_2019_CSV
SPEED = 36_000.0          # an hour of prices every 0.1 s


class Listener(Agent):
    """A plain subscriber: keeps every feed value and when it came."""

    def __init__(self, name: str, role: str) -> None:
        super().__init__(name)
        self.role = role
        self.got: list[tuple[float, FeedValue]] = []
        self.on(FeedValue, lambda env, v: self.got.append((time.monotonic(), v)))

    def started(self) -> None:
        self.host.subscribe(self, "feed.prices")


def _wire(context, registry):
    feed_host = Host("feeds", "tcp://127.0.0.1:*", pub_endpoint="tcp://127.0.0.1:*",
                     context=context, registry=registry)
    desk = Host("desk", "tcp://127.0.0.1:*", context=context, registry=registry)
    desk.connect("feeds", feed_host.endpoint, feed_host.pub_endpoint)
    market, trader = desk.add(Listener("market", "market")), desk.add(Listener("trader", "trader"))
    loop = EventLoop(feed_host, desk)
    loop.run_for(0.3)   # let the subscriptions reach the publisher
    return feed_host, desk, market, trader, loop


class SeeingStrategy:
    """Decides nothing; keeps the intraday prices its market view showed at each hour."""

    name = "seeing"

    def __init__(self) -> None:
        self.seen: dict[int, list[float]] = {}

    def decide(self, view, book) -> list:
        self.seen[view.now] = [float(p) for p in view.intraday_eur_mwh()]
        return []


def test_a_csv_replay_reaches_market_and_trader_in_order_at_the_stated_speed(context, registry):
    """The bundled agents, not stand-ins: the trader's market view and the replay's quotes
    in the continuous market take the fed prices."""
    source = CsvReplaySource(PRICES, "price_eur_mwh", speed=SPEED,
                             start="2019-01-01T00:00:00Z", end="2019-01-01T09:00:00Z")
    with PRICES.open() as f:
        rows = [r for r in csv.DictReader(f)
                if "2019-01-01T00:00:00Z" <= r["timestamp_utc"] <= "2019-01-01T09:00:00Z"]
    prices = [float(r["price_eur_mwh"]) for r in rows]
    assert len(rows) == 10
    # the agents' own intraday prices are poisoned: only the feed can tell the real ones
    data = de_lu_2019_market_data(days=2)
    data = data.replace(intraday_eur_mwh=np.full(data.hours, 1000.0))
    assert str(data.timestamps_utc[1]) == "2019-01-01T00:00:00"   # the feed's hours: 1..10
    clock = SimulatedClock()
    feed_host = Host("feeds", "tcp://127.0.0.1:*", pub_endpoint="tcp://127.0.0.1:*",
                     context=context, registry=registry)
    mkt = Host("mkt", "tcp://127.0.0.1:*", context=context, registry=registry, clock=clock)
    desk = Host("desk", "tcp://127.0.0.1:*", context=context, registry=registry, clock=clock)
    desk.connect("feeds", feed_host.endpoint, feed_host.pub_endpoint)
    desk.connect("mkt", mkt.endpoint)
    mkt.connect("desk", desk.endpoint)
    market = mkt.add(ContinuousMarketAgent("intraday", {"h5": 5 * 3600}))
    feeds = {"epex": "intraday_eur_mwh"}
    replay = desk.add(ReplayAgent("replay", data, continuous_market="mkt/intraday",
                                  price_feeds=feeds))
    strategy = SeeingStrategy()
    engine = TradingEngine(strategy, StorageSpec(), data.hours)
    trader = desk.add(TraderAgent("trader", engine, data, continuous_market="mkt/intraday",
                                  day_ahead_market=lambda d: f"mkt/day-ahead-{d}",
                                  price_feeds=feeds))
    loop = EventLoop(feed_host, mkt, desk)
    try:
        loop.run_for(0.3)   # let the subscriptions reach the publisher
        feed = feed_host.add(FeedAgent("epex", source, "feed.prices"))
        feed.start()
        t0 = time.monotonic()
        assert loop.run_until(
            lambda: len(trader.prices.heard) == len(replay.prices.heard) == 10, 10.0)
        for board in (trader.prices, replay.prices):
            assert [h.value.seq for h in board.heard] == list(range(10))
            assert [h.value.time for h in board.heard] == [r["timestamp_utc"] for r in rows]
            assert [h.hour for h in board.heard] == list(range(1, 11))
            assert all(h.applied for h in board.heard)
            assert board.fed == {"intraday_eur_mwh": set(range(1, 11))}
            assert list(board.data.intraday_eur_mwh[1:11]) == prices
            assert board.data.intraday_eur_mwh[0] == 1000.0      # not fed: the data's own
            # the i-th hour is due i * 3600 / SPEED = 0.1 i s after the start: never
            # earlier, and late only by what a loaded machine delays a timer
            for i, h in enumerate(board.heard):
                assert i * 0.1 - 0.005 <= h.at - t0 <= i * 0.1 + 0.25, i
        assert feed.done
        # the whole replay took the stated time: 9 hours at 36000x = 0.9 s
        assert 0.895 <= trader.prices.heard[-1].at - t0 <= 0.9 + 0.25
        assert list(data.intraday_eur_mwh[1:11]) == [1000.0] * 10  # the caller's data stays

        # the replay quotes the published price of hour 5 in the continuous market
        clock.advance_to(4 * 3600.0)
        replay.quote(5)
        assert loop.run_until(lambda: replay.answers == 2, 5.0)
        book = market.session.market.books["h5"]
        half = data.intraday_half_spread_eur_mwh
        assert book.best_bid() * 0.01 == pytest.approx(prices[4] - half)
        assert book.best_ask() * 0.01 == pytest.approx(prices[4] + half)
        # the trader's next decision sees the published prices in its market view
        clock.advance_to(11 * 3600.0)
        trader.on_hour(11)
        assert strategy.seen[11] == [1000.0, *prices]
        feed.stop()
    finally:
        feed_host.close()
        mkt.close()
        desk.close()


def test_a_price_board_ignores_values_out_of_order_off_the_calendar_or_from_other_feeds():
    data = de_lu_2019_market_data(days=2)
    board = PriceBoard(data, {"epex": "day_ahead_eur_mwh"})
    assert board.take(FeedValue("epex", 0, "p", "2019-01-01T05:00:00Z", 55.5))
    assert not board.take(FeedValue("epex", 0, "p", "2019-01-01T06:00:00Z", 1.0))  # a repeat
    assert not board.take(FeedValue("epex", 1, "p", "2031-01-01T06:00:00Z", 1.0))  # no such hour
    assert not board.take(FeedValue("epex", 2, "p", "yesterday", 1.0))
    assert not board.take(FeedValue("other", 0, "p", "2019-01-01T06:00:00Z", 1.0))
    assert board.take(FeedValue("epex", 3, "p", "2019-01-01T07:00:00+01:00", 66.0))  # 06:00Z
    assert (board.out_of_order, board.unmatched, board.unknown_feed) == (1, 2, 1)
    assert board.data.day_ahead_eur_mwh[6] == 55.5 and board.data.day_ahead_eur_mwh[7] == 66.0
    assert board.fed == {"day_ahead_eur_mwh": {6, 7}}
    assert board.data.day_ahead_eur_mwh[8] == data.day_ahead_eur_mwh[8]
    with pytest.raises(ValueError, match=r"feeds\['epex'\]: 'load_actual_mw'"):
        PriceBoard(data, {"epex": "load_actual_mw"})


def test_values_pushed_by_an_external_process_are_published_and_bad_ones_counted(
        context, registry):
    source = ZmqPushSource("tcp://127.0.0.1:*", context)
    feed_host, desk, market, trader, loop = _wire(context, registry)
    feed = feed_host.add(FeedAgent("scada", source, "feed.prices"))
    feed.start()
    script = f"""
import msgspec, zmq
ctx = zmq.Context()
push = ctx.socket(zmq.PUSH)
push.connect({source.endpoint!r})
enc = msgspec.msgpack.Encoder()
push.send(enc.encode(["p", "2025-04-28T10:00:00Z", 41.5]))
push.send(b"\\xc1 garbage")
push.send(enc.encode(["p", "2025-04-28T10:00:01Z", "not a number"]))
for i in range(1, 4):
    push.send(enc.encode(["p", f"2025-04-28T10:00:0{{i + 1}}Z", 41.5 + i]))
push.close(linger=2000)
ctx.term()
"""
    done = subprocess.run([sys.executable, "-c", script], timeout=30, capture_output=True,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert loop.run_until(lambda: len(trader.got) == 4, 10.0)
    assert [v.value for _, v in trader.got] == [41.5, 42.5, 43.5, 44.5]
    assert [v.value for _, v in market.got] == [41.5, 42.5, 43.5, 44.5]
    assert source.dropped == 2 and not feed.done
    feed.stop()
    feed_host.close()
    desk.close()


def test_bad_csv_input_is_named(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("timestamp_utc,price\n2019-01-01T00:00:00Z,1\n2019-01-01T01:00:00Z,x\n")
    with pytest.raises(ValueError, match="no column 'price_eur_mwh'"):
        CsvReplaySource(bad, "price_eur_mwh")
    with pytest.raises(ValueError, match="line 3"):
        CsvReplaySource(bad, "price")
    with pytest.raises(ValueError, match="speed"):
        CsvReplaySource(PRICES, "price_eur_mwh", speed=0)
