"""The continuous market as an agent over inproc ZeroMQ: orders in, trades out exactly as
the order book makes them; bad orders are rejected by message with a reason; gate closure."""

from __future__ import annotations

import random

import msgspec
import zmq
from vpp.agents.markets.exchange import ContinuousMarketAgent
from vpp.agents.runtime.messages import Envelope
from vpp.markets.messages import (
    CONTINUOUS_DEPTH_TOPIC,
    CONTINUOUS_TRADES_TOPIC,
    BookDepth,
    CancelOrder,
    ModifyOrder,
    OrderAck,
    OrderRejected,
    PriceLevel,
    PublicTrade,
    SubmitOrder,
    TradeReport,
)
from vpp.markets.order_book import OrderBook
from vpp.markets.order_types import price_to_ticks, quantity_to_ticks

from tests.markets.market_agents_helpers import Recorder, market_pair

START = 3600  # delivery of period "h1" starts at 1 h; the gate closes 300 s before


def _answers(*agents):
    return sum(len(a.of(OrderAck)) + len(a.of(OrderRejected)) for a in agents)


def _stream(seed, n):
    """A seeded mix of limit, market, ioc, cancel and modify messages from two traders."""
    rng = random.Random(seed)
    sent = {"alice": [], "bob": []}
    stream = []
    for i in range(n):
        who = rng.choice(("alice", "bob"))
        r = rng.random()
        if r < 0.55 or not sent[who]:
            side = rng.choice(("buy", "sell"))
            ticks = rng.randint(-20, 20) if side == "buy" else rng.randint(-15, 25)
            price = round(50 + ticks * 0.5, 2)
            quantity = rng.randint(1, 30) / 10
            stream.append((who, SubmitOrder(i, "h1", side, quantity, price, "limit")))
            sent[who].append(i)
        elif r < 0.65:
            stream.append((who, SubmitOrder(i, "h1", rng.choice(("buy", "sell")),
                                            rng.randint(1, 20) / 10, None, "market")))
            sent[who].append(i)
        elif r < 0.72:
            stream.append((who, SubmitOrder(i, "h1", rng.choice(("buy", "sell")),
                                            rng.randint(1, 20) / 10, 50.0, "ioc")))
            sent[who].append(i)
        elif r < 0.9:
            stream.append((who, CancelOrder(rng.choice(sent[who]), "h1")))
        else:
            stream.append((who, ModifyOrder(rng.choice(sent[who]), "h1",
                                            round(50 + rng.randint(-10, 10) * 0.5, 2),
                                            rng.randint(0, 20) / 10)))
    return stream


def _direct(stream, time_s):
    """Drive markets.order_book directly with the ids the market would give."""
    book = OrderBook(START - 300, "h1")
    ids, next_id, trades = {}, 1, []
    for who, msg in stream:
        if isinstance(msg, SubmitOrder):
            price = None if msg.price_eur_mwh is None else price_to_ticks(msg.price_eur_mwh)
            rep = book.submit(next_id, msg.side, quantity_to_ticks(msg.quantity_mw), price,
                              msg.order_type, time_s, who)
            if rep.accepted:
                ids[(who, msg.order_id)] = next_id
                next_id += 1
                trades += rep.trades
        elif isinstance(msg, CancelOrder):
            book.cancel(ids[(who, msg.order_id)], time_s)
        else:
            rep = book.modify(ids[(who, msg.order_id)], time_s,
                              price_to_ticks(msg.price_eur_mwh), quantity_to_ticks(msg.quantity_mw))
            trades += rep.trades
    return book, trades


