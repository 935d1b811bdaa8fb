"""A step's site rows written at once are the bytes row-by-row writes give, and a bad row
keeps the rows before it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
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
