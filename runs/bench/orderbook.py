"""``vpp bench orderbook``: a seeded stream of orders straight into ``vpp.markets.order_book``,
and a naive list-scan matcher on a shorter stream of the same mix as the baseline."""

from __future__ import annotations

import statistics
import time

import numpy as np
from vpp.markets.order_book import OrderBook
from vpp.runs.bench.paired import interleave

LIMIT, MARKET, CANCEL = 0, 1, 2
MID = 5000  # ticks: 50.00 EUR/MWh


def order_stream(orders: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A mix of 60 % limit, 10 % market and 30 % cancel orders (kind, buy, price, qty, target).

    Limit prices scatter around a mid of 50 EUR/MWh, so that about half of them cross;
    a cancel names a random earlier order (which may have traded already).
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(np.array([LIMIT, MARKET, CANCEL]), size=orders, p=[0.6, 0.1, 0.3])
    kind[0] = LIMIT
    is_buy = rng.random(orders) < 0.5
    offset = rng.integers(-40, 41, orders)
    price = np.where(is_buy, MID - 10 + offset, MID + 10 + offset)
    quantity = rng.integers(1, 100, orders)
    target = (rng.random(orders) * np.arange(orders)).astype(np.int64) + 1  # an earlier id
    return kind, is_buy, price, quantity, target


def run_book(stream: tuple[np.ndarray, ...]) -> tuple[int, float]:
    """Play the stream into an :class:`OrderBook`; return (trades, seconds)."""
    kind, is_buy, price, quantity, target = (a.tolist() for a in stream)
    book = OrderBook(gate_closure_s=1 << 62)
    submit, cancel = book.submit, book.cancel
    trades = 0
    t0 = time.perf_counter()
    for i, k in enumerate(kind):
        oid = i + 1
        side = "buy" if is_buy[i] else "sell"
        if k == LIMIT:
            trades += len(submit(oid, side, quantity[i], price[i], "limit", i).trades)
        elif k == MARKET:
            trades += len(submit(oid, side, quantity[i], None, "market", i).trades)
        else:
            cancel(target[i], i)
    return trades, time.perf_counter() - t0


def run_naive(stream: tuple[np.ndarray, ...]) -> tuple[int, float]:
    """The same stream into a list-scan matcher (best price found by scanning every order)."""
    kind, is_buy, price, quantity, target = (a.tolist() for a in stream)
    bids: list[list[int]] = []  # [order id, price, quantity, sequence]
    asks: list[list[int]] = []
    trades = 0
    t0 = time.perf_counter()
    for i, k in enumerate(kind):
        oid = i + 1
        if k == CANCEL:
            for side in (bids, asks):
                for j, o in enumerate(side):
                    if o[0] == target[i]:
                        del side[j]
                        break
            continue
        buy = is_buy[i]
        qty = quantity[i]
        limit = None if k == MARKET else price[i]
        opposite = asks if buy else bids
        while qty and opposite:
            if buy:
                best = min(opposite, key=lambda o: (o[1], o[3]))
                if limit is not None and best[1] > limit:
                    break
            else:
                best = min(opposite, key=lambda o: (-o[1], o[3]))
                if limit is not None and best[1] < limit:
                    break
            fill = min(qty, best[2])
            trades += 1
            qty -= fill
            best[2] -= fill
            if best[2] == 0:
                opposite.remove(best)
        if qty and k == LIMIT:
            (bids if buy else asks).append([oid, price[i], qty, i])
    return trades, time.perf_counter() - t0


def run(orders: int = 200_000, baseline_orders: int = 5_000, seed: int = 0,
        pairs: int = 10) -> dict:
    """Orders per second of the book, and against the naive matcher on a shorter stream
    in ``pairs`` interleaved pairs (:mod:`.paired`): the speed-up's median and spread."""
    stream = order_stream(orders, seed)
    trades, seconds = run_book(stream)
    result = {"orders": orders, "orders_per_s": round(orders / seconds), "trades": trades,
              "wall_s": round(seconds, 4)}
    n_base = min(orders, baseline_orders)
    if n_base:
        short = tuple(a[:n_base] for a in stream)
        counts = {"book": set(), "naive": set()}

        def timed(name: str, fn) -> float:
            n, s = fn(short)
            counts[name].add(n)
            return s

        got = interleave(lambda: timed("naive", run_naive), lambda: timed("book", run_book),
                         max(pairs, 1))
        result.update({
            "baseline": "naive list-scan matcher",
            "baseline_orders": n_base,
            "baseline_orders_per_s": round(n_base / statistics.median(got.first)),
            **got.summary("speedup_vs_baseline", digits=2),
            "baseline_trades_match": len(counts["book"]) == 1 and counts["book"] == counts["naive"],
        })
    return result
