"""Paired, interleaved measurements (``vpp.runs.bench.paired``): the order alternates,
and the ratios' median and quartiles are those of the pairs, worked out by hand."""

from __future__ import annotations

import pytest

from vpp.runs.bench.paired import Paired, interleave, quartiles


def test_pairs_alternate_which_side_goes_first():
    calls = []
    a = iter([1.0, 2.0, 3.0, 4.0])
    b = iter([10.0, 20.0, 30.0, 40.0])
    got = interleave(lambda: calls.append("a") or next(a),
                     lambda: calls.append("b") or next(b), 4)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert got.first == [1.0, 2.0, 3.0, 4.0] and got.second == [10.0, 20.0, 30.0, 40.0]


def test_the_summary_is_the_median_and_quartiles_of_the_pairs_ratios():
    # ratios 2, 1, 4, 3, 100: one wild pair moves the median to 3, not the mean's 22
    got = Paired([2.0, 1.0, 8.0, 3.0, 100.0], [1.0, 1.0, 2.0, 1.0, 1.0])
    assert got.ratios == [2.0, 1.0, 4.0, 3.0, 100.0]
    s = got.summary("r")
    assert s == {"r_median": 3.0, "r_iqr": [2.0, 4.0], "r_min": 1.0, "r_max": 100.0,
                 "r_pairs": 5}
    # as a percentage lost: 100 * (1 - on / off) for on/off throughputs 95/100 and 90/100
    pct = Paired([95.0, 90.0], [100.0, 100.0]).summary("pct", scale=-100.0, offset=100.0)
    assert pct["pct_median"] == 7.5 and pct["pct_iqr"] == [6.25, 8.75]
    assert pct["pct_min"] == 5.0 and pct["pct_max"] == 10.0


def test_quartiles_of_one_value_and_no_pairs():
    assert quartiles([4.0]) == (4.0, 4.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)
    with pytest.raises(ValueError, match="pairs"):
        interleave(lambda: 1.0, lambda: 1.0, 0)
