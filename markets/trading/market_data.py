"""Hourly market data for trading, and what a trader may see of it at a given hour.

:class:`MarketData` holds the whole history (day-ahead price, realized intraday price,
FCR capacity price, load forecast and actual load); :class:`MarketView` is what a
strategy gets at hour ``now``: each array only up to its publication bound (see
``docs/trading.md``, "What a trader knows, and when"), so no strategy can read the future.

The day-ahead prices, load and load forecast of DE-LU 2019 are real
(:func:`vpp.markets.data.load_de_lu_2019`). Continuous intraday prices and FCR capacity prices
are not in the bundled data: :func:`de_lu_2019_market_data` simulates them around the real
day-ahead price (stated in ``MarketData.source``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vpp.markets.data import PriceProcess, _ar1, load_de_lu_2019, simulate_prices

__all__ = [
    "DAY_AHEAD_GATE_HOUR",
    "DAY_AHEAD_PUBLICATION_HOUR",
    "MarketData",
    "MarketView",
    "de_lu_2019_market_data",
    "market_data_from_prices",
    "simulated_market_data",
]

DAY_AHEAD_GATE_HOUR = 11
"""Hour of day (UTC) of the day-ahead and FCR gate for the next day."""
DAY_AHEAD_PUBLICATION_HOUR = 12
"""Hour of day at which the next day's day-ahead and FCR prices are known."""


