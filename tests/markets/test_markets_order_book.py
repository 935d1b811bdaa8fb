"""Continuous order book: worked examples and random streams against a naive matcher."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vpp.markets.order_book import ContinuousMarket, OrderBook
from vpp.markets.order_types import (
    TickSize,
    price_to_ticks,
    quantity_to_ticks,
    ticks_to_price,
    ticks_to_quantity,
)

OPEN = 10**9  # gate closure far in the future


def _t(report):
    return [(t.buy_order_id, t.sell_order_id, t.price, t.quantity, t.aggressor) for t in report.trades]


def test_price_then_time_priority_and_aggressor():
    book = OrderBook(OPEN)
    book.submit(1, "sell", 10, 5010)
    book.submit(2, "sell", 10, 5000)
    book.submit(3, "sell", 10, 5000)  # same price as 2, later
    r = book.submit(4, "buy", 25, 5010)
    # Best price first (5000: order 2 then 3 by time), then 5010: 10 + 10 + 5 = 25.
    assert _t(r) == [(4, 2, 5000, 10, "buy"), (4, 3, 5000, 10, "buy"), (4, 1, 5010, 5, "buy")]
    assert (r.filled, r.resting, r.cancelled) == (25, 0, 0)
    assert book.depth(0).asks == [(5010, 5)]
    r = book.submit(5, "sell", 7, 4000)  # sell aggressor trades at nothing (no bids): rests
    assert r.trades == [] and r.resting == 7
    assert book.best_ask() == 4000


def test_market_ioc_fok():
    book = OrderBook(OPEN)
    book.submit(1, "buy", 10, 100)
    book.submit(2, "buy", 10, 90)
    # Market sell 25: takes 10 @100 and 10 @90; the other 5 are cancelled.
    r = book.submit(3, "sell", 25, order_type="market")
    assert _t(r) == [(1, 3, 100, 10, "sell"), (2, 3, 90, 10, "sell")]
    assert (r.filled, r.resting, r.cancelled) == (20, 0, 5)
    book.submit(4, "buy", 10, 100)
    book.submit(5, "buy", 10, 90)
    # IOC sell 15 @95: only the 100 bid is acceptable -> 10 fill, 5 cancelled, nothing rests.
    r = book.submit(6, "sell", 15, 95, "ioc")
    assert (r.filled, r.resting, r.cancelled) == (10, 0, 5)
    # FOK sell 15 @90: 10 available at >= 90 -> rejected, book unchanged.
    r = book.submit(7, "sell", 15, 90, "fok")
    assert not r.accepted and "fok" in r.reason
    assert book.depth(0).bids == [(90, 10)]
    r = book.submit(8, "sell", 10, 90, "fok")
    assert r.accepted and r.filled == 10 and len(book) == 0
    r = book.submit(9, "sell", 1, 90, "market")
    assert not r.accepted and r.reason.startswith("price")


def test_modify_priority_rules():
    book = OrderBook(OPEN)
    for oid in (1, 2, 3):
        book.submit(oid, "buy", 10, 100)
    assert book.modify(1, 0, quantity=4).resting == 4  # reduce: keeps its place
    assert book.modify(2, 0, quantity=12).resting == 12  # raise: goes to the back
    r = book.submit(4, "sell", 26, 100)  # 4 + 10 + 12 = 26 takes the whole level
    assert [t.buy_order_id for t in r.trades] == [1, 3, 2]
    assert [t.quantity for t in r.trades] == [4, 10, 12]
    book.submit(5, "sell", 5, 110)
    book.submit(6, "buy", 5, 105)
    r = book.modify(6, 0, price=110)  # price change crosses: trades at once, as aggressor
    assert _t(r) == [(6, 5, 110, 5, "buy")]
    book.submit(7, "buy", 3, 50)
    r = book.modify(7, 0, quantity=0)
    assert r.accepted and r.cancelled == 3 and len(book) == 0


def test_gate_closure_and_rejections_name_the_field():
    market = ContinuousMarket(gate_closure_lead_s=300)
    book = market.open_period("2019-01-01T10:00Z", delivery_start_s=36_000)
    assert market.submit("2019-01-01T10:00Z", 1, "buy", 5, 100, time_s=35_699).accepted
    r = market.submit("2019-01-01T10:00Z", 2, "buy", 5, 100, time_s=35_700)
    assert not r.accepted and r.reason.startswith("gate closed") and "35700 s" in r.reason
    assert not book.modify(1, 35_700, quantity=1).accepted
    assert book.cancel(1, 35_800).accepted  # withdrawing is still allowed
    assert market.submit("nope", 3, "buy", 5, 100).reason.startswith("delivery_period")
    assert market.cancel("nope", 1).reason.startswith("delivery_period")
    assert market.modify("nope", 1, 0, quantity=1).reason.startswith("delivery_period")
    assert book.submit(4, "buy", 0, 100).reason.startswith("quantity")
    assert book.submit(4, "buy", 5, 10**7).reason.startswith("price")
    assert book.submit(4, "hold", 5, 100).reason.startswith("side")
    assert book.submit(4, "buy", 5, 100, "stop").reason.startswith("order_type")
    book.submit(4, "buy", 5, 100)
    assert book.submit(4, "buy", 5, 100).reason.startswith("order_id")
    assert not book.cancel(99).accepted


def test_tick_conversions():
    tick = TickSize(price_eur_mwh=0.01, quantity_mw=0.1)
    assert price_to_ticks(53.69, tick) == 5369
    assert price_to_ticks(-500.0, tick) == -50000
    assert ticks_to_price(5369, tick) == 53.69
    assert quantity_to_ticks(2.5, tick) == 25 and ticks_to_quantity(25, tick) == 2.5
    with pytest.raises(ValueError, match="price_eur_mwh"):
        price_to_ticks(53.695, tick)
    with pytest.raises(ValueError, match="quantity_mw"):
        quantity_to_ticks(0.05, tick)


# --- random streams against a naive reference matcher ---------------------------


class ReferenceBook:
    """Naive matcher: a flat list, scanned in full for the best (price, arrival) each fill."""

    def __init__(self):
        self.resting = []  # [order_id, is_buy, price, quantity, arrival]
        self.arrival = 0

    def _find(self, oid):
        return next((o for o in self.resting if o[0] == oid), None)

    def submit(self, oid, side, qty, price, kind):
        if self._find(oid) is not None:
            return None
        is_buy = side == "buy"

        def acceptable(o):
            if o[1] == is_buy:
                return False
            if kind == "market":
                return True
            return o[2] <= price if is_buy else o[2] >= price

        if kind == "fok" and sum(o[3] for o in self.resting if acceptable(o)) < qty:
            return None
        trades = []
        while qty:
            cands = [o for o in self.resting if acceptable(o)]
            if not cands:
                break
            best = min(cands, key=lambda o: ((o[2] if is_buy else -o[2]), o[4]))
            fill = min(qty, best[3])
            buyer, seller = (oid, best[0]) if is_buy else (best[0], oid)
            trades.append((buyer, seller, best[2], fill, side))
            best[3] -= fill
            qty -= fill
            if best[3] == 0:
                self.resting.remove(best)
        if qty and kind == "limit":
            self.arrival += 1
            self.resting.append([oid, is_buy, price, qty, self.arrival])
        return trades

    def cancel(self, oid):
        o = self._find(oid)
        if o is not None:
            self.resting.remove(o)
        return o is not None

    def modify(self, oid, price, qty):
        o = self._find(oid)
        if o is None:
            return None
        new_price = o[2] if price is None else price
        new_qty = o[3] if qty is None else qty
        if new_qty == 0:
            self.resting.remove(o)
            return []
        if new_price == o[2] and new_qty <= o[3]:
            o[3] = new_qty
            return []
        self.resting.remove(o)
        return self.submit(oid, "buy" if o[1] else "sell", new_qty, new_price, "limit")

    def depth(self, is_buy):
        levels = {}
        for o in self.resting:
            if o[1] == is_buy:
                levels[o[2]] = levels.get(o[2], 0) + o[3]
        return sorted(levels.items(), reverse=is_buy)


_submit = st.tuples(
    st.just("submit"),
    st.sampled_from(["limit", "limit", "limit", "market", "ioc", "fok"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(1, 20),
    st.integers(99, 101),
)
_cancel = st.tuples(st.just("cancel"), st.integers(0, 12))  # how far back the target is
_modify = st.tuples(
    st.just("modify"), st.integers(0, 12), st.none() | st.integers(99, 101),
    st.none() | st.integers(0, 25),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_submit, _submit, _cancel, _modify, _modify), max_size=120))
@example(  # raising the quantity of the first of two orders at one price sends it back
    [
        ("submit", "limit", "buy", 5, 100),
        ("submit", "limit", "buy", 5, 100),
        ("modify", 1, None, 10),
        ("submit", "limit", "sell", 3, 100),
    ]
)
def test_random_streams_match_reference(ops):
    book, ref = OrderBook(OPEN), ReferenceBook()
    next_id = 1
    last_trade_id = 0
    for op in ops:
        if op[0] == "submit":
            _, kind, side, qty, price = op
            price = None if kind == "market" else price
            r = book.submit(next_id, side, qty, price, kind)
            expected = ref.submit(next_id, side, qty, price, kind)
            next_id += 1
        elif op[0] == "cancel":
            oid = max(0, next_id - 1 - op[1])
            assert book.cancel(oid).accepted == ref.cancel(oid)
            r, expected = None, None
        else:
            oid = max(0, next_id - 1 - op[1])
            r = book.modify(oid, 0, price=op[2], quantity=op[3])
            expected = ref.modify(oid, op[2], op[3])
        if r is not None:
            assert r.accepted == (expected is not None)
            if expected is not None:
                assert _t(r) == expected
                ids = [t.trade_id for t in r.trades]
                assert ids == list(range(last_trade_id + 1, last_trade_id + 1 + len(ids)))
                last_trade_id += len(ids)
        snap = book.depth(0, levels=1000)
        assert snap.bids == ref.depth(True)
        assert snap.asks == ref.depth(False)
        if snap.bids and snap.asks:
            assert snap.bids[0][0] < snap.asks[0][0]  # never a crossed resting book
