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

from vpp.agents.kinds import default_registry
from vpp.agents.markets.exchange import ContinuousMarketAgent, DayAheadMarketAgent
from vpp.agents.markets.trader import ReplayAgent, TraderAgent, delivery_period
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.markets.trading.backtest import BacktestResult, collect, opening_ledger
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import DAY_AHEAD_GATE_HOUR, MarketData

__all__ = ["AgentRunError", "run_with_agents"]

log = logging.getLogger(__name__)

_runs = itertools.count()


class AgentRunError(RuntimeError):
    """The agents did not answer in time (the hour and what was missing are named)."""


def _auction(day: int) -> str:
    return f"day-ahead-{day}"


class AgentSession:
    """A backtest through the market agents, one hour at a time: the replay agent quotes
    the hour's prices and bids the rest of the market day-ahead, each trader agent trades
    through the exchanges by message, and the day-ahead auction closes at its gate.

    Args:
        data: the market data.
        engines: one trading engine per trader.
        timeout_s: wall seconds an hour's answers may take.
    """

    def __init__(self, data: MarketData, engines: list[TradingEngine], *,
                 timeout_s: float = 10.0) -> None:
        import zmq

        run = next(_runs)
        self.data, self.engines, self.timeout_s = data, engines, timeout_s
        self.context = zmq.Context()
        self.clock = SimulatedClock()
        registry = default_registry()
        self.mkt = Host("mkt", f"inproc://trading-{run}-mkt", context=self.context,
                        clock=self.clock, registry=registry)
        self.trd = Host("trd", f"inproc://trading-{run}-trd", context=self.context,
                        clock=self.clock, registry=registry)
        self.mkt.connect("trd", self.trd.endpoint)
        self.trd.connect("mkt", self.mkt.endpoint)
        self.hosts = [self.mkt, self.trd]
        self.loop = EventLoop(self.mkt, self.trd)
        try:
            self.market = self.mkt.add(ContinuousMarketAgent("intraday"))
            self.replay = self.trd.add(ReplayAgent("replay", data,
                                                   continuous_market="mkt/intraday"))
            self.traders = [self.trd.add(TraderAgent(
                f"trader-{i}", e, data, continuous_market="mkt/intraday",
                day_ahead_market=lambda d: f"mkt/{_auction(d)}"))
                for i, e in enumerate(engines)]
        except BaseException:
            self.close()
            raise
        self.equity, self.unrealized, self.energy = opening_ledger(data, engines)
        self.auctions: dict[int, DayAheadMarketAgent] = {}
        self.now = 0

    @property
    def done(self) -> bool:
        """True once every hour of the data was traded."""
        return self.now >= self.data.hours

    def step(self) -> None:
        """Trade hour ``now`` through the agents and move to the next."""
        data, now, loop, replay = self.data, self.now, self.loop, self.replay
        n, days = data.hours, data.hours // 24
        self.clock.advance_to(3600.0 * now)
        day, hour_of_day = divmod(now, 24)
        expected = replay.answers
        if hour_of_day == 0 and day + 1 < days:
            hours = range(24 * (day + 1), 24 * (day + 2))
            gate = 3600.0 * (24 * day + DAY_AHEAD_GATE_HOUR) + 1800.0
            self.auctions[day + 1] = self.mkt.add(DayAheadMarketAgent(
                _auction(day + 1), list(hours), gate))
            replay.bid_day(f"mkt/{_auction(day + 1)}", hours)
            expected += 1
        if now + 1 < n:
            self.market.open_period(delivery_period(now + 1), 3600 * (now + 1))
            replay.quote(now + 1)
            expected += 2
        _wait(loop, lambda: replay.answers >= expected, self.timeout_s, "replay quotes", now)
        for i, trader in enumerate(self.traders):
            trader.on_hour(now)
            self.energy[i, now + 1] = trader.engine.portfolio.energy_mwh
            self.equity[i, now + 1], self.unrealized[i, now + 1] = trader.valuation
        _wait(loop, lambda: not any(t.waiting for t in self.traders), self.timeout_s,
              "answers to orders and bids", now)
        if hour_of_day == DAY_AHEAD_GATE_HOUR and day + 1 in self.auctions:
            self.clock.advance_to(3600.0 * now + 1800.0)
            self.auctions[day + 1].close_gate()
            _wait(loop, lambda: not any(t.awaiting_results for t in self.traders),
                  self.timeout_s, "day-ahead results", now)
        self.now += 1

    def result(self) -> BacktestResult:
        """The result over every hour (call once :attr:`done`)."""
        return collect(self.data, self.engines, self.equity, self.unrealized, self.energy)

    def close(self) -> None:
        """Close the hosts and the context."""
        self.mkt.close()
        self.trd.close()
        self.context.destroy(linger=0)


def run_with_agents(data: MarketData, engines: list[TradingEngine], *,
                    timeout_s: float = 10.0) -> BacktestResult:
    """Run ``engines`` as trader agents against the market agents over ``data``."""
    session = AgentSession(data, engines, timeout_s=timeout_s)
    try:
        while not session.done:
            session.step()
        return session.result()
    finally:
        session.close()


def _wait(loop: EventLoop, done, timeout_s: float, what: str, hour: int) -> None:
    if not loop.run_until(done, timeout_s):
        raise AgentRunError(f"hour {hour}: no answer within {timeout_s} s ({what})")
