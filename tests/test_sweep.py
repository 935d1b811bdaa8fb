"""``vpp sweep`` runs the product of fields' values and seeds as ordinary runs whose results
equal the same runs made one by one, resumes without redoing finished runs, and ``vpp
compare`` names what differed and by how much."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import vpp
from vpp.runs.authoring import write_template
from vpp.runs.cli import app
from vpp.runs.sweep import SweepError, parse_sets
from vpp.runs.sweep import sweep as run_sweep

runner = CliRunner()

HEADLINE = ["steps", "target_kwh", "served_kwh", "unserved_kwh", "steps_with_unserved",
            "reserve_shortfall_kwh", "cost_eur", "declines", "rounds", "messages"]
FIXED = {"steps": [6], "sites[chp].outage_probability": [0.3]}
HYDRO = "sites[hydro].devices[0].p_max_kw"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    (path,) = write_template("fleet", tmp_path_factory.mktemp("fleet"))
    return path


@pytest.fixture(scope="module")
def swept(fleet, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "study"
    table = vpp.sweep(fleet, {**FIXED, HYDRO: [0, 60, 120]}, out, seeds=4, processes=2)
    return out, table


def test_a_sweep_of_3_values_by_4_seeds_equals_the_runs_made_one_by_one(fleet, swept,
                                                                        tmp_path):
    out, table = swept
    assert len(table) == 12 and (table["error"] == "").all()
    assert table[HYDRO].tolist() == [0] * 4 + [60] * 4 + [120] * 4
    assert table["seed"].tolist() == [7, 8, 9, 10] * 3
    assert pd.read_csv(out / "sweep.csv")["served_kwh"].tolist() == pytest.approx(
        table["served_kwh"].tolist())
    for _, row in table.iterrows():
        changes = {"steps": 6, "sites[chp].outage_probability": 0.3, HYDRO: row[HYDRO]}
        alone = vpp.run(fleet, out=tmp_path / row["run"], seed=int(row["seed"]),
                        changes=changes).summary
        assert {k: alone[k] for k in HEADLINE} == {k: row[k] for k in HEADLINE}, row["run"]
        assert vpp.open_run(out / row["run"]).steps.equals(
            vpp.open_run(tmp_path / row["run"]).steps)
        manifest = vpp.open_run(out / row["run"]).manifest
        assert manifest.seed == row["seed"]
        assert manifest.scenario["sites"][1]["devices"][0]["p_max_kw"] == row[HYDRO]
    # the values matter: more hydro never serves less, on the same seed
    served = table.pivot(index="seed", columns=HYDRO, values="served_kwh")
    assert (served[120] >= served[0] - 1e-9).all() and (served[120] > served[0]).any()


def test_a_sweep_started_again_redoes_only_the_unfinished_runs(fleet, swept):
    out, table = swept
    (out / "run-002" / "summary.json").unlink()
    (out / "run-011" / "summary.json").unlink()
    kept = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("run-*/summary.json")}
    assert len(kept) == 10
    seen = []
    again = run_sweep(
        fleet, {**FIXED, HYDRO: [0, 60, 120]}, out, seeds=4, processes=1,
        done=lambda run, summary, was_there: seen.append((run.name, was_there)))
    assert sorted(name for name, was_there in seen if not was_there) == ["run-002", "run-011"]
    after = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("run-*/summary.json")}
    assert {k: after[k] for k in kept} == kept  # not redone
    assert again[HEADLINE].equals(table[HEADLINE])
    with pytest.raises(SweepError, match="holds another sweep"):
        vpp.sweep(fleet, {HYDRO: [1, 2]}, out)


def test_compare_names_what_differed_and_by_how_much(swept):
    out, table = swept
    a, b = out / "run-001", out / "run-009"  # hydro 0 and 120, seed 7
    result = vpp.compare(a, b)
    assert result.inputs == [("scenario.sites[1].devices[0].p_max_kw", 0.0, 120.0)]
    first, last = table.iloc[0], table.iloc[8]
    row = result.numbers.loc["served_kwh"]
    assert (row["a"], row["b"]) == (first["served_kwh"], last["served_kwh"])
    assert row["difference"] == pytest.approx(last["served_kwh"] - first["served_kwh"])
    said = runner.invoke(app, ["compare", str(a), str(b)])
    assert said.exit_code == 0, said.output
    assert "scenario.sites[1].devices[0].p_max_kw" in said.output
    assert runner.invoke(app, ["compare", str(a), str(out)]).exit_code == 1


def test_compare_plot_draws_the_shared_power_columns_of_both_runs(swept, tmp_path):
    from matplotlib.image import imread
    from vpp.runs.compare import compared_columns

    out, _ = swept
    a, b = out / "run-001", out / "run-009"
    columns, (steps_a, steps_b) = compared_columns(a, b)
    assert columns == ["target_kw", "served_kw", "unserved_kw", "reserve_target_kw"]
    assert steps_a.index.tz is not None and steps_a.index.equals(steps_b.index)
    # the same target, and B (120 kW more hydro) serves at least what A does, every step
    assert steps_a["target_kw"].equals(steps_b["target_kw"])
    assert (steps_b["served_kw"] >= steps_a["served_kw"] - 1e-9).all()
    png = tmp_path / "ab.png"
    said = runner.invoke(app, ["compare", str(a), str(b), "--plot", str(png)])
    assert said.exit_code == 0, said.output
    height, width, _ = imread(png).shape          # four panels, 2.4 inches each at 110 dpi
    assert (width, height) == (990, 1056)


def test_the_command_reports_a_refused_value_in_its_row(fleet, tmp_path):
    result = runner.invoke(app, ["sweep", str(fleet), "--set", "steps=2,many",
                                 "--out", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "Expected `int`, got `str` - at `$.steps`" in result.output
    table = pd.read_csv(tmp_path / "s" / "sweep.csv", keep_default_na=False)
    assert table["steps"].astype(str).tolist() == ["2", "many"]
    assert table["error"].iloc[0] == "" and "at `$.steps`" in table["error"].iloc[1]
    result = runner.invoke(app, ["sweep", str(fleet), "--set", "sites[hydr].name=x",
                                 "--out", str(tmp_path / "t")])
    assert result.exit_code == 1 and "did you mean 'hydro'?" in result.output
    assert not (tmp_path / "t").exists()


def test_set_values_are_read_as_yaml():
    assert parse_sets(["a=1,2.5,x", "b=[1, 2],[3]", "c={u: 1, v: 2}"]) == {
        "a": [1, 2.5, "x"], "b": [[1, 2], [3]], "c": [{"u": 1, "v": 2}]}
    for bad in (["a"], ["=1"], ["a="], ["a=1", "a=2"]):
        with pytest.raises(SweepError):
            parse_sets(bad)


def test_a_backtest_sweep_has_each_traders_numbers(tmp_path):
    import yaml

    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bt", "seed": 3, "data": {"source": "simulated", "days": 3},
        "risk": {"position_limit_mw": 20}, "traders": [{"use": "arbitrage"}]}))
    table = vpp.sweep(path, {"storage.power_mw": [2, 8]}, tmp_path / "s")
    assert (table["error"] == "").all()
    for i, power in enumerate((2, 8)):
        alone = vpp.run(path, out=tmp_path / f"one-{power}",
                        changes={"storage.power_mw": power}).summary["traders"][0]
        assert table["arbitrage.profit_eur"].iloc[i] == alone["profit_eur"]
        assert table["arbitrage.traded_mwh"].iloc[i] == alone["traded_mwh"]
    assert table["arbitrage.traded_mwh"].iloc[1] > table["arbitrage.traded_mwh"].iloc[0]
