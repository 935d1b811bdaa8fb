"""Prices taken from a live feed (``agents/ops/feeds.py``) into an agent's market data.

A :class:`PriceBoard` holds a private copy of a :class:`~markets.trading.market_data.MarketData`
and writes each :class:`~agents.ops.feeds.FeedValue` it is handed into the series its
feed (the feed agent's name) writes (``{"epex": "intraday_eur_mwh"}``), at the hour of the
value's timestamp. What the agent reads next (a trader's :class:`MarketView`, a market
maker's quote) is then the published price. Values come in ``seq`` order per feed; one
that goes back (a duplicate or a reordering), whose time is not an hour of the data,
whose value is not finite or whose feed is not one of the board's is counted, logged (as
a count per reason and interval, never a line each) and not applied: a bad value never
takes the agent down. Hours the feed has not (yet) published keep the data's own values;
:attr:`PriceBoard.fed` says which hours came from the feed (see ``docs/operations.md``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from vpp.agents.ops.feeds import FeedValue
from vpp.agents.runtime.limits import DropLog, quote
from vpp.markets.trading.market_data import MarketData

log = logging.getLogger(__name__)

PRICE_SERIES = ("day_ahead_eur_mwh", "intraday_eur_mwh", "fcr_eur_mw_h")
"""The series of :class:`MarketData` a feed can write."""

HEARD_KEPT = 10_000
""":attr:`PriceBoard.heard` keeps the latest this many values."""


@dataclass
class Heard:
    """One feed value as the agent received it (``at``: ``time.monotonic()``)."""

    at: float
    value: FeedValue
    hour: int | None
    applied: bool


@dataclass
class PriceBoard:
    """A market data copy fed by topics.

    Args:
        data: the data to start from (not changed: the board works on a copy).
        feeds: feed name -> the series it writes (one of :data:`PRICE_SERIES`).

    Raises:
        ValueError: a series that is not a price series of the data.
    """

    data: MarketData
    feeds: Mapping[str, str]
    heard: deque[Heard] = field(default_factory=lambda: deque(maxlen=HEARD_KEPT))
    """The values received, in arrival order (the latest :data:`HEARD_KEPT`)."""
    fed: dict[str, set[int]] = field(default_factory=dict)
    """Per series, the hours whose price came from the feed."""
    out_of_order: int = 0
    unmatched: int = 0
    unknown_feed: int = 0
    not_finite: int = 0
    _last_seq: dict[str, int] = field(default_factory=dict)
    drops: DropLog = field(default_factory=lambda: DropLog("price board", log,
                                                           noun="feed value(s)"))

    def __post_init__(self) -> None:
        for feed, series in self.feeds.items():
            if series not in PRICE_SERIES:
                raise ValueError(f"feeds[{feed!r}]: {series!r} is not one of {PRICE_SERIES}")
        copies = {s: np.array(getattr(self.data, s), dtype=float)
                  for s in set(self.feeds.values())}
        self.data = self.data.replace(**copies)
        self.fed = {s: set() for s in copies}
        self._writable = copies
        self._stamps = self.data.timestamps_utc.astype("datetime64[s]")

    def hour_of(self, text: str) -> int | None:
        """The data's hour index of an ISO 8601 time, None when it is not one of them."""
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            return None
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        stamp = np.datetime64(at, "s")
        i = int(np.searchsorted(self._stamps, stamp))
        return i if i < self._stamps.size and self._stamps[i] == stamp else None

    def take(self, value: FeedValue) -> bool:
        """Write ``value`` into its feed's series; False (counted, logged) when its feed
        is not on the board, it goes back in its feed's ``seq``, its value is not finite
        or its time is not an hour of the data."""
        series = self.feeds.get(value.feed)
        hour = self.hour_of(value.time) if series is not None else None
        last = self._last_seq.get(value.feed, -1)
        applied = False
        feed = quote(value.feed, 40)
        if series is None:
            self.unknown_feed += 1
            self.drops.note("unknown-feed", f"feed {feed} is not one this agent takes "
                            "prices from", feed)
        elif value.seq <= last:
            self.out_of_order += 1
            self.drops.note("out-of-order", f"feed {feed}: value {value.seq} after {last}",
                            feed)
        elif not math.isfinite(value.value):
            self.not_finite += 1
            self.drops.note("not-finite", f"feed {feed}: value {value.value!r}", feed)
        elif hour is None:
            self.unmatched += 1
            self._last_seq[value.feed] = value.seq
            self.drops.note("unmatched", f"feed {feed}: time {quote(value.time, 40)} is not "
                            "an hour of the market data", feed)
        else:
            self._last_seq[value.feed] = value.seq
            self._writable[series][hour] = value.value
            self.fed[series].add(hour)
            applied = True
        self.heard.append(Heard(time.monotonic(), value, hour, applied))
        self.drops.maybe_flush()
        return applied
