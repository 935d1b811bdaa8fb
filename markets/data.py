"""Market data: bundled historical prices, a real auction order book, simulated prices.

Bundled series are read by the one time-series reader (:mod:`vpp.physics.timeseries`)
through the catalogue of named datasets (:mod:`vpp.physics.datasets`; provenance and
licences in the data folders' ``ATTRIBUTION.md``):

* ``de_lu_2019`` (``physics/data/de_lu_2019_hourly_price_load_wind_solar.csv``, shared
  with planning): DE-LU 2019, 8760 hours (UTC), day-ahead price (EUR/MWh), load, solar and
  wind (MW).
* ``ember_nl_2019_2024`` (``markets/data/ember_nl_day_ahead_2019_2024.csv``): Netherlands
  day-ahead price (EUR/MWh), hourly UTC, 2019-2024 (two source gaps, kept).
* ``omie_day_ahead_bid_curves_2009-01-02_hour1.txt`` (not a time series; read here): every
  buy and sell step of the MIBEL day-ahead auction, hour 1 of 2009-01-02 (prices in the
  file in c€/kWh).

Timestamps are ``numpy.datetime64[s]`` in UTC (naive, UTC by convention).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
from vpp.physics.datasets import DE_LU_2019_CSV, dataset, read_dataset
from vpp.physics.timeseries import read_series

__all__ = [
    "DATA_DIR",
    "PriceSeries",
    "SystemSeries",
    "OmieCurves",
    "PriceProcess",
    "load_de_lu_2019",
    "load_ember_nl",
    "load_omie_curves",
    "simulate_prices",
]

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent / "data"
EMBER_NL_CSV = DATA_DIR / "ember_nl_day_ahead_2019_2024.csv"
OMIE_CURVES_TXT = DATA_DIR / "omie_day_ahead_bid_curves_2009-01-02_hour1.txt"

#: OMIE quotes prices in c€/kWh; 1 c€/kWh = 10 EUR/MWh.
OMIE_PRICE_TO_EUR_MWH = 10.0


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """An hourly price series: ``timestamps_utc`` (start of hour) and ``price_eur_mwh``."""

    timestamps_utc: np.ndarray
    price_eur_mwh: np.ndarray
    source: str
    currency: str = "EUR"
    """The prices' currency (``price_eur_mwh`` holds prices per MWh in it)."""

    def __len__(self) -> int:
        return int(self.price_eur_mwh.size)


@dataclass(frozen=True, slots=True)
class SystemSeries:
    """DE-LU 2019 hourly system data: price (EUR/MWh) and load, solar and wind (MW)."""

    timestamps_utc: np.ndarray
    price_eur_mwh: np.ndarray
    load_actual_mw: np.ndarray
    load_forecast_mw: np.ndarray
    grid_load_smard_mw: np.ndarray
    solar_mw: np.ndarray
    wind_onshore_mw: np.ndarray
    wind_offshore_mw: np.ndarray

    def prices(self) -> PriceSeries:
        """The day-ahead price column as a :class:`PriceSeries`."""
        return PriceSeries(self.timestamps_utc, self.price_eur_mwh, "DE-LU 2019 (SMARD/ENTSO-E)")


@dataclass(frozen=True, slots=True)
class OmieCurves:
    """Bid steps of one MIBEL day-ahead hour.

    Each row is one step: ``is_buy`` (``C`` compra) or sell (``V`` venta),
    ``quantity_mwh``, ``price_eur_mwh`` (converted from c€/kWh) and ``matched``
    (True for the exchange's ``C`` casada rows, False for offered ``O`` rows).
    """

    date: str
    hour: int
    is_buy: np.ndarray
    quantity_mwh: np.ndarray
    price_eur_mwh: np.ndarray
    matched: np.ndarray

    def matched_volume_mwh(self) -> float:
        """Volume the exchange matched (sum of matched sell steps, MWh)."""
        return float(self.quantity_mwh[self.matched & ~self.is_buy].sum())

    def highest_matched_sell_price_eur_mwh(self) -> float:
        """Price of the most expensive matched sell step (EUR/MWh)."""
        return float(self.price_eur_mwh[self.matched & ~self.is_buy].max())


