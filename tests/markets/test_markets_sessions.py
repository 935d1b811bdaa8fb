"""The continuous session without sockets: on random streams, valid or not, its trades are
those of the order book driven directly, and a rejected message changes nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vpp.markets.messages import (
    CancelOrder,
    ModifyOrder,
    OrderAck,
    OrderRejected,
    SubmitOrder,
)
from vpp.markets.order_book import OrderBook
from vpp.markets.order_types import price_to_ticks, quantity_to_ticks
from vpp.markets.sessions import Outgoing
from vpp.markets.sessions.continuous import ContinuousSession

WHO = ("a/x", "a/y")
prices = st.one_of(st.integers(40, 60).map(float), st.sampled_from([float("nan"), 50.005]))
quantities = st.one_of(st.integers(1, 9).map(lambda q: q / 10), st.sampled_from([0.0, 0.15]))
submits = st.builds(
    SubmitOrder, st.integers(0, 12), st.sampled_from(["p", "p", "q"]),
    st.sampled_from(["buy", "sell", "buy", "sell", "hold"]), quantities,
    st.one_of(prices, st.none()), st.sampled_from(["limit", "limit", "market", "ioc", "fok"]))
messages = st.lists(st.tuples(st.sampled_from(WHO), st.one_of(
    submits, submits,
    st.builds(CancelOrder, st.integers(0, 12), st.just("p")),
    st.builds(ModifyOrder, st.integers(0, 12), st.just("p"), st.one_of(prices, st.none()),
              st.one_of(quantities, st.none())))), max_size=40)


@settings(max_examples=150, deadline=None)
@given(messages)
def test_session_trades_equal_the_book_and_rejects_change_nothing(stream):
    session = ContinuousSession()
    session.open_period("p", 10_000)
    book = OrderBook(10_000 - 300, "p")
    ids, expected = {}, []
    for who, msg in stream:
        before = book.depth(0, 50)
        if isinstance(msg, SubmitOrder):
            out = session.submit(who, msg, 0)
        elif isinstance(msg, CancelOrder):
            out = session.cancel(who, msg, 0)
        else:
            out = session.modify(who, msg, 0)
        answer = out[0]
        assert isinstance(answer, Outgoing) and answer.receiver == who
        if isinstance(answer.body, OrderRejected):
            assert answer.body.reason.split(":")[0] in {
                "side", "order_type", "order_id", "quantity_mw", "price_eur_mwh",
                "delivery_period", "fok"}
            assert len(out) == 1
            assert session.market.books["p"].depth(0, 50) == before
            continue
        assert isinstance(answer.body, OrderAck)
        # mirror the accepted message on the book, with the exchange id the session gave
        ex = answer.body.exchange_order_id
        if isinstance(msg, SubmitOrder):
            ids[(who, msg.order_id)] = ex
            price = None if msg.price_eur_mwh is None else price_to_ticks(msg.price_eur_mwh)
            rep = book.submit(ex, msg.side, quantity_to_ticks(msg.quantity_mw), price,
                              msg.order_type, 0, who)
            assert rep.accepted
            expected += rep.trades
        elif isinstance(msg, CancelOrder):
            assert book.cancel(ids[(who, msg.order_id)], 0).accepted
        else:
            rep = book.modify(
                ids[(who, msg.order_id)], 0,
                None if msg.price_eur_mwh is None else price_to_ticks(msg.price_eur_mwh),
                None if msg.quantity_mw is None else quantity_to_ticks(msg.quantity_mw))
            assert rep.accepted
            expected += rep.trades
        assert session.market.books["p"].depth(0, 50) == book.depth(0, 50)
    assert session.trades == expected