def test_orders_in_trades_out_identical_to_the_order_book(context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    market = mkt.add(ContinuousMarketAgent("intraday", {"h1": START}))
    alice, bob, tape = p.add(Recorder("alice")), p.add(Recorder("bob")), p.add(Recorder("tape"))
    p.subscribe(tape, CONTINUOUS_TRADES_TOPIC)
    p.subscribe(tape, CONTINUOUS_DEPTH_TOPIC)
    loop.run_once(0.01)
    clock.advance_to(1000.0)
    stream = _stream(7, 400)
    for who, msg in stream:
        (alice if who == "alice" else bob).send("mkt/intraday", msg)
    assert loop.run_until(lambda: _answers(alice, bob) == len(stream), 10.0)
    book, expected = _direct(stream, 1000)
    assert len(expected) > 50

    def key(t):
        return (t.trade_id, t.buy_order_id, t.sell_order_id, t.price, t.quantity, t.aggressor)

    # each trade is reported to both owners; rebuild it from the two reports
    reports = {}
    for agent in (alice, bob):
        for rep in agent.of(TradeReport):
            reports.setdefault(rep.trade_id, {})[rep.side] = rep
    got = []
    for trade_id in sorted(reports):
        buy, sell = reports[trade_id]["buy"], reports[trade_id]["sell"]
        assert (buy.price_eur_mwh, buy.quantity_mw) == (sell.price_eur_mwh, sell.quantity_mw)
        assert buy.aggressor != sell.aggressor
        got.append((trade_id, buy.exchange_order_id, sell.exchange_order_id,
                    price_to_ticks(buy.price_eur_mwh), quantity_to_ticks(buy.quantity_mw),
                    "buy" if buy.aggressor else "sell"))
    assert got == [key(t) for t in expected]
    assert [key(t) for t in market.session.trades] == [key(t) for t in expected]
    # the public tape carries the same trades, and the last depth is the book's
    assert loop.run_until(lambda: len(tape.of(PublicTrade)) == len(expected), 5.0)
    assert [(t.trade_id, price_to_ticks(t.price_eur_mwh), quantity_to_ticks(t.quantity_mw),
             t.aggressor_side) for t in tape.of(PublicTrade)] == [
        (t.trade_id, t.price, t.quantity, t.aggressor) for t in expected]
    loop.run_for(0.05)
    last = tape.of(BookDepth)[-1]
    snap = book.depth(1000, 5)
    assert [(price_to_ticks(lv.price_eur_mwh), quantity_to_ticks(lv.quantity_mw))
            for lv in last.bids] == snap.bids
    assert [(price_to_ticks(lv.price_eur_mwh), quantity_to_ticks(lv.quantity_mw))
            for lv in last.asks] == snap.asks
    mkt.close()
    p.close()


def test_bad_orders_are_rejected_with_a_reason_and_the_market_keeps_serving(
        context, registry, endpoint):
    _clock, mkt, p, loop = market_pair(context, registry, endpoint)
    mkt.add(ContinuousMarketAgent("intraday", {"h1": START}))
    alice = p.add(Recorder("alice"))
    alice.send("mkt/intraday", SubmitOrder(1, "h1", "sell", 2.0, 40.0))   # rests
    bad = [
        SubmitOrder(2, "h1", "sell", 1.0, float("nan")),
        SubmitOrder(3, "h1", "sell", 1.05, 40.0),
        SubmitOrder(4, "h1", "hold", 1.0, 40.0),
        SubmitOrder(5, "h1", "buy", 1.0, 40.0, "market"),
        SubmitOrder(6, "h1", "buy", 1.0, None, "limit"),
        SubmitOrder(7, "h9", "buy", 1.0, 40.0),
        SubmitOrder(1, "h1", "buy", 1.0, 40.0),                              # id used
        SubmitOrder(8, "h1", "buy", -1.0, 40.0),
        SubmitOrder(9, "h1", "buy", 1.0, 40.0, "stop"),
        SubmitOrder(10, "h1", "buy", 1.0, 1e9),
        CancelOrder(77, "h1"),
        ModifyOrder(1, "h1", 40.001, None),
    ]
    for msg in bad:
        alice.send("mkt/intraday", msg)
    # a body that does not decode never reaches the market: the host drops it
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.IDENTITY, b"raw")
    raw.connect(mkt.endpoint)
    enc = msgspec.msgpack.Encoder()
    body = enc.encode({"order_id": 11, "delivery_period": "h1", "side": "buy",
                       "quantity_mw": "lots"})
    raw.send(b"\x91" + enc.encode(Envelope(1, "SubmitOrder", "raw/fuzzer", "mkt/intraday", "", 0,
                                           0.0, msgspec.Raw(body))))
    assert loop.run_until(lambda: _answers(alice) == 1 + len(bad)
                          and mkt.stats.dropped["malformed-body"] == 1, 5.0)
    reasons = [r.reason for r in alice.of(OrderRejected)]
    assert [r.split(":")[0] for r in reasons] == [
        "price_eur_mwh", "quantity_mw", "side", "price_eur_mwh", "price_eur_mwh",
        "delivery_period", "order_id", "quantity_mw", "order_type", "price_eur_mwh",
        "order_id", "price_eur_mwh"]
    assert "finite" in reasons[0] and "tick" in reasons[1]
    # nothing recorded was lost: the first order still rests, and trades
    alice.send("mkt/intraday", SubmitOrder(12, "h1", "buy", 0.5, 45.0))
    assert loop.run_until(lambda: len(alice.of(TradeReport)) == 2, 5.0)
    acks = alice.of(OrderAck)
    assert acks[-1].filled_mw == 0.5 and acks[-1].exchange_order_id == 2
    assert {(t.side, t.price_eur_mwh, t.quantity_mw) for t in alice.of(TradeReport)} == {
        ("buy", 40.0, 0.5), ("sell", 40.0, 0.5)}
    raw.close()
    mkt.close()
    p.close()


