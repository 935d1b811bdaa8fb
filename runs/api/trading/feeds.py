"""Live prices for the automated engine: feed sources polled into a price board.

Each configured feed is a :class:`vpp.agents.ops.feeds.FeedSource` (a CSV replay, a ZeroMQ
PULL socket, or any source the caller gives); every point it hands over becomes a
:class:`~vpp.agents.ops.feeds.FeedValue` of that feed, numbered in order, taken by a
:class:`vpp.agents.markets.price_feed.PriceBoard` that writes it into its series of the engine's
own copy of the market data, at the hour of its time. A value whose time is not an hour
of the data, or that goes back, is counted and logged by the board and not applied.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from vpp.agents.markets.price_feed import PriceBoard
from vpp.agents.ops.feeds import CsvReplaySource, FeedSource, FeedValue, ZmqPushSource
from vpp.markets.trading.market_data import MarketData
from vpp.trading.config import FeedConfig

__all__ = ["LiveFeeds"]


class LiveFeeds:
    """The engine's feeds and the board they write into.

    Args:
        data: the market data the feeds update (the board works on a copy).
        feeds: feed name -> its configuration.
        given: feed name -> a source object (for feeds configured without one).

    Raises:
        ValueError: a CSV that cannot be read (naming the file, column or line).
    """

    def __init__(self, data: MarketData, feeds: Mapping[str, FeedConfig],
                 given: Mapping[str, Any]) -> None:
        self.board = PriceBoard(data, {name: f.series for name, f in feeds.items()})
        self.sources: dict[str, FeedSource] = {}
        self.endpoints: dict[str, str] = {}
        try:
            for name, f in feeds.items():
                if name in given:
                    self.sources[name] = given[name]
                elif f.csv is not None:
                    self.sources[name] = CsvReplaySource(
                        f.csv, f.column, time_column=f.time_column, speed=f.speed,
                        start=f.start, end=f.end)
                else:
                    source = ZmqPushSource(f.zmq)
                    self.sources[name] = source
                    self.endpoints[name] = source.endpoint
        except ValueError:
            self.close()
            raise
        self._seq = dict.fromkeys(self.sources, 0)
        self._t0 = time.monotonic()

    @property
    def data(self) -> MarketData:
        """The market data the feeds write into."""
        return self.board.data

    @property
    def exhausted(self) -> bool:
        """True when no source will hand over anything again."""
        return all(getattr(s, "exhausted", False) for s in self.sources.values())

    def poll(self) -> int:
        """Take every point due from every source; how many there were."""
        elapsed = time.monotonic() - self._t0
        taken = 0
        for name, source in self.sources.items():
            for point in source.poll(elapsed):
                self.board.take(FeedValue(name, self._seq[name], point.series, point.time,
                                          point.value))
                self._seq[name] += 1
                taken += 1
        return taken

    def last_hour(self, series: str) -> int:
        """The latest hour of ``series`` written by a feed (-1: none yet)."""
        return max(self.board.fed[series], default=-1)

    def close(self) -> None:
        """Close every source."""
        for source in self.sources.values():
            source.close()