def _stamps(times) -> np.ndarray:
    """UTC instants as naive ``datetime64[s]``."""
    return np.asarray(times.tz_convert("UTC").tz_localize(None).values, dtype="datetime64[s]")


def _series(name: str, path: Path | str | None):
    """Dataset ``name`` (cached), or a file laid out like it at ``path``."""
    if path is None:
        return read_dataset(name)
    return read_series(dataset(name).mapping, Path(path))


def load_de_lu_2019(path: Path | str | None = None) -> SystemSeries:
    """Load the DE-LU 2019 hourly price/load/wind/solar file (8760 rows, UTC): the bundled
    ``de_lu_2019`` dataset, or a file of the same layout at ``path``."""
    s = _series("de_lu_2019", None if path is None or Path(path) == DE_LU_2019_CSV else path)
    names = ["price_eur_mwh", "load_actual_entsoe_mw", "load_forecast_entsoe_mw",
             "grid_load_smard_mw", "solar_mw", "wind_onshore_mw", "wind_offshore_mw"]
    return SystemSeries(_stamps(s.times), *(np.array(s.values[n]) for n in names))


def load_ember_nl(
    path: Path | str | None = None, first_year: int | None = None, last_year: int | None = None
) -> PriceSeries:
    """Load the Netherlands day-ahead prices (UTC), optionally only ``first_year..last_year``
    (the bundled ``ember_nl_2019_2024`` dataset, or a file of its layout at ``path``)."""
    s = _series("ember_nl_2019_2024", None if path is None or Path(path) == EMBER_NL_CSV
                else path)
    stamps = _stamps(s.times)
    price = np.array(s.values["price"])
    years = stamps.astype("datetime64[Y]").astype(int) + 1970
    keep = np.ones(years.size, dtype=bool)
    if first_year is not None:
        keep &= years >= first_year
    if last_year is not None:
        keep &= years <= last_year
    return PriceSeries(stamps[keep], price[keep], "Ember NL day-ahead (ENTSO-E)", s.currency)


def _spanish_number(text: str, field: str) -> float:
    """Parse ``3.922,0`` (thousands ``.``, decimal ``,``); ValueError names the field."""
    try:
        return float(text.replace(".", "").replace(",", "."))
    except ValueError as err:
        raise ValueError(f"{field}: bad number {text!r}") from err


def load_omie_curves(path: Path | str = OMIE_CURVES_TXT) -> OmieCurves:
    """Parse an OMIE day-ahead curve file (``;``-separated, latin-1, c€/kWh prices)."""
    with open(path, encoding="latin-1") as handle:
        lines = handle.read().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Hora;")), None)
    if start is None:
        raise ValueError(f"{Path(path).name}: no 'Hora;' column header line")
    is_buy, qty, price, matched = [], [], [], []
    date, hour = "", -1
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        cells = line.split(";")
        if not cells[0].strip():
            continue  # trailing ';;;;' line
        if len(cells) < 8:
            raise ValueError(f"line {number}: expected 8 ';'-separated fields, got {len(cells)}")
        kind, state = cells[4].strip(), cells[7].strip()
        if kind not in ("C", "V"):
            raise ValueError(f"line {number}: Tipo Oferta {kind!r} is not 'C' or 'V'")
        if state not in ("O", "C"):
            raise ValueError(f"line {number}: Ofertada/Casada {state!r} is not 'O' or 'C'")
        hour, date = int(cells[0]), cells[1].strip()
        is_buy.append(kind == "C")
        qty.append(_spanish_number(cells[5], f"line {number}: Energía"))
        price.append(_spanish_number(cells[6], f"line {number}: Precio") * OMIE_PRICE_TO_EUR_MWH)
        matched.append(state == "C")
    return OmieCurves(
        date=date,
        hour=hour,
        is_buy=np.array(is_buy, dtype=bool),
        quantity_mwh=np.array(qty),
        price_eur_mwh=np.array(price),
        matched=np.array(matched, dtype=bool),
    )