@dataclass(frozen=True, slots=True)
class MarketData:
    """Hourly series of equal length (a whole number of days), hour 0 = midnight UTC.

    ``intraday_half_spread_eur_mwh``: the quote for an hour is ``intraday -+ half spread``.
    ``simulated``: the markets whose prices are simulated, not recorded (of
    ``day_ahead``, ``intraday``, ``ancillary``), for reports to say so.
    """

    timestamps_utc: np.ndarray
    day_ahead_eur_mwh: np.ndarray
    intraday_eur_mwh: np.ndarray
    fcr_eur_mw_h: np.ndarray
    load_forecast_mw: np.ndarray
    load_actual_mw: np.ndarray
    intraday_half_spread_eur_mwh: float
    source: str
    simulated: tuple[str, ...] = ()
    currency: str = "EUR"
    """The currency of every price (the ``_eur`` names hold amounts in it)."""

    def __post_init__(self) -> None:
        n = self.day_ahead_eur_mwh.size
        if n < 48 or n % 24:
            raise ValueError(f"market data: {n} hours; expected whole days, at least 2")
        for name in ("timestamps_utc", "intraday_eur_mwh", "fcr_eur_mw_h", "load_forecast_mw",
                     "load_actual_mw"):
            if getattr(self, name).size != n:
                raise ValueError(f"market data: {name} has {getattr(self, name).size} values, "
                                 f"day_ahead_eur_mwh has {n}")

    @property
    def hours(self) -> int:
        """Number of hours."""
        return int(self.day_ahead_eur_mwh.size)

    def replace(self, **arrays: np.ndarray) -> MarketData:
        """A copy with some series replaced (e.g. to poison the future in a test)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(arrays)
        return MarketData(**fields)

    def days(self, first: int, count: int) -> MarketData:
        """``count`` days from day ``first``."""
        s = slice(24 * first, 24 * (first + count))
        return MarketData(self.timestamps_utc[s], self.day_ahead_eur_mwh[s],
                          self.intraday_eur_mwh[s], self.fcr_eur_mw_h[s],
                          self.load_forecast_mw[s], self.load_actual_mw[s],
                          self.intraday_half_spread_eur_mwh, self.source, self.simulated,
                          self.currency)


class MarketView:
    """What is published at hour ``now`` (see the table in ``docs/trading.md``).

    Every method returns read-only arrays cut at their publication bound.
    """

    __slots__ = ("_data", "now")

    def __init__(self, data: MarketData, now: int) -> None:
        self._data = data
        self.now = now

    @property
    def hours(self) -> int:
        """Length of the data (hours): the calendar, not the future."""
        return self._data.hours

    def weekday(self, hours: np.ndarray) -> np.ndarray:
        """Day of the week (Monday = 0) of each hour index: the calendar, not the future."""
        days = self._data.timestamps_utc[np.asarray(hours)].astype("datetime64[D]")
        return (days.astype(np.int64) + 3) % 7

    @property
    def hour_of_day(self) -> int:
        """``now % 24``."""
        return self.now % 24

    @property
    def is_gate(self) -> bool:
        """True at the day-ahead / FCR gate for tomorrow (orders for tomorrow go now)."""
        return self.now % 24 == DAY_AHEAD_GATE_HOUR and self.now + 13 < self._data.hours

    @property
    def is_publication(self) -> bool:
        """True when tomorrow's day-ahead and FCR prices were just published."""
        return self.now % 24 == DAY_AHEAD_PUBLICATION_HOUR and self.now + 12 < self._data.hours

    @property
    def tomorrow(self) -> range:
        """The hours of the next day."""
        start = 24 * (self.now // 24 + 1)
        return range(start, min(start + 24, self._data.hours))

    def _bound(self, publication_hour: int) -> int:
        days = self.now // 24 + (2 if self.now % 24 >= publication_hour else 1)
        return min(24 * days, self._data.hours)

    def day_ahead_eur_mwh(self) -> np.ndarray:
        """Day-ahead prices of every hour published so far."""
        return self._data.day_ahead_eur_mwh[: self._bound(DAY_AHEAD_PUBLICATION_HOUR)]

    def fcr_eur_mw_h(self) -> np.ndarray:
        """FCR capacity prices of every hour published so far."""
        return self._data.fcr_eur_mw_h[: self._bound(DAY_AHEAD_PUBLICATION_HOUR)]

    def load_forecast_mw(self) -> np.ndarray:
        """The day-ahead load forecast, through tomorrow from the gate on."""
        return self._data.load_forecast_mw[: self._bound(DAY_AHEAD_GATE_HOUR)]

    def intraday_eur_mwh(self) -> np.ndarray:
        """Realized intraday prices of the hours before ``now``."""
        return self._data.intraday_eur_mwh[: self.now]

    def load_actual_mw(self) -> np.ndarray:
        """Actual load of the hours before ``now``."""
        return self._data.load_actual_mw[: self.now]

    def quote(self, delivery_hour: int) -> tuple[float, float]:
        """The intraday (bid, ask) for ``delivery_hour``; only the next hour is quoted."""
        if delivery_hour != self.now + 1 or delivery_hour >= self._data.hours:
            raise ValueError(f"delivery_hour: {delivery_hour} is not quoted at hour {self.now}"
                             f" (only hour {self.now + 1} is)")
        mid = float(self._data.intraday_eur_mwh[delivery_hour])
        half = self._data.intraday_half_spread_eur_mwh
        return mid - half, mid + half

    def mark_eur_mwh(self) -> float:
        """The latest known price: the last realized intraday price (day-ahead at hour 0)."""
        if self.now > 0:
            return float(self._data.intraday_eur_mwh[self.now - 1])
        return float(self._data.day_ahead_eur_mwh[0])


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=float) if a.dtype.kind != "M" else a.copy()
    a.setflags(write=False)
    return a


