"""A step's site rows written at once (as mappings or as columns) are the bytes row-by-row
writes give, and a bad row keeps the rows before it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from vpp.runs.record.columns import Columns
from vpp.runs.record.tables import StepTable

T = datetime(2019, 1, 1, tzinfo=UTC)
ROWS = [{"site": f"s{i}", "power_kw": i * 0.1 + 1e-17,
         "reserve_kw": math.nan if i % 3 == 0 else math.inf if i % 5 == 0 else 2.0,
         "stored_kwh": None if i % 4 == 0 else [1, 2]} for i in range(50)]


def test_write_many_gives_the_bytes_of_row_by_row_writes(tmp_path):
    one, many = (StepTable(tmp_path / n, keys=("site",)) for n in ("one.csv", "many.csv"))
    for k in range(3):
        for row in ROWS:
            one.write(k, T, row)
        many.write_many(k, T, ROWS)
    one.close()
    many.close()
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()
    assert one.rows == many.rows == 150


def test_a_bad_row_is_named_and_the_rows_before_it_are_kept(tmp_path):
    table = StepTable(tmp_path / "t.csv", keys=("site",))
    table.write_many(0, T, ROWS[:2])
    with pytest.raises(ValueError, match=r"step 1 has columns \['power_kw', 'site'\]"):
        table.write_many(1, T, [ROWS[0], {"site": "x", "power_kw": 1.0}, ROWS[1]])
    table.close()
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("1,") and table.rows == 3


def _columns(rows):
    return Columns({name: [row[name] for row in rows] for name in rows[0]})


def _written(path, steps, rows=None, many=None):
    """A table (closed) of ``steps`` steps, each written row by row (``rows``) or in one
    ``write_many`` (``many``)."""
    table = StepTable(path, keys=("site",))
    for k in range(steps):
        if many is None:
            for row in rows:
                table.write(k, T, row)
        else:
            table.write_many(k, T, many)
    table.close()
    return table


def test_columns_give_the_bytes_of_the_same_rows_as_mappings(tmp_path):
    # NaN (an empty cell), infinities, None, lists, a float subclass, whole numbers:
    # every kind of cell _cell turns, and plain columns written as they are
    rows = [{**row, "n": i, "x": np.float64(i / 7) if i % 7 == 0 else i / 7,
             "big": 1e308, "flag": i % 2 == 0} for i, row in enumerate(ROWS)]
    plain = [{"site": f"s{i}", "power_kw": i * 0.1 + 1e-17, "reserve_kw": -i / 3}
             for i in range(40)]
    for name, given in (("mixed", rows), ("plain", plain)):
        one = _written(tmp_path / f"{name}-one.csv", 3, rows=given)
        cols = _written(tmp_path / f"{name}-cols.csv", 3, many=_columns(given))
        assert ((tmp_path / f"{name}-one.csv").read_bytes()
                == (tmp_path / f"{name}-cols.csv").read_bytes())
        assert one.rows == cols.rows == 3 * len(given)
    text = (tmp_path / "plain-cols.csv").read_text()
    assert text.splitlines()[2] == "0,2019-01-01T00:00:00+00:00,s1,0.10000000000000002,-0.3333333333333333"


def test_a_column_sum_that_overflows_is_written_cell_by_cell(tmp_path):
    # 1e308 + 1e308 is infinite: the column is not taken as plain, and is written the same
    rows = [{"site": "a", "v": 1e308}, {"site": "b", "v": 1e308}, {"site": "c", "v": 2}]
    one, cols = (StepTable(tmp_path / n, keys=("site",)) for n in ("one.csv", "cols.csv"))
    for row in rows:
        one.write(0, T, row)
    cols.write_many(0, T, _columns(rows))
    one.close()
    cols.close()
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "cols.csv").read_bytes()
    assert (tmp_path / "cols.csv").read_text().splitlines()[1].endswith(",a,1e+308")


def test_columns_read_as_rows():
    cols = _columns(ROWS[:5])
    assert len(cols) == 5 and list(cols) == ROWS[:5] == [cols[i] for i in range(5)]
    assert cols[-1]["site"] == "s4" and list(cols[1:3]) == ROWS[1:3]
    with pytest.raises(IndexError):
        cols[5]
    with pytest.raises(ValueError, match="site 2, power_kw 1"):
        Columns({"site": ["a", "b"], "power_kw": [1.0]})


def test_columns_with_other_names_are_refused_naming_them(tmp_path):
    table = StepTable(tmp_path / "t.csv", keys=("site",))
    table.write_many(0, T, _columns(ROWS[:2]))
    with pytest.raises(ValueError, match=r"step 1 has columns \['power_kw', 'site'\]"):
        table.write_many(1, T, Columns({"site": ["x"], "power_kw": [1.0]}))
    with pytest.raises(KeyError, match="stored_kwh"):
        table.write_many(1, T, [ROWS[0], {**{k: 0 for k in ROWS[0] if k != "stored_kwh"},
                                          "other": 1}])
    table.close()
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("1,2019-01-01T00:00:00+00:00,s0,")
    assert table.rows == 3


def test_a_step_without_some_sites_has_no_row_for_them():
    from vpp.coordination.dispatch import Applied
    from vpp.runs.modes.merit_order.mode import site_columns

    applied = {"b": Applied(0, 1.5, 0.0, 3.0), "a": Applied(0, -2.0, 1.0, math.nan)}
    got = site_columns(["a", "lost", "b"], applied)
    assert list(got) == [
        {"site": "a", "power_kw": -2.0, "reserve_kw": 1.0, "stored_kwh": got[0]["stored_kwh"]},
        {"site": "b", "power_kw": 1.5, "reserve_kw": 0.0, "stored_kwh": 3.0}]
    assert math.isnan(got[0]["stored_kwh"])
    assert list(site_columns(["a", "b"], applied).columns["site"]) == ["a", "b"]


def test_cells_the_csv_module_quotes_or_leaves_empty_are_written_as_it_writes_them(tmp_path):
    # a name with a comma, a quote or a line end is quoted; None is an empty cell; whole
    # numbers and flags as they print: the text path and the csv path give the same bytes
    names = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\r", ""]
    cases = {"quoted": {"site": names, "v": [1.5] * 6},
             "none": {"site": [f"s{i}" for i in range(6)], "v": [1.5, None, 2.5, 3.0, 0.0, -1.0]},
             "ints": {"site": [f"s{i}" for i in range(6)], "v": [1, 2, True, False, 10**20, -3]},
             "mixed": {"site": [f"s{i}" for i in range(6)], "v": [1, 2.5, None, 3, 4, "x"]}}
    for name, columns in cases.items():
        rows = list(Columns(columns))
        _written(tmp_path / f"{name}-one.csv", 2, rows=rows)
        _written(tmp_path / f"{name}-cols.csv", 2, many=Columns(columns))
        _written(tmp_path / f"{name}-maps.csv", 2, many=rows)
        want = (tmp_path / f"{name}-one.csv").read_bytes()
        assert (tmp_path / f"{name}-cols.csv").read_bytes() == want, name
        assert (tmp_path / f"{name}-maps.csv").read_bytes() == want, name
    quoted = (tmp_path / "quoted-cols.csv").read_bytes().split(b"\r\n")
    assert quoted[2] == b'0,2019-01-01T00:00:00+00:00,"a,b",1.5'
    assert (tmp_path / "ints-cols.csv").read_text().splitlines()[3] == (
        "0,2019-01-01T00:00:00+00:00,s2,True")
