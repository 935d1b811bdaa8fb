"""Markets' published export layouts (ENTSO-E, ERCOT, OMIE), read from the fixtures in
``tests/fixtures/timeseries`` (real DE-LU 2019 / NL 2019 values re-laid out: their
ATTRIBUTION.md): each lands every value on the UTC hour the bundled UTC file gives it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from vpp.physics.datasets import read_dataset
from vpp.physics.timeseries import SeriesMapping, TimeSeriesError, ValueColumn, read_series

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "timeseries"
ENTSOE_PRICES = FIXTURES / "entsoe_day_ahead_prices_de_lu_2019-10-26_28.csv"
ENTSOE_LOAD = FIXTURES / "entsoe_actual_load_de_lu_2019-03-30_04-01.csv"
ERCOT = FIXTURES / "ercot_dam_spp_2019-11-02_04.csv"
OMIE = FIXTURES / "omie_marginalpdbc_2019-03-30_04-01.1"


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def truth():
    return read_dataset("de_lu_2019")


def test_entsoe_day_ahead_prices_with_the_autumn_repeat(truth):
    s = read_series(SeriesMapping(file=str(ENTSOE_PRICES), format="entsoe"))
    assert s.names == ["price"] and s.currency == "EUR" and s.units["price"] == "EUR/MWh"
    # three local days, the autumn one 25 h long: 73 hours from 2019-10-26 00:00 CEST
    assert len(s) == 73 and s.times[0] == _utc("2019-10-25T22:00")
    assert s.resolution == pd.Timedelta(hours=1)
    (repeat,) = s.report.of("dst-autumn")
    assert repeat.lines == (28, 29)
    at = s.times.get_indexer([_utc("2019-10-27T00:00"), _utc("2019-10-27T01:00")])
    assert s.values["price"][at].tolist() == [-13.1, -13.85] and s.lines[at].tolist() == [28, 29]
    np.testing.assert_array_equal(s.values["price"], truth.at("price_eur_mwh", s.times))


def test_entsoe_actual_load_with_the_empty_spring_row(truth):
    s = read_series(SeriesMapping(file=str(ENTSOE_LOAD), format="entsoe"))
    assert set(s.names) == {"load_actual", "load_forecast"} and s.currency is None
    assert s.units == {"load_actual": "MW", "load_forecast": "MW"}
    dropped = [f for f in s.report.of("dst-spring") if f.action == "row dropped"]
    assert [f.lines for f in dropped] == [(28,)]
    assert len(s) == 71 and np.all(np.diff(s.times.asi8) == 3600 * 10**9)
    np.testing.assert_array_equal(s.values["load_actual"],
                                  truth.at("load_actual_entsoe_mw", s.times))
    np.testing.assert_array_equal(s.values["load_forecast"],
                                  truth.at("load_forecast_entsoe_mw", s.times))


def test_ercot_dam_settlement_point_prices(truth):
    with pytest.raises(TimeSeriesError, match=r"rows of 2 settlement points: keep one with "
                                              r"`select"):
        read_series(SeriesMapping(file=str(ERCOT), format="ercot"))
    s = read_series(SeriesMapping(file=str(ERCOT), format="ercot",
                                  select={"SettlementPoint": "HB_NORTH"}))
    assert s.currency == "USD" and s.units == {"price": "USD/MWh"}
    # hour ending 01:00 of 2 Nov 2019 is the hour from midnight CDT (05:00Z); three days
    # with the 25-hour fall-back day: 73 hours, the last ending at midnight CST (06:00Z)
    assert len(s) == 73 and s.times[0] == _utc("2019-11-02T05:00")
    assert s.times[-1] == _utc("2019-11-05T05:00")
    (repeat,) = s.report.of("dst-autumn")
    assert repeat.lines == (53, 55)  # the two HB_NORTH rows of hour ending 02:00
    at = s.times.get_indexer([_utc("2019-11-03T06:00"), _utc("2019-11-03T07:00")])
    assert s.lines[at].tolist() == [53, 55] and s.values["price"][at].tolist() == [14.07, 17.55]
    # the fixture's HB_NORTH prices are DE-LU 2019's of the same UTC hours (re-laid out)
    np.testing.assert_array_equal(s.values["price"], truth.at("price_eur_mwh", s.times))
    houston = read_series(SeriesMapping(file=str(ERCOT), format="ercot",
                                        select={"SettlementPoint": "HB_HOUSTON"}))
    nl = read_dataset("ember_nl_2019_2024")
    np.testing.assert_array_equal(houston.values["price"], nl.at("price", houston.times))


def test_omie_marginal_prices_count_periods_in_real_time(truth):
    s = read_series(SeriesMapping(file=str(OMIE), format="omie"))
    assert s.names == ["price_pt", "price_es"] and s.currency == "EUR"
    (spring,) = s.report.of("dst-spring")
    assert "2019-03-31 has 23 h" in spring.detail and spring.lines == (28, 50)
    assert len(s) == 24 + 23 + 24 and s.times[0] == _utc("2019-03-29T23:00")
    assert np.all(np.diff(s.times.asi8) == 3600 * 10**9)
    np.testing.assert_array_equal(s.values["price_es"], truth.at("price_eur_mwh", s.times))
    only_spain = read_series(SeriesMapping(
        file=str(OMIE), format="omie", values=[ValueColumn(column="price_es", name="price")]))
    assert only_spain.names == ["price"]


def test_a_layout_that_is_not_the_one_named_is_refused_clearly(tmp_path):
    with pytest.raises(TimeSeriesError, match="no ENTSO-E time column"):
        read_series(SeriesMapping(file=str(ERCOT), format="entsoe"))
    with pytest.raises(TimeSeriesError, match="no column 'SettlementPoint'"):
        read_series(SeriesMapping(file=str(ENTSOE_PRICES), format="ercot"))
    bad = tmp_path / "omie.1"
    bad.write_text("MARGINALPDBC;\n2019;03;30;1;40.0;41.0;\n2019;03;30;2;x;41.0;\n*\n")
    with pytest.raises(TimeSeriesError, match="line 3: a cell that is not a number"):
        read_series(SeriesMapping(file=str(bad), format="omie"))
