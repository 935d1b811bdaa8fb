"""The one time-series reader (issue #18, data adapters; issue #15, one reader): local times
with both DST changes, gaps and duplicates reported by line, resampling only as asked,
units and currencies, bounded and quiet about a file's contents."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from vpp.physics.datasets import DATASETS, read_dataset
from vpp.physics.timeseries import (
    Bounds,
    SeriesMapping,
    TimeSeriesError,
    ValueColumn,
    conversion,
    read_series,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "timeseries"
SECRET = "SECRET_TOKEN_7731"


def _local(name: str, **changes) -> SeriesMapping:
    return SeriesMapping(file=str(FIXTURES / name), time_column="time_local",
                         time_zone="Europe/Berlin",
                         values=[ValueColumn(column="price_eur_mwh", unit="EUR/MWh")],
                         **changes)


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_spring_fixture_reports_the_dst_change_the_gap_and_the_duplicate_by_line():
    s = read_series(_local("local_prices_spring_2019-03-30_04-01.csv", gaps="nan",
                           duplicates="first"))
    (dup,), (dst,), (gap,) = (s.report.of(k) for k in ("duplicate", "dst-spring", "gap"))
    assert dup.lines == (14, 15) and "2019-03-30T11:00Z" in dup.detail  # 12:00 CET
    assert dst.lines == (28, 29) and "01:00 to 03:00" in dst.detail
    assert gap.lines == (54, 55) and "at 2019-04-01T03:00Z" in gap.detail  # 05:00 CEST
    # 72 hours from 2019-03-30 00:00 CET: the spring day has 23, and the gap is a NaN row
    assert len(s) == 72 and s.times[0] == _utc("2019-03-29T23:00")
    assert np.all(np.diff(s.times.asi8) == 3600 * 10**9)
    assert np.isnan(s.values["price_eur_mwh"][s.times.get_loc(_utc("2019-04-01T03:00"))])
    # every value sits on the UTC hour the bundled UTC file gives it
    truth = read_dataset("de_lu_2019")
    known = ~np.isnan(s.values["price_eur_mwh"])
    np.testing.assert_array_equal(s.values["price_eur_mwh"][known],
                                  truth.at("price_eur_mwh", s.times[known]))


def test_autumn_fixture_tells_the_repeated_hour_apart_by_order_and_reports_by_line():
    s = read_series(_local("local_prices_autumn_2019-10-26_28.csv", gaps="interpolate",
                           duplicates="last"))
    (dup,), (dst,), (gap,) = (s.report.of(k) for k in ("duplicate", "dst-autumn", "gap"))
    assert dup.lines == (14, 15) and "kept the last" in dup.action
    assert dst.lines == (29, 30) and "2019-10-27 02:00 happens twice" in dst.detail
    assert gap.lines == (56, 57) and "at 2019-10-28T04:00Z" in gap.detail
    first, second = (s.lines == 29), (s.lines == 30)
    assert s.times[first][0] == _utc("2019-10-27T00:00")  # 02:00 CEST
    assert s.times[second][0] == _utc("2019-10-27T01:00")  # 02:00 CET
    truth = read_dataset("de_lu_2019")
    assert s.values["price_eur_mwh"][first][0] == truth.at("price_eur_mwh", [
        _utc("2019-10-27T00:00")])[0] == -13.1
    # the gap was filled halfway between its neighbours (interpolate), and says so
    at = s.times.get_loc(_utc("2019-10-28T04:00"))
    v = s.values["price_eur_mwh"]
    assert s.lines[at] == 0 and v[at] == pytest.approx((v[at - 1] + v[at + 1]) / 2)
    assert "filled (interpolate)" in gap.action


def test_by_default_a_gap_or_a_duplicate_is_an_error_naming_the_lines():
    with pytest.raises(TimeSeriesError, match=r"lines 14, 15 are at the same instant"):
        read_series(_local("local_prices_spring_2019-03-30_04-01.csv"))
    with pytest.raises(TimeSeriesError, match=r"line 55.*1 step of 1 h missing"):
        read_series(_local("local_prices_spring_2019-03-30_04-01.csv", duplicates="mean"))


def test_a_row_at_a_skipped_spring_time_is_dropped_when_empty_and_refused_otherwise(tmp_path):
    text = "t,p\n2019-03-31 01:00,1\n2019-03-31 02:00,{}\n2019-03-31 03:00,3\n"
    path = tmp_path / "p.csv"
    mapping = SeriesMapping(file=str(path), time_column="t", time_zone="Europe/Berlin",
                            values=[ValueColumn(column="p", unit="EUR/MWh")])
    path.write_text(text.format(""))
    s = read_series(mapping)
    assert [f.lines for f in s.report.of("dst-spring")] == [(2, 4), (3,)]
    assert list(s.times) == [_utc("2019-03-31T00:00"), _utc("2019-03-31T01:00")]
    path.write_text(text.format("2"))
    with pytest.raises(TimeSeriesError, match=r"line 3, column 't': 2019-03-31 02:00 does "
                                              r"not exist in Europe/Berlin"):
        read_series(mapping)


def test_an_explicit_marker_beats_the_order(tmp_path):
    """Only the winter copy of the repeated hour: by order it would read as summer time
    (00:00Z); its ``(CET)`` marker places it at 01:00Z, and the summer copy is the gap."""
    path = tmp_path / "e.csv"
    path.write_text('"MTU (CET/CEST)","Day-ahead Price [EUR/MWh]"\n'
                    '"27.10.2019 01:00 (CEST) - 27.10.2019 02:00 (CEST)","1"\n'
                    '"27.10.2019 02:00 (CET) - 27.10.2019 03:00 (CET)","2"\n'
                    '"27.10.2019 03:00 (CET) - 27.10.2019 04:00 (CET)","3"\n')
    s = read_series(SeriesMapping(file=str(path), format="entsoe", gaps="nan"))
    assert s.times[0] == _utc("2019-10-26T23:00") and len(s) == 4
    assert np.isnan(s.values["price"][1]) and s.values["price"][2] == 2.0
    (gap,) = s.report.of("gap")
    assert gap.lines == (2, 3) and "at 2019-10-27T00:00Z" in gap.detail


def test_resampling_only_as_asked_and_worked_out_by_hand(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("t,p\n2019-01-01T00:00Z,10\n2019-01-01T01:00Z,20\n2019-01-01T02:00Z,30\n"
                    "2019-01-01T03:00Z,50\n")
    s = read_series(SeriesMapping(file=str(path), time_column="t",
                                  values=[ValueColumn(column="p", unit="EUR/MWh")]))
    quarter = pd.date_range("2019-01-01", periods=8, freq="15min", tz="UTC")
    with pytest.raises(TimeSeriesError, match=r"resolution is 1 h but 15 min steps are "
                                              r"wanted: say `resample"):
        s.at("p", quarter)
    assert list(s.at("p", quarter, how="first")) == [10] * 4 + [20] * 4
    assert list(s.at("p", quarter, how="mean")) == [10] * 4 + [20] * 4
    assert list(s.at("p", quarter, how="interpolate")) == [10, 12.5, 15, 17.5, 20, 22.5, 25,
                                                           27.5]
    two = pd.date_range("2019-01-01", periods=2, freq="2h", tz="UTC")
    assert list(s.at("p", two, how="mean")) == [15, 40]  # (10+20)/2, (30+50)/2
    assert list(s.at("p", two, how="first")) == [10, 30]
    hourly = pd.date_range("2019-01-01T01:00", periods=3, freq="h", tz="UTC")
    assert list(s.at("p", hourly)) == [20, 30, 50]  # on its own grid: as it is
    with pytest.raises(TimeSeriesError, match="covers 2019-01-01T00:00:00Z to "
                                              "2019-01-01T03:00:00Z"):
        s.at("p", pd.date_range("2019-01-01T03:00", periods=2, freq="h", tz="UTC"))


@pytest.mark.parametrize("unit, currency, factor, internal", [
    ("EUR/MWh", None, 1.0, "EUR/MWh"), ("c/kWh", "EUR", 10.0, "EUR/MWh"),
    ("c€/kWh", None, 10.0, "EUR/MWh"), ("$/kWh", None, 1000.0, "USD/MWh"),
    ("¢/kWh", None, 10.0, "USD/MWh"), ("USD/MWh", None, 1.0, "USD/MWh"),
    ("£/MWh", None, 1.0, "GBP/MWh"), ("EUR/MW/h", None, 1.0, "EUR/MW/h"),
    ("kW", None, 1e-3, "MW"), ("GW", None, 1e3, "MW"), ("%", None, 0.01, "1"),
])
def test_units_and_currencies(unit, currency, factor, internal):
    conv = conversion(unit, currency)
    assert conv.factor == pytest.approx(factor) and conv.unit == internal
    assert conv.currency == (internal.split("/")[0] if "/" in internal else None)


def test_unit_conversion_on_read_keeps_the_currency(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("t,cents,temp\n2019-01-01T00:00Z,4.25,293.15\n2019-01-01T01:00Z,5,300\n")
    s = read_series(SeriesMapping(
        file=str(path), time_column="t", currency="USD",
        values=[ValueColumn(column="cents", unit="c/kWh", name="price"),
                ValueColumn(column="temp", unit="K")]))
    assert s.currency == "USD" and s.units == {"price": "USD/MWh", "temp": "degC"}
    assert s.values["price"].tolist() == [42.5, 50.0]
    assert s.values["temp"] == pytest.approx([20.0, 26.85])
    with pytest.raises(TimeSeriesError, match="say which currency"):
        read_series(SeriesMapping(file=str(path), time_column="t",
                                  values=[ValueColumn(column="cents", unit="c/kWh")]))
    with pytest.raises(TimeSeriesError, match="several currencies"):
        read_series(SeriesMapping(file=str(path), time_column="t", values=[
            ValueColumn(column="cents", unit="EUR/MWh"), ValueColumn(column="temp",
                                                                     unit="USD/MWh")]))


def test_errors_name_the_file_line_and_column_and_never_quote_the_contents(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(f"t,p\n2019-01-01T00:00Z,1\n2019-01-01T01:00Z,{SECRET}\n"
                    f"{SECRET},3\n")
    mapping = SeriesMapping(file=str(path), time_column="t",
                            values=[ValueColumn(column="p")])
    with pytest.raises(TimeSeriesError) as info:
        read_series(mapping)
    said = str(info.value)
    assert SECRET not in said and str(path) in said
    assert info.value.line == 4 and info.value.column == "t"  # the time is checked first
    path.write_text(f"t,p\n2019-01-01T00:00Z,1\n2019-01-01T01:00Z,{SECRET}\n")
    with pytest.raises(TimeSeriesError, match=r"line 3, column 'p': a value that is not a "
                                              r"number") as info:
        read_series(mapping)
    assert SECRET not in str(info.value)
    path.write_text(f"t,{SECRET}\n2019-01-01T00:00Z,1\n")
    with pytest.raises(TimeSeriesError, match=r"no column 'p'") as info:
        read_series(mapping)
    assert SECRET not in str(info.value)
    path.write_bytes(b"\x00\xff\xfe" + SECRET.encode() + b"\x00" * 64)
    with pytest.raises(TimeSeriesError) as info:
        read_series(mapping)
    assert SECRET not in str(info.value)


def test_sizes_are_bounded_before_reading(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("t,p\n" + "".join(f"2019-01-01T{h:02d}:00Z,{h}\n" for h in range(24)))
    mapping = SeriesMapping(file=str(path), time_column="t", values=[ValueColumn(column="p")])
    with pytest.raises(TimeSeriesError, match="larger than 100 bytes"):
        read_series(mapping, bounds=Bounds(max_bytes=100))
    with pytest.raises(TimeSeriesError, match="more than 10 rows"):
        read_series(mapping, bounds=Bounds(max_rows=10))


def test_a_mapping_field_at_fault_is_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("t,p\n2019-01-01 00:00,1\n")
    base = dict(file=str(path), time_column="t", values=[ValueColumn(column="p")])
    with pytest.raises(TimeSeriesError, match="unknown time zone 'Mars/Olympus'") as info:
        read_series(SeriesMapping(**base, time_zone="Mars/Olympus"))
    assert info.value.field == "time_zone"
    with pytest.raises(TimeSeriesError, match=r"not a time in the format '%d.%m.%Y'"):
        read_series(SeriesMapping(**base, time_format="%d.%m.%Y"))
    with pytest.raises(TimeSeriesError, match="unknown unit 'furlongs'"):
        read_series(SeriesMapping(file=str(path), time_column="t",
                                  values=[ValueColumn(column="p", unit="furlongs")]))


def test_parquet_reads_like_csv(tmp_path):
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"t": pd.date_range("2019-01-01", periods=3, freq="h", tz="UTC"),
                          "p": [1.5, 2.5, 3.5]})
    frame.to_parquet(tmp_path / "p.parquet")
    s = read_series(SeriesMapping(file=str(tmp_path / "p.parquet"), time_column="t",
                                  values=[ValueColumn(column="p", unit="EUR/kWh")]))
    assert s.values["p"].tolist() == [1500.0, 2500.0, 3500.0] and s.currency == "EUR"
    assert s.times[0] == _utc("2019-01-01T00:00")


def test_parquet_without_pyarrow_says_so(tmp_path, monkeypatch):
    (tmp_path / "p.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(TimeSeriesError, match="needs the optional package pyarrow, which is "
                                              "not installed"):
        read_series(SeriesMapping(file=str(tmp_path / "p.parquet"), time_column="t",
                                  values=[ValueColumn(column="p")]))


def test_every_bundled_dataset_reads_with_its_units_and_licence():
    for name, d in DATASETS.items():
        s = read_dataset(name)
        assert len(s) > 1000 and d.source and d.licence, name
        for role, value in d.roles.items():
            assert value in s.values, (name, role)
    de = read_dataset("de_lu_2019")
    assert de.currency == "EUR" and len(de) == 8760 and de.report.findings == ()
    assert de.values["price_eur_mwh"].min() == -61.7
    toledo = read_dataset("iberian_blackout_2025_04_28")
    assert toledo.times[0] == _utc("2025-04-28T09:00")  # 11:00 CEST
    assert len(toledo.report.of("missing")[0].lines) == 10  # the logger's 10 empty rows
