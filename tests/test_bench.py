"""Benchmarks print one JSON object with the promised keys and honest values."""

from __future__ import annotations

import pytest

import json

from typer.testing import CliRunner

from vpp.runs.cli import app

runner = CliRunner()


def _bench(*args):
    result = runner.invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_swarm_bench_counts_every_message():
    got = _bench("swarm", "--sites", "20", "--steps", "3")
    assert {"sites", "steps", "wall_s", "messages", "messages_per_s"} <= set(got)
    # per step: CallForBids, Bid, Award, Accept per site, and one StepCleared broadcast
    assert got["messages"] == 3 * (4 * 20 + 1)
    assert got["dropped"] == 0
    # one pair per step: the step against a direct allocation
    assert got["overhead_ratio_pairs"] == 3 and got["overhead_ratio_median"] > 0
    _spread_holds(got, "overhead_ratio")
    # the rate is the messages over the wall time (wall_s rounded to 1 ms, the rate to 0.1/s)
    assert got["messages"] / got["messages_per_s"] == pytest.approx(got["wall_s"], abs=6e-4)


def test_year_bench_runs_a_slice_of_the_year_and_says_it_extrapolated():
    got = _bench("year", "--sites", "4", "--steps", "200")
    assert got["sites"] == 4 and got["steps"] == 200 and got["year_steps"] == 35_040
    assert got["messages"] == 200 * (4 * 4 + 1)
    # the slice keeps the year's window of outcomes, and says the year is extrapolated
    assert got["outcomes_window"] == {"kept": 96, "window": 96, "dropped": 104}
    assert got["extrapolated"] is True and "extrapolated" in got["note"]
    assert got["year_steps_s_extrapolated"] == round(got["steps_s"] * 35_040 / 200, 1)
    assert got["peak_rss_mib"] >= got["rss_end_mib"] > 0
    for key in ("rss_growth_mib_per_1000_steps_first_half",
                "rss_growth_mib_per_1000_steps_second_half", "trace_mib", "tables_mib",
                "outcomes_year_mib_if_all_kept"):
        assert key in got


def test_merit_order_and_codec_benches():
    got = _bench("merit-order", "--sites", "5000", "--repeats", "3")
    assert got["sites"] == 5000 and got["unserved_kw"] == 0.0
    assert 0 < got["dispatch_ms_p50"] <= got["dispatch_ms_p99"]
    assert got["ratio_to_baseline_pairs"] == 3
    _spread_holds(got, "ratio_to_baseline")
    codec = _bench("codec")
    assert codec["encode_decode_us_p50"] > 0 and codec["speedup_vs_json_median"] > 0
    assert codec["speedup_vs_json_pairs"] == 20
    _spread_holds(codec, "speedup_vs_json")


def _spread_holds(got: dict, name: str) -> None:
    """A paired ratio's figures are ordered: min <= q1 <= median <= q3 <= max."""
    q1, q3 = got[f"{name}_iqr"]
    assert got[f"{name}_min"] <= q1 <= got[f"{name}_median"] <= q3 <= got[f"{name}_max"]


def test_physics_bench():
    got = _bench("physics")
    assert {"battery_step_us", "pv_year_s", "wind_year_s", "grid_step_us"} <= set(got)
    # Greensboro TMY3, one 3 kW inverter with 14 x 220 W modules: about 4-5.5 MWh a year
    assert 4.0 < got["pv_year_mwh"] < 5.5
    assert got["battery_step_us"] > 0 and got["grid_step_us"] > 0
