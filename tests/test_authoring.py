"""``vpp init`` writes a commented starting scenario (and the data file it reads) that
validates and runs; ``vpp schema`` prints a JSON Schema every bundled scenario passes and
a broken one fails."""

from __future__ import annotations

import json
from datetime import datetime

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

import vpp
from vpp.physics.datasets import read_dataset
from vpp.runs.cli import app
from vpp.runs.scenario import BUNDLED, load, target_series
from vpp.runs.validation import validate_file

runner = CliRunner()


def test_init_writes_a_fleet_scenario_that_validates_and_runs(tmp_path):
    result = runner.invoke(app, ["init", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    path = tmp_path / "fleet.yaml"
    text = path.read_text()
    assert text.startswith("# A starting scenario, written by `vpp init`")
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 15
    report = validate_file(path)
    assert report.ok, report.lines
    assert "5 sites, 24 steps of 60 min, target -100 to 500 kW" in report.summary
    spec = load(path)
    run = vpp.run(path, out=tmp_path / "run")
    summary = run.summary
    assert (summary["sites"], summary["steps"]) == (5, 24)
    # the target it followed is the profile the file describes, and every kWh of it is
    # either served or unserved
    assert summary["target_kwh"] == pytest.approx(
        sum(abs(t) for t in target_series(spec, path)) * spec.dt_h)
    assert summary["served_kwh"] + summary["unserved_kwh"] == pytest.approx(
        summary["target_kwh"])


def test_init_market_writes_its_price_file_from_the_bundled_day(tmp_path):
    result = runner.invoke(app, ["init", "--template", "market", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "prices.csv").read_text().splitlines()
    assert rows[0] == "timestamp_utc,price_eur_mwh" and len(rows) == 25
    day = read_dataset("de_lu_2019").frame().loc["2019-01-16", "price_eur_mwh"]
    assert [float(r.split(",")[1]) for r in rows[1:]] == pytest.approx(list(day), abs=0.005)
    assert rows[1].startswith("2019-01-16T00:00:00Z,")
    report = validate_file(tmp_path / "market.yaml")
    assert report.ok, report.lines
    assert (f"selling at {day.min():,.2f} to {day.max():,.2f} EUR/MWh" in report.summary)


def test_init_keeps_files_already_there_and_names_templates(tmp_path):
    (tmp_path / "fleet.yaml").write_text("mine\n")
    result = runner.invoke(app, ["init", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "already there (--force overwrites)" in result.output
    assert (tmp_path / "fleet.yaml").read_text() == "mine\n"
    result = runner.invoke(app, ["init", "--dir", str(tmp_path), "--force"])
    assert result.exit_code == 0 and (tmp_path / "fleet.yaml").read_text() != "mine\n"
    result = runner.invoke(app, ["init", "--template", "markt", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no template named 'markt'; did you mean 'market'?" in result.output


def _plain(value):
    """YAML's datetimes as the strings a JSON editor sees."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, datetime) else value


@pytest.fixture(scope="module")
def validator():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(p.name for p in BUNDLED.glob("*.yaml")
                                        if not p.name.startswith("backtest")))
def test_every_bundled_scenario_passes_the_schema(validator, name):
    doc = _plain(yaml.safe_load((BUNDLED / name).read_text()))
    assert list(validator.iter_errors(doc)) == []


def test_the_schema_refuses_what_the_loader_refuses(validator, tmp_path):
    doc = _plain(yaml.safe_load((BUNDLED / "default.yaml").read_text()))
    doc["step_minute"] = 15
    doc["sites"][1]["devices"][0]["type"] = "flexibel"
    doc["sites"][2]["devices"][0]["p_max_kw"] = "lots"
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    paths = {tuple(e.absolute_path) for e in errors}
    assert () in paths  # the unknown field, at the top
    assert any(p[:4] == ("sites", 1, "devices", 0) for p in paths)
    assert any(p[:4] == ("sites", 2, "devices", 0) for p in paths)
    out = tmp_path / "s.json"
    assert runner.invoke(app, ["schema", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["$defs"]["Scenario"]["required"] == [
        "name", "start", "steps", "sites"]