class PriceProcess(msgspec.Struct, frozen=True, kw_only=True):
    """Parameters of the simulated hourly price (EUR/MWh).

    price(t) = mean + daily_amplitude * cos(2 pi (hour_of_day - peak_hour) / 24)
    + x(t) + j(t), clipped to [floor, cap], where
    x is a mean-reverting AR(1) (Ornstein-Uhlenbeck sampled hourly):
    ``x(t+1) = (1 - mean_reversion_per_hour) x(t) + volatility_eur_mwh * N(0, 1)``,
    and j is a spike process: each hour a spike starts with probability
    ``spike_probability`` with an exponential size of mean ``spike_mean_eur_mwh``,
    negative with probability ``negative_spike_share``; spikes decay by the
    factor ``1 - spike_decay_per_hour`` each hour.
    """

    mean_eur_mwh: float = 40.0
    daily_amplitude_eur_mwh: float = 10.0
    peak_hour: float = 18.0
    mean_reversion_per_hour: float = 0.15
    volatility_eur_mwh: float = 4.0
    spike_probability: float = 0.01
    spike_mean_eur_mwh: float = 60.0
    negative_spike_share: float = 0.3
    spike_decay_per_hour: float = 0.5
    floor_eur_mwh: float = -500.0
    cap_eur_mwh: float = 4000.0


def _check_process(p: PriceProcess) -> None:
    """ValueError naming the first parameter out of range."""
    for name in ("mean_reversion_per_hour", "spike_decay_per_hour"):
        value = getattr(p, name)
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name}: {value} must lie in (0, 1]")
    for name in ("spike_probability", "negative_spike_share"):
        value = getattr(p, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: {value} must lie in [0, 1]")
    for name in ("volatility_eur_mwh", "spike_mean_eur_mwh"):
        if getattr(p, name) < 0.0:
            raise ValueError(f"{name}: {getattr(p, name)} EUR/MWh must be >= 0")
    if p.floor_eur_mwh >= p.cap_eur_mwh:
        raise ValueError(f"floor_eur_mwh {p.floor_eur_mwh} must be below cap_eur_mwh")


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """x(t) = phi x(t-1) + shocks(t) with x(-1) = 0, vectorised block by block.

    Within a block, x(i) = phi^i (phi carry + cumsum_j shocks(j) / phi^j); the block
    length keeps phi^-j below 1e200, and the error stays relative to the largest
    term of the sum, so the recursion is as accurate as the plain loop.
    """
    if phi == 0.0:
        return shocks.copy()
    out = np.empty_like(shocks)
    block = int(min(256, max(1, np.floor(200 * np.log(10) / -np.log(phi)))))
    powers = phi ** np.arange(block)
    inverse = 1.0 / powers
    carry = 0.0
    for start in range(0, shocks.size, block):
        s = shocks[start:start + block]
        k = s.size
        x = powers[:k] * (phi * carry + np.cumsum(s * inverse[:k]))
        out[start:start + k] = x
        carry = float(x[-1])
    return out


def simulate_prices(
    hours: int, process: PriceProcess = PriceProcess(), rng: np.random.Generator | int = 0
) -> np.ndarray:
    """Simulate ``hours`` hourly prices (EUR/MWh) from hour 0 = midnight; seeded, reproducible."""
    if hours < 0:
        raise ValueError(f"hours: {hours} must be >= 0")
    _check_process(process)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    t = np.arange(hours)
    seasonal = process.mean_eur_mwh + process.daily_amplitude_eur_mwh * np.cos(
        2.0 * np.pi * (t % 24 - process.peak_hour) / 24.0
    )
    noise = _ar1(
        process.volatility_eur_mwh * gen.standard_normal(hours),
        1.0 - process.mean_reversion_per_hour,
    )
    starts = gen.random(hours) < process.spike_probability
    sizes = gen.exponential(process.spike_mean_eur_mwh, hours)
    signs = np.where(gen.random(hours) < process.negative_spike_share, -1.0, 1.0)
    spikes = _ar1(starts * sizes * signs, 1.0 - process.spike_decay_per_hour)
    return np.clip(seasonal + noise + spikes, process.floor_eur_mwh, process.cap_eur_mwh)
