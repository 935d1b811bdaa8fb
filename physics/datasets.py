"""The real datasets bundled in ``physics/data/`` (provenance and licences in its
``ATTRIBUTION.md``), by path: one copy each, read by ``physics``, ``markets`` and
``coordination`` alike (both may import ``physics``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR", "DE_LU_2019_CSV"]

DATA_DIR = Path(__file__).resolve().with_name("data")
"""The folder of the bundled datasets."""

DE_LU_2019_CSV = DATA_DIR / "de_lu_2019_hourly_price_load_wind_solar.csv"
"""DE-LU 2019, 8,760 hours (UTC, no gaps): day-ahead price (EUR/MWh), actual and
forecast load, solar and wind (MW). Markets read its prices, planning its forecast errors."""
