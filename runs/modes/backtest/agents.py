"""Backtests through the market agents: traders and a replay agent trade over ZeroMQ.

One process, two hosts on ``inproc://`` (markets; traders and the replay), one simulated
clock moved hour by hour. Per hour: the continuous market opens the next hour's book and
the replay rests its quotes; each :class:`TraderAgent` delivers, decides and sends; the
loop runs until every order has its answer. At 00:00 of day ``d`` the auction for day
``d + 1`` opens and the replay bids; at 11:00 traders bid, at 11:30 the gate closes and
the results come back, to be booked at 12:00 (publication), as in the engine's backtest
(:func:`vpp.markets.trading.backtest.run_backtest`), which this reproduces trade for trade
when the prices lie on the continuous market's 0.01 EUR/MWh grid.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
from vpp.agents.kinds import default_registry
from vpp.agents.markets.exchange import ContinuousMarketAgent, DayAheadMarketAgent
from vpp.agents.markets.trader import ReplayAgent, TraderAgent, delivery_period
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.markets.trading.backtest import BacktestResult, collect
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import DAY_AHEAD_GATE_HOUR, MarketData, MarketView

__all__ = ["AgentRunError", "run_with_agents"]

log = logging.getLogger(__name__)

_runs = itertools.count()


class AgentRunError(RuntimeError):
    """The agents did not answer in time (the hour and what was missing are named)."""


def _auction(day: int) -> str:
    return f"day-ahead-{day}"


def run_with_agents(data: MarketData, engines: list[TradingEngine], *,
                    timeout_s: float = 10.0) -> BacktestResult:
    """Run ``engines`` as trader agents against the market agents over ``data``."""
    import zmq

    run = next(_runs)
    context = zmq.Context()
    clock = SimulatedClock()
    registry = default_registry()
    mkt = Host("mkt", f"inproc://trading-{run}-mkt", context=context, clock=clock,
               registry=registry)
    trd = Host("trd", f"inproc://trading-{run}-trd", context=context, clock=clock,
               registry=registry)
    mkt.connect("trd", trd.endpoint)
    trd.connect("mkt", mkt.endpoint)
    loop = EventLoop(mkt, trd)
    try:
        market = mkt.add(ContinuousMarketAgent("intraday"))
        replay = trd.add(ReplayAgent("replay", data, continuous_market="mkt/intraday"))
        traders = [trd.add(TraderAgent(f"trader-{i}", e, data,
                                       continuous_market="mkt/intraday",
                                       day_ahead_market=lambda d: f"mkt/{_auction(d)}"))
                   for i, e in enumerate(engines)]
        return _drive(data, engines, traders, replay, market, mkt, loop, clock, timeout_s)
    finally:
        mkt.close()
        trd.close()
        context.destroy(linger=0)


def _wait(loop: EventLoop, done, timeout_s: float, what: str, hour: int) -> None:
    if not loop.run_until(done, timeout_s):
        raise AgentRunError(f"hour {hour}: no answer within {timeout_s} s ({what})")


def _drive(data, engines, traders, replay, market, mkt, loop, clock, timeout_s):
    n = data.hours
    days = n // 24
    shape = (len(engines), n + 1)
    equity, unrealized, energy = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for i, engine in enumerate(engines):
        energy[i, 0] = engine.portfolio.energy_mwh
        equity[i, 0], unrealized[i, 0] = engine.portfolio.valuation(MarketView(data, 0))
    auctions: dict[int, DayAheadMarketAgent] = {}
    for now in range(n):
        clock.advance_to(3600.0 * now)
        day, hour_of_day = divmod(now, 24)
        expected = replay.answers
        if hour_of_day == 0 and day + 1 < days:
            hours = range(24 * (day + 1), 24 * (day + 2))
            gate = 3600.0 * (24 * day + DAY_AHEAD_GATE_HOUR) + 1800.0
            auctions[day + 1] = mkt.add(DayAheadMarketAgent(_auction(day + 1), list(hours),
                                                            gate))
            replay.bid_day(f"mkt/{_auction(day + 1)}", hours)
            expected += 1
        if now + 1 < n:
            market.open_period(delivery_period(now + 1), 3600 * (now + 1))
            replay.quote(now + 1)
            expected += 2
        _wait(loop, lambda: replay.answers >= expected, timeout_s, "replay quotes", now)
        for i, trader in enumerate(traders):
            trader.on_hour(now)
            energy[i, now + 1] = trader.engine.portfolio.energy_mwh
            equity[i, now + 1], unrealized[i, now + 1] = trader.valuation
        _wait(loop, lambda: not any(t.waiting for t in traders), timeout_s,
              "answers to orders and bids", now)
        if hour_of_day == DAY_AHEAD_GATE_HOUR and day + 1 in auctions:
            clock.advance_to(3600.0 * now + 1800.0)
            auctions[day + 1].close_gate()
            _wait(loop, lambda: not any(t.awaiting_results for t in traders), timeout_s,
                  "day-ahead results", now)
    return collect(data, engines, equity, unrealized, energy)