def _intraday_and_fcr(day_ahead: np.ndarray, rng: np.random.Generator,
                      intraday_volatility: float, intraday_persistence: float,
                      fcr_mean: float) -> tuple[np.ndarray, np.ndarray]:
    n = day_ahead.size
    intraday = day_ahead + _ar1(intraday_volatility * rng.standard_normal(n),
                                intraday_persistence)
    # FCR: one lognormal level per 4-hour block (the product length), mean fcr_mean
    blocks = rng.lognormal(np.log(fcr_mean) - 0.125, 0.5, (n + 3) // 4)
    return intraday, np.repeat(blocks, 4)[:n]


def de_lu_2019_market_data(seed: int = 0, *, days: int | None = None,
                           intraday_volatility_eur_mwh: float = 4.0,
                           intraday_persistence: float = 0.7,
                           half_spread_eur_mwh: float = 0.5,
                           fcr_mean_eur_mw_h: float = 10.0) -> MarketData:
    """Real DE-LU 2019 day-ahead price and load; simulated intraday and FCR prices.

    Intraday = day-ahead + an AR(1) deviation (``intraday_volatility_eur_mwh`` per hour,
    coefficient ``intraday_persistence``); FCR = a lognormal price per 4-hour block with
    mean ``fcr_mean_eur_mw_h``. Both seeded by ``seed``. ``days`` keeps the first days.
    The first hour of the file is 2018-12-31 23:00 UTC, so days start at 23:00 UTC
    (midnight CET); hours of day are counted from there.
    """
    system = load_de_lu_2019()
    return market_data_from_prices(
        system.timestamps_utc, system.price_eur_mwh, system.load_forecast_mw,
        system.load_actual_mw, "day-ahead, load: DE-LU 2019 (SMARD/ENTSO-E)", seed, days=days,
        intraday_volatility_eur_mwh=intraday_volatility_eur_mwh,
        intraday_persistence=intraday_persistence, half_spread_eur_mwh=half_spread_eur_mwh,
        fcr_mean_eur_mw_h=fcr_mean_eur_mw_h)


def market_data_from_prices(timestamps_utc: np.ndarray, day_ahead: np.ndarray,
                            load_forecast_mw: np.ndarray | None,
                            load_actual_mw: np.ndarray | None, source: str, seed: int = 0, *,
                            currency: str = "EUR", days: int | None = None,
                            intraday_volatility_eur_mwh: float = 4.0,
                            intraday_persistence: float = 0.7,
                            half_spread_eur_mwh: float = 0.5,
                            fcr_mean_eur_mw_h: float = 10.0) -> MarketData:
    """Real hourly day-ahead prices (in ``currency``; hour 0 is the first row, whole days
    kept) with intraday and FCR prices simulated around them as in
    :func:`de_lu_2019_market_data`. Without load data the load arrays are NaN, and
    ``source`` says so (the ML strategy's features then carry no load)."""
    n = day_ahead.size if days is None else min(24 * days, day_ahead.size)
    n -= n % 24
    rng = np.random.default_rng(seed)
    da = day_ahead[:n]
    intraday, fcr = _intraday_and_fcr(da, rng, intraday_volatility_eur_mwh,
                                      intraday_persistence, fcr_mean_eur_mw_h)
    missing = np.full(n, np.nan)
    if load_forecast_mw is None or load_actual_mw is None:
        source += "; load: not in the data (NaN)"
    forecast = missing if load_forecast_mw is None else load_forecast_mw[:n]
    actual = missing if load_actual_mw is None else load_actual_mw[:n]
    return MarketData(_frozen(timestamps_utc[:n]), _frozen(da), _frozen(intraday),
                      _frozen(fcr), _frozen(forecast), _frozen(actual), half_spread_eur_mwh,
                      f"{source}; intraday, FCR: simulated (seed {seed})",
                      ("intraday", "ancillary"), currency)


def simulated_market_data(days: int, seed: int = 0,
                          process: PriceProcess = PriceProcess(), *,
                          intraday_volatility_eur_mwh: float = 4.0,
                          intraday_persistence: float = 0.7,
                          half_spread_eur_mwh: float = 0.5,
                          fcr_mean_eur_mw_h: float = 10.0) -> MarketData:
    """Every series simulated (seeded): day-ahead from ``process``, a daily load shape."""
    if days < 2:
        raise ValueError(f"days: {days} must be >= 2")
    rng = np.random.default_rng(seed)
    n = 24 * days
    da = simulate_prices(n, process, rng)
    intraday, fcr = _intraday_and_fcr(da, rng, intraday_volatility_eur_mwh,
                                      intraday_persistence, fcr_mean_eur_mw_h)
    hour = np.arange(n) % 24
    load = 55_000 + 10_000 * np.cos(2 * np.pi * (hour - 13) / 24)
    actual = load + 1_000 * rng.standard_normal(n)
    stamps = np.datetime64("2019-01-01T00:00:00") + np.arange(n).astype("timedelta64[h]")
    return MarketData(_frozen(stamps.astype("datetime64[s]")), _frozen(da), _frozen(intraday),
                      _frozen(fcr), _frozen(load), _frozen(actual), half_spread_eur_mwh,
                      f"simulated (seed {seed})", ("day_ahead", "intraday", "ancillary"))
