"""Automated trading from the reference library's config dictionary.

``create_trading_engine(config)`` gives an :class:`AutomatedTradingEngine`: strategies
(``add_strategy``), then ``start()``, which returns at once and trades in a background
thread, hour by hour, on the configured markets:

- without a live feed, over ``data_provider.days`` days of the bundled DE-LU 2019 prices
  (``historical``) or of simulated ones, as fast as it computes (a bounded run: the thread
  ends with the data);
- with feeds (``data_provider.type: live``), each hour only once the feeds have published
  what that hour needs (the intraday quote of the next hour, the day-ahead and FCR prices
  as far as they are published): the run waits for the feed and ends when a feed ends or
  stays silent for ``feed_timeout_s``.

Each hour is :class:`vpp.markets.trading.backtest.BacktestSession`'s: the battery delivers,
pending day-ahead orders clear at publication, the strategy decides on what is published,
**every order goes through the risk limits** (:class:`vpp.markets.trading.risk.RiskManager`)
and the rest is filled by a price-taking exchange. ``stop()`` ends the run at the next hour
boundary and waits for the thread; ``wait()`` waits for the end of the run and re-raises an
error it met. ``report()``, ``orders``, ``fills`` and ``rejections`` say what it did.
The thread is a ``concurrent.futures`` worker: at interpreter exit it is waited for, so a
script that only calls ``start()`` trades its days and then exits.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from vpp.markets.trading.backtest import BacktestSession
from vpp.markets.trading.engine import TradingEngine
from vpp.markets.trading.market_data import (
    DAY_AHEAD_PUBLICATION_HOUR,
    MarketData,
    de_lu_2019_market_data,
    simulated_market_data,
)
from vpp.markets.trading.risk import RiskLimits, StressScenario, day_ahead_shocks
from vpp.markets.trading.strategies import (
    MultiStrategy,
    Strategy,
    make_trading_strategy,
)
from vpp.markets.trading.types import Fill, Order, Rejection
from vpp.trading.config import KW_PER_MW, DataConfig, TradingConfig, parse_config
from vpp.trading.results import Record
from vpp.trading.strategies import create_arbitrage_strategy

__all__ = ["AutomatedTradingEngine", "TradingReport", "create_trading_engine"]

log = logging.getLogger(__name__)

_POLL_S = 0.005


@dataclasses.dataclass(frozen=True, eq=False)
class TradingReport(Record):
    """What the engine did so far (money in ``currency``; power kW, energy kWh).

    ``status``: ``not started``, ``running``, ``finished`` (the data ended), ``stopped``,
    ``feed ended``, ``feed timeout`` or ``failed: ...``; ``hours``: hours traded;
    ``profit``: equity now minus equity at the start (marks as in ``docs/trading.md``);
    ``rejections``: orders stopped, counted by the limit (or market rule) that stopped
    them; ``max_position_kw``: the largest position held in one market and hour;
    ``fed_hours``: per series, the hours whose price came from a live feed;
    ``feed_values_ignored``: feed values not applied (out of order, not an hour of the
    data).
    """

    status: str
    data: str
    markets: tuple[str, ...]
    strategies: tuple[str, ...]
    hours: int
    orders: int
    fills: int
    rejections: dict[str, int]
    profit: float
    realized: float
    unrealized: float
    fees: float
    traded_kwh: float
    imbalance_kwh: float
    max_position_kw: float
    fed_hours: dict[str, int]
    feed_values_ignored: int
    currency: str = "EUR"


def _market_data(cfg: DataConfig, kind: str) -> MarketData:
    if kind == "simulated":
        data = simulated_market_data(cfg.first_day + cfg.days, seed=cfg.seed)
    else:
        data = de_lu_2019_market_data(seed=cfg.seed, days=cfg.first_day + cfg.days)
        if data.hours < 24 * (cfg.first_day + cfg.days):
            raise ValueError(f"data_provider: DE-LU 2019 has {data.hours // 24} days, "
                             f"first_day + days = {cfg.first_day + cfg.days}")
    data = data.days(cfg.first_day, cfg.days)
    if cfg.start is not None:
        try:
            start = np.datetime64(cfg.start, "s")
        except ValueError:
            raise ValueError(f"data_provider.start: {cfg.start!r} is not an ISO date") from None
        data = data.replace(timestamps_utc=start + np.arange(data.hours) * np.timedelta64(
            3600, "s"))
    return data


def _own_shocks(data: MarketData, limits: RiskLimits) -> tuple[StressScenario, ...] | None:
    """The stress limit's shocks from the day-ahead series being traded (None without a
    stress limit); with live feeds, from the base series the feeds start from."""
    return None if limits.stress_limit_eur is None else day_ahead_shocks(data)


def _default_strategy(name: str, config: TradingConfig) -> Strategy:
    if name == "arbitrage":
        return create_arbitrage_strategy(
            fcr_share=0.5 if "ancillary" in config.project_markets else 0.0)
    return make_trading_strategy(name)


class AutomatedTradingEngine:
    """Strategies trading a battery on the configured markets (see the module docstring).

    Args:
        config: the typed configuration (:func:`create_trading_engine` makes it from a
            dictionary).
        sources: feed name -> a :class:`vpp.agents.ops.feeds.FeedSource`, for the feeds
            of ``data_provider.feeds`` that name no ``csv`` or ``zmq`` source.
    """

    def __init__(self, config: TradingConfig, sources: Mapping[str, Any] | None = None) -> None:
        self.config = config
        try:
            self.storage = config.storage.spec()
        except ValueError as exc:
            raise ValueError(f"trading config: storage: {exc}") from None
        self.limits = config.risk_limits.limits(config.capital)
        self.markets = config.project_markets
        feeds = config.data_provider.feeds
        self._given = dict(sources or {})
        for name in self._given:
            if name not in feeds:
                raise ValueError(f"sources: {name!r} is not a feed of data_provider.feeds")
        for name, feed in feeds.items():
            if feed.csv is None and feed.zmq is None and name not in self._given:
                raise ValueError(f"data_provider.feeds.{name}: no `csv` or `zmq` source, "
                                 f"and none given in sources")
        self.strategies: dict[str, Strategy] = {
            name: _default_strategy(name, config) for name in config.strategies}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._future: Future | None = None
        self._status = "not started"
        self._session: BacktestSession | None = None
        self._feeds = None
        self.feed_endpoints: dict[str, str] = {}

    # -- set-up -----------------------------------------------------------------------
    def add_strategy(self, strategy: Strategy) -> None:
        """Trade with ``strategy`` too; one of the same name (a configured default)
        is replaced. Strategies share the battery equally."""
        if not isinstance(strategy, Strategy):
            raise ValueError(f"add_strategy: {strategy!r} has no name and decide(view, book)")
        if self._future is not None:
            raise RuntimeError("add_strategy: the engine has started; add strategies before")
        if strategy.name in self.strategies:
            log.info("strategy %s replaces the configured one of that name", strategy.name)
        self.strategies[strategy.name] = strategy

    def _strategy(self) -> Strategy:
        found = list(self.strategies.values())
        if not found:
            raise ValueError("no strategy: configure `strategies` or call add_strategy()")
        if len(found) == 1:
            return found[0]
        return MultiStrategy([(s, 1.0 / len(found)) for s in found],
                             name="+".join(self.strategies))

    # -- running ----------------------------------------------------------------------
    def start(self) -> bool:
        """Start trading in a background thread and return at once (True)."""
        if self._future is not None:
            raise RuntimeError("start: the engine was already started")
        self._stop.clear()
        cfg = self.config.data_provider
        data = _market_data(cfg, cfg.base if cfg.type == "live" else cfg.type)
        engine = TradingEngine(self._strategy(), self.storage, data.hours,
                               limits=self.limits, capital_eur=self.config.capital,
                               markets=self.markets, shocks=_own_shocks(data, self.limits))
        if cfg.type == "live":
            from vpp.trading.feeds import LiveFeeds

            self._feeds = LiveFeeds(data, cfg.feeds, self._given)
            self.feed_endpoints = dict(self._feeds.endpoints)
            data = self._feeds.data
        self._session = BacktestSession(data, [engine])
        self._status = "running"
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpp-trading")
        self._future = executor.submit(self._run)
        executor.shutdown(wait=False)
        return True

    def _run(self) -> None:
        session = self._session
        status = "failed"
        try:
            while True:
                if session.done:
                    status = "finished"
                    break
                if self._stop.is_set():
                    status = "stopped"
                    break
                if self._feeds is not None:
                    waited = self._await_feeds(session.now)
                    if waited is not None:
                        status = waited
                        break
                with self._lock:
                    session.step()
        finally:
            if self._feeds is not None:
                self._feeds.close()
            self._status = status
            log.info("automated trading %s after %d hours", status, session.now)

    def _needed(self, now: int) -> dict[str, int]:
        """Per fed series, the last hour the decision of hour ``now`` reads."""
        last = self._session.data.hours - 1
        days = now // 24 + (2 if now % 24 >= DAY_AHEAD_PUBLICATION_HOUR else 1)
        published = min(24 * days, last + 1) - 1
        out = {}
        for series in self._feeds.board.fed:
            out[series] = min(now + 1, last) if series == "intraday_eur_mwh" else published
        return out

    def _await_feeds(self, now: int) -> str | None:
        """Take feed values until hour ``now`` has what it reads; the status that ends the
        run instead (``stopped``, ``feed ended``, ``feed timeout``), or None."""
        feeds = self._feeds
        needed = self._needed(now)
        timeout = self.config.data_provider.feed_timeout_s
        heard = time.monotonic()
        while True:
            if feeds.poll():
                heard = time.monotonic()
            if all(feeds.last_hour(s) >= hour for s, hour in needed.items()):
                return None
            if feeds.exhausted:
                return "feed ended"
            if time.monotonic() - heard > timeout:
                return "feed timeout"
            if self._stop.wait(_POLL_S):
                return "stopped"

    def stop(self, timeout: float | None = 30.0) -> None:
        """End the run at the next hour boundary and wait (``timeout`` s) for the thread."""
        self._stop.set()
        if self._future is not None:
            self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True when it ended (errors of the run are raised)."""
        if self._future is None:
            return False
        try:
            self._future.result(timeout)
        except TimeoutError:
            return False
        return True

    @property
    def running(self) -> bool:
        """True while the trading thread runs."""
        return self._future is not None and not self._future.done()

    @property
    def status(self) -> str:
        """``not started``, ``running``, ``finished``, ``stopped``, ``feed ended``,
        ``feed timeout`` or ``failed: ...``."""
        future = self._future
        if future is not None and future.done() and future.exception() is not None:
            return f"failed: {future.exception()}"
        return self._status

    # -- what it did --------------------------------------------------------------------
    def _engine(self) -> TradingEngine | None:
        return self._session.engines[0] if self._session is not None else None

    @property
    def orders(self) -> list[Order]:
        """Every order sent (after the risk checks), in order (MW, EUR/MWh)."""
        with self._lock:
            engine = self._engine()
            return list(engine.sent) if engine else []

    @property
    def fills(self) -> list[Fill]:
        """Every fill, in order."""
        with self._lock:
            engine = self._engine()
            return list(engine.portfolio.fills) if engine else []

    @property
    def rejections(self) -> list[Rejection]:
        """Every order stopped (a risk limit, a closed market, a limit price not met)."""
        with self._lock:
            engine = self._engine()
            return list(engine.rejections) if engine else []

    @property
    def equity(self) -> np.ndarray:
        """Equity (money) before the first hour and at each hour traded."""
        with self._lock:
            if self._session is None:
                return np.zeros(0)
            return self._session.equity[0, : self._session.now + 1].copy()

    @property
    def booked_equity(self) -> np.ndarray:
        """The equity less its unrealized P&L, at the same hours as :attr:`equity`: what the
        daily loss limit counts (``docs/trading.md``, two limits defined for storage)."""
        with self._lock:
            if self._session is None:
                return np.zeros(0)
            now = self._session.now + 1
            return self._session.equity[0, :now] - self._session.unrealized[0, :now]

    def max_position_kw(self) -> float:
        """The largest position held in one market and delivery hour (kW)."""
        with self._lock:
            engine = self._engine()
            if engine is None:
                return 0.0
            book = engine.portfolio
            held = [np.abs(book.sold_mw[m] - book.bought_mw[m] + book.pending_mw[m])
                    for m in book.sold_mw]
            held.append(book.reserve_mw + book.pending_mw["ancillary"])
            return float(max(np.max(h) for h in held)) * KW_PER_MW

    def report(self) -> TradingReport:
        """The figures of the run so far (see :class:`TradingReport`)."""
        status = self.status
        biggest = self.max_position_kw()
        with self._lock:
            engine, session = self._engine(), self._session
            if engine is None:
                return TradingReport(status, "", self.markets, tuple(self.strategies), 0, 0,
                                     0, {}, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, {}, 0)
            book = engine.portfolio
            now = session.now
            equity = session.equity[0, : now + 1]
            unreal = session.unrealized[0, now] - session.unrealized[0, 0]
            counts: dict[str, int] = {}
            for r in engine.rejections:
                counts[r.limit] = counts.get(r.limit, 0) + 1
            profit = float(equity[-1] - equity[0])
            source, fed, ignored = session.data.source, {}, 0
            if self._feeds is not None:
                board = self._feeds.board
                fed = {s: len(h) for s, h in board.fed.items()}
                ignored = board.out_of_order + board.unmatched + board.unknown_feed
                source += "; live feeds: " + ", ".join(
                    f"{name} -> {board.feeds[name]}" for name in board.feeds)
            return TradingReport(
                status=status, data=source, markets=self.markets,
                strategies=tuple(self.strategies), hours=now, orders=len(engine.sent),
                fills=len(book.fills), rejections=dict(sorted(counts.items())),
                profit=profit, realized=profit - float(unreal), unrealized=float(unreal),
                fees=book.fees_eur, traded_kwh=book.traded_mwh * KW_PER_MW,
                imbalance_kwh=book.imbalance_mwh * KW_PER_MW, max_position_kw=biggest,
                fed_hours=fed, feed_values_ignored=ignored)


def create_trading_engine(config: Mapping[str, Any] | None = None, *,
                          sources: Mapping[str, Any] | None = None) -> AutomatedTradingEngine:
    """An :class:`AutomatedTradingEngine` from the reference library's config dictionary
    (keys and units: :class:`vpp.trading.config.TradingConfig`); ``ValueError`` names
    the key at fault."""
    return AutomatedTradingEngine(parse_config(config), sources)
