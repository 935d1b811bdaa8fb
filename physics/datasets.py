"""The bundled datasets, by name: one catalogue of the real series shipped in
``physics/data/`` and ``markets/data/`` (provenance and licences in their
``ATTRIBUTION.md``), each with its mapping, so that a scenario or a backtest says
``data: de_lu_2019`` and a copied file still runs (``docs/data.md``).

``physics`` imports nothing of ours: ``markets``, ``coordination``, ``agents`` and ``runs``
all read the bundled series through :func:`read_dataset`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from vpp.physics.timeseries.mapping import SeriesMapping, ValueColumn

if TYPE_CHECKING:
    from vpp.physics.timeseries.series import TimeSeries

__all__ = ["DATASETS", "DATA_DIR", "DE_LU_2019_CSV", "Dataset", "dataset", "dataset_path",
           "read_dataset"]

DATA_DIR = Path(__file__).resolve().with_name("data")
"""The folder of the bundled datasets of ``physics``."""
MARKETS_DATA_DIR = DATA_DIR.parent.parent / "markets" / "data"
"""The folder of the bundled datasets of ``markets`` (a sibling package's data: a path,
not an import)."""

DE_LU_2019_CSV = DATA_DIR / "de_lu_2019_hourly_price_load_wind_solar.csv"
"""DE-LU 2019, 8,760 hours (UTC, no gaps): day-ahead price (EUR/MWh), actual and
forecast load, solar and wind (MW). Markets read its prices, planning its forecast errors."""


class Dataset(msgspec.Struct, frozen=True, kw_only=True):
    """A bundled series: its ``mapping`` (the file relative to ``folder``), the value that
    plays each role (``price``, ``load_actual``, ``load_forecast``...), where it comes
    from and under which licence."""

    name: str
    description: str
    folder: str
    mapping: SeriesMapping
    roles: dict[str, str] = {}
    source: str
    licence: str


def _v(column: str, unit: str | None) -> ValueColumn:
    return ValueColumn(column=column, unit=unit)


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset(
        name="de_lu_2019",
        description="DE-LU bidding zone, 2019, hourly (8,760 h, UTC, no gaps): day-ahead "
                    "price, actual and forecast load, SMARD grid load, solar, wind on- and "
                    "offshore",
        folder="physics",
        mapping=SeriesMapping(
            file="de_lu_2019_hourly_price_load_wind_solar.csv", time_column="timestamp_utc",
            values=[_v("price_eur_mwh", "EUR/MWh"), _v("load_actual_entsoe_mw", "MW"),
                    _v("load_forecast_entsoe_mw", "MW"), _v("grid_load_smard_mw", "MW"),
                    _v("solar_mw", "MW"), _v("wind_onshore_mw", "MW"),
                    _v("wind_offshore_mw", "MW")]),
        roles={"price": "price_eur_mwh", "load_actual": "load_actual_entsoe_mw",
               "load_forecast": "load_forecast_entsoe_mw", "solar": "solar_mw",
               "wind_onshore": "wind_onshore_mw", "wind_offshore": "wind_offshore_mw"},
        source="SMARD and ENTSO-E Transparency Platform (DE-LU), merged and converted to UTC",
        licence="Bundesnetzagentur | SMARD.de (CC BY 4.0); ENTSO-E Transparency Platform"),
    Dataset(
        name="ember_nl_2019_2024",
        description="Netherlands day-ahead price, hourly, 2019-2024 (UTC; two source gaps, "
                    "kept as they are)",
        folder="markets",
        mapping=SeriesMapping(
            file="ember_nl_day_ahead_2019_2024.csv", time_column="Datetime (UTC)",
            values=[ValueColumn(column="Price (EUR/MWhe)", unit="EUR/MWh", name="price")],
            gaps="keep"),
        roles={"price": "price"},
        source="Ember European wholesale electricity price data (from ENTSO-E)",
        licence="Ember (CC BY 4.0); ENTSO-E Transparency Platform"),
    Dataset(
        name="iberian_blackout_2025_04_28",
        description="Grid frequency and phase voltages in Toledo, 2 s, 28 April 2025 11:00 "
                    "to 12:59:58 local time (the Iberian blackout); 10 empty rows",
        folder="physics",
        mapping=SeriesMapping(
            file="iberian_blackout_2025-04-28_toledo_2s.csv", time_column="time",
            time_format="%d-%b-%Y %H:%M:%S", time_zone="Europe/Madrid",
            values=[ValueColumn(column="AnalyzerL1Frequency", unit="Hz", name="frequency"),
                    _v("AnalyzerL1PhaseVoltage", "V"), _v("AnalyzerL2PhaseVoltage", "V"),
                    _v("AnalyzerL3PhaseVoltage", "V")],
            gaps="keep"),
        roles={"frequency": "frequency"},
        source="LEMUR lab, University of Oviedo (brmurray/apagon_april28)",
        licence="MIT"),
)}
"""The catalogue, by name."""


def dataset(name: str) -> Dataset:
    """The dataset called ``name``; a ValueError listing the names otherwise."""
    found = DATASETS.get(name)
    if found is None:
        raise ValueError(f"no bundled dataset {name[:80]!r} (bundled: "
                         f"{', '.join(sorted(DATASETS))})")
    return found


def dataset_path(name: str) -> Path:
    """The file of dataset ``name``."""
    d = dataset(name)
    return (DATA_DIR if d.folder == "physics" else MARKETS_DATA_DIR) / d.mapping.file


@functools.lru_cache(maxsize=8)
def _read(name: str, encoded: bytes) -> TimeSeries:
    from vpp.physics.timeseries.reader import read_series

    mapping = msgspec.json.decode(encoded, type=SeriesMapping)
    return read_series(mapping, dataset_path(name), source=f"{name} ({mapping.file})")


def read_dataset(name: str, **changes) -> TimeSeries:
    """Dataset ``name`` read through its mapping (with ``changes`` to it, such as
    ``resample``); cached, so treat the arrays as read-only."""
    d = dataset(name)
    mapping = d.mapping.replace(**changes) if changes else d.mapping
    return _read(name, msgspec.json.encode(mapping))
