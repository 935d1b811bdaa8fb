"""Prices taken from a live feed (``agents/ops/feeds.py``) into an agent's market data.

A :class:`PriceBoard` holds a private copy of a :class:`~markets.trading.market_data.MarketData`
and writes each :class:`~agents.ops.feeds.FeedValue` it is handed into the series its
feed (the feed agent's name) writes (``{"epex": "intraday_eur_mwh"}``), at the hour of the
value's timestamp. What the agent reads next (a trader's :class:`MarketView`, a market
maker's quote) is then the published price. Values come in ``seq`` order per feed; one
that goes back (a duplicate or a reordering), whose time is not an hour of the data or
whose feed is not one of the board's is counted, logged and not applied: a bad value never takes the agent down. Hours the feed
has not (yet) published keep the data's own values; :attr:`PriceBoard.fed` says which
hours came from the feed (see ``docs/operations.md``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from vpp.agents.ops.feeds import FeedValue
from vpp.markets.trading.market_data import MarketData

log = logging.getLogger(__name__)

PRICE_SERIES = ("day_ahead_eur_mwh", "intraday_eur_mwh", "fcr_eur_mw_h")
"""The series of :class:`MarketData` a feed can write."""


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
    heard: list[Heard] = field(default_factory=list)
    """Every value received, in arrival order."""
    fed: dict[str, set[int]] = field(default_factory=dict)
    """Per series, the hours whose price came from the feed."""
    out_of_order: int = 0
    unmatched: int = 0
    unknown_feed: int = 0
    _last_seq: dict[str, int] = field(default_factory=dict)

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
        is not on the board, it goes back in its feed's ``seq`` or its time is not an
        hour of the data."""
        series = self.feeds.get(value.feed)
        hour = self.hour_of(value.time)
        last = self._last_seq.get(value.feed, -1)
        applied = False
        if series is None:
            self.unknown_feed += 1
            log.warning("feed %s is not one this agent takes prices from; ignored", value.feed)
        elif value.seq <= last:
            self.out_of_order += 1
            log.warning("feed %s: value %d after %d ignored (out of order)", value.feed,
                        value.seq, last)
        elif hour is None:
            self.unmatched += 1
            self._last_seq[value.feed] = value.seq
            log.warning("feed %s: time %r is not an hour of the market data; ignored",
                        value.feed, value.time)
        else:
            self._last_seq[value.feed] = value.seq
            self._writable[series][hour] = value.value
            self.fed[series].add(hour)
            applied = True
        self.heard.append(Heard(time.monotonic(), value, hour, applied))
        return applied
