"""The `vpp` command line, as a user would run it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from vpp.runs.cli import app
from vpp.runs.scenario import DEFAULT_SCENARIO

runner = CliRunner()


def _small_scenario(tmp_path, steps=8):
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["steps"] = steps
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "validate", "trace", "bench"):
        assert command in result.output
    for sub in (["trace", "--help"], ["bench", "--help"], ["run", "--help"]):
        assert runner.invoke(app, sub).exit_code == 0


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from vpp.runs.cli import app; "
            "print(sorted(m for m in ('mesa','pandas','matplotlib','numpy','cvxpy','blast',"
            "'pandapower','sklearn','pvlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_validate_good_and_bad(tmp_path):
    ok = runner.invoke(app, ["validate", str(DEFAULT_SCENARIO)])
    # rich wraps at the console width: a long checkout path moves "14 sites" over a line end
    assert ok.exit_code == 0 and "14 sites" in " ".join(ok.output.split())
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["sites"][1]["devices"][0]["cost_eur_mwh"] = "cheap"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml" in result.output and "$.sites[1].devices[0].cost_eur_mwh" in result.output


def test_run_then_read_the_trace(tmp_path):
    scenario = _small_scenario(tmp_path)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out), "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "unserved energy" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["seed"] == 7
    assert (out / "dispatch.png").stat().st_size > 10_000
    show = runner.invoke(app, ["trace", "show", str(out)])
    assert show.exit_code == 0 and "CallForBids" in show.output and "unserved" in show.output
    bids = runner.invoke(app, ["trace", "messages", str(out), "--agent", "hydro", "--kind", "Bid",
                               "--json"])
    rows = json.loads(bids.output)
    assert len(rows) == 16  # 8 steps, sent and received
    assert all(r["kind"] == "Bid" and r["sender"] == "sites/hydro" for r in rows)
    assert rows[0]["body"]["segments"] == [[120.0, 12.0]]
    rounds = runner.invoke(app, ["trace", "rounds", str(out), "--csv"])
    table = list(csv.DictReader(io.StringIO(rounds.output)))
    assert {int(r["step"]) for r in table} == set(range(8))
    assert runner.invoke(app, ["trace", "show", str(tmp_path / "nothing")]).exit_code == 2


def test_run_with_a_bad_scenario_fails_cleanly(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "missing required field" in result.output
    assert not (tmp_path / "out").exists()


def test_site_refuses_a_local_frequency_preset_of_another_grid_naming_the_option():
    result = runner.invoke(app, ["site", str(DEFAULT_SCENARIO), "--connect", "ipc:///tmp/none",
                                 "--frequency", "ipc:///tmp/grid", "--frequency-service",
                                 "ercot-ffr", "--frequency-curtailment", "lfsm-o-50"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, text
    assert ("--frequency-curtailment: preset 'lfsm-o-50' is for 50 Hz grids, the grid is "
            "60 Hz") in text