def test_gate_closure_rejects_late_orders_but_takes_cancels(context, registry, endpoint):
    clock, mkt, p, loop = market_pair(context, registry, endpoint)
    mkt.add(ContinuousMarketAgent("intraday", {"h1": START}, gate_closure_lead_s=300))
    bob = p.add(Recorder("bob"))
    clock.advance_to(START - 301)
    bob.send("mkt/intraday", SubmitOrder(1, "h1", "buy", 1.0, 30.0))
    bob.send("mkt/intraday", SubmitOrder(2, "h1", "buy", 1.0, 31.0))
    assert loop.run_until(lambda: _answers(bob) == 2, 5.0)
    clock.advance_to(START - 300)
    bob.send("mkt/intraday", SubmitOrder(3, "h1", "buy", 1.0, 30.0))
    bob.send("mkt/intraday", ModifyOrder(1, "h1", 32.0, None))
    bob.send("mkt/intraday", CancelOrder(2, "h1"))
    assert loop.run_until(lambda: _answers(bob) == 5, 5.0)
    rejected = bob.of(OrderRejected)
    assert [(r.order_id, r.action) for r in rejected] == [(3, "submit"), (1, "modify")]
    assert all(r.reason.startswith("gate closed") for r in rejected)
    assert [(a.order_id, a.action, a.cancelled_mw) for a in bob.of(OrderAck)] == [
        (1, "submit", 0.0), (2, "submit", 0.0), (2, "cancel", 1.0)]
    mkt.close()
    p.close()


def test_depth_levels_are_in_mw_and_eur(context, registry, endpoint):
    _clock, mkt, p, loop = market_pair(context, registry, endpoint)
    mkt.add(ContinuousMarketAgent("intraday", {"h1": START}))
    alice, watcher = p.add(Recorder("alice")), p.add(Recorder("watcher"))
    p.subscribe(watcher, CONTINUOUS_DEPTH_TOPIC)
    loop.run_once(0.01)
    alice.send("mkt/intraday", SubmitOrder(1, "h1", "buy", 1.5, 30.0))
    alice.send("mkt/intraday", SubmitOrder(2, "h1", "buy", 0.5, 30.0))
    alice.send("mkt/intraday", SubmitOrder(3, "h1", "sell", 2.0, 35.5))
    assert loop.run_until(lambda: len(watcher.of(BookDepth)) == 3, 5.0)
    last = watcher.of(BookDepth)[-1]
    assert last.bids == [PriceLevel(30.0, 2.0)] and last.asks == [PriceLevel(35.5, 2.0)]
    mkt.close()
    p.close()
