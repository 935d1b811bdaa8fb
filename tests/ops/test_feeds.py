"""Live data feeds: a CSV replayed at a stated speed reaches market and trader agents in
order and on time; values pushed by an external process over ZeroMQ are published; bad
input is named or counted, never fatal."""

from __future__ import annotations

import csv
import subprocess
import sys
import time

import pytest

from agents.agent import Agent
from agents.host import Host
from agents.loop import EventLoop
from agents.ops.feeds import CsvReplaySource, FeedAgent, FeedValue, ZmqPushSource
from markets.data import DATA_DIR

PRICES = DATA_DIR / "de_lu_2019_hourly_price_load_wind_solar.csv"
SPEED = 36_000.0          # an hour of prices every 0.1 s


class Listener(Agent):
    """Stands in for a market or a trader agent: keeps every feed value and when it came."""

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


def test_a_csv_replay_reaches_market_and_trader_in_order_at_the_stated_speed(context, registry):
    source = CsvReplaySource(PRICES, "price_eur_mwh", speed=SPEED,
                             start="2019-01-16T00:00:00Z", end="2019-01-16T09:00:00Z")
    with PRICES.open() as f:
        rows = [r for r in csv.DictReader(f)
                if "2019-01-16T00:00:00Z" <= r["timestamp_utc"] <= "2019-01-16T09:00:00Z"]
    assert len(rows) == 10
    feed_host, desk, market, trader, loop = _wire(context, registry)
    feed = feed_host.add(FeedAgent("day-ahead", source, "feed.prices"))
    feed.start()
    t0 = time.monotonic()
    assert loop.run_until(lambda: len(market.got) == len(trader.got) == 10, 10.0)
    for listener in (market, trader):
        values = [v for _, v in listener.got]
        assert [v.seq for v in values] == list(range(10))
        assert [v.time for v in values] == [r["timestamp_utc"] for r in rows]
        assert [v.value for v in values] == [float(r["price_eur_mwh"]) for r in rows]
        # the i-th hour is due i * 3600 / SPEED = 0.1 i s after the start: never earlier,
        # and late only by what a loaded machine delays a timer
        for i, (at, _) in enumerate(listener.got):
            assert i * 0.1 - 0.005 <= at - t0 <= i * 0.1 + 0.25, i
    assert feed.done
    # the whole replay took the stated time: 9 hours at 36000x = 0.9 s
    assert 0.895 <= market.got[-1][0] - t0 <= 0.9 + 0.25
    feed.stop()
    feed_host.close()
    desk.close()


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
