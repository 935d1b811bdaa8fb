"""A loader that confines and bounds (issue #19, finding 4): every bad scenario or bad path
ends in an error naming the field and a non-zero exit, never a traceback, never a file's
contents, never a hang; ``vpp validate`` and ``vpp run`` share the one check; served energy
never exceeds what was asked, even for a device of 1e308 kW."""

from __future__ import annotations

import re

import msgspec
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner
from vpp.coordination.merit_order.allocation import allocate, fill
from vpp.runs.cli import app
from vpp.runs.placement.site_file import parse_site_file
from vpp.runs.scenario import BUNDLED, Scenario, ScenarioError, load, parse
from vpp.runs.scenario.limits import Limits

from tests.proc_helpers import small_scenario

runner = CliRunner()
SECRET = "SECRET_TOKEN_7731"


def _said(result) -> str:
    return " ".join(result.output.split())


def _refused(args, field: str, *also: str) -> str:
    """Run ``vpp ARGS``: exit 1, no traceback, a problem's line ends naming ``field``
    (every problem found is reported, one line each)."""
    result = runner.invoke(app, args)
    said = _said(result)
    assert result.exit_code == 1, said
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert said.endswith(f"at `$.{field}`") or f"at `$.{field}` " in said, said
    for text in also:
        assert text in said, said
    return said


def _write(tmp_path, change, name="bad.yaml"):
    data = yaml.safe_load(small_scenario(tmp_path, steps=2).read_text())
    change(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _set(path: str, value):
    """A change that sets ``data[a][b]...`` = value for ``path`` like ``sites.0.count``."""
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]

    def change(data):
        for k in keys[:-1]:
            data = data[k]
        data[keys[-1]] = value
    return change


# -- paths -----------------------------------------------------------------------------

@pytest.mark.parametrize("csv", ["../../../../etc/passwd", "/etc/passwd",
                                 "bundled:../../../etc/passwd", "bundled:passwd"])
def test_a_data_path_never_leaves_the_scenarios_folder(tmp_path, csv):
    path = _write(tmp_path, _set("target.profile.csv", csv))
    for command in ("validate", "run"):
        said = _refused([command, str(path), "--out", str(tmp_path / "o")] if command == "run"
                        else [command, str(path)], "target.profile.csv")
        assert "root:" not in said
    assert not (tmp_path / "o").exists()


def test_a_symbolic_link_out_of_the_folder_is_refused_and_data_dir_widens(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "t.csv").write_text("timestamp_utc,x\n2019-01-16T00:00:00Z,1\n"
                                   "2019-01-17T00:00:00Z,3\n")
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "link.csv").symlink_to(outside / "t.csv")
    for csv in ("link.csv", str(outside / "t.csv")):
        path = _write(folder, lambda d, csv=csv: d["target"].update(
            profile={"csv": csv, "column": "x", "low_kw": 0, "high_kw": 100}))
        _refused(["validate", str(path)], "target.profile.csv", "--data-dir")
        ok = runner.invoke(app, ["validate", str(path), "--data-dir", str(outside)])
        assert ok.exit_code == 0, ok.output
        assert "target 0 to 100 kW" in _said(ok)  # the column's range over the 2 steps
    bad = runner.invoke(app, ["validate", str(path), "--data-dir", str(tmp_path / "none")])
    assert bad.exit_code == 2 and "--data-dir" in bad.output


def test_weather_files_stay_in_pvlibs_data(tmp_path):
    def pv(data):
        data["sites"][0]["devices"] = [{"type": "pv", "name": "p",
                                        "weather": "tmy3:../../../../etc/passwd"}]
    _refused(["validate", str(_write(tmp_path, pv))], "sites[0].devices[0]", "without a folder")


@pytest.mark.parametrize("bundled, field", [
    ("market.yaml", "market.day_ahead.prices.csv"),
    ("admm.yaml", "admm.prices.csv"),
    ("iberian-blackout.yaml", "grid.replay.csv"),
    ("volt-var.yaml", "grid.voltage.load.csv"),
])
def test_every_section_that_names_a_file_is_confined(tmp_path, bundled, field):
    data = yaml.safe_load((BUNDLED / bundled).read_text())
    if field == "admm.prices.csv":  # the ADMM scenario sells at prices instead
        data.pop("target")
        data["admm"].update(coupling="market", prices={"csv": "x.csv"}, import_max_kw=500,
                            export_max_kw=500)
    _set(field, "../../../../etc/passwd")(data)
    path = tmp_path / bundled
    path.write_text(yaml.safe_dump(data))
    _refused(["validate", str(path)], field, "outside the scenario's folder")


def test_no_error_quotes_a_data_files_contents(tmp_path):
    stamps = "\n".join(f"2019-01-{d:02d}T00:00:00Z,{SECRET}" for d in (15, 16, 17))
    (tmp_path / "words.csv").write_text(f"timestamp_utc,{SECRET}_col\n{stamps}\n")
    (tmp_path / "cells.csv").write_text(f"timestamp_utc,load\n{stamps}\n")
    (tmp_path / "binary.csv").write_bytes(b"\x00\xff\xfe" + SECRET.encode() + b"\x00" * 64)
    for name, column, field in (("words.csv", "load", "target.profile.column"),
                                ("cells.csv", "load", "target.profile.column"),
                                ("binary.csv", "load", "target.profile")):
        path = _write(tmp_path, lambda d: d["target"].update(
            profile={"csv": name, "column": column, "low_kw": 0, "high_kw": 1}))
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), name
        assert SECRET not in result.output, result.output
        assert field in result.output and name in result.output


# -- YAML bounds -----------------------------------------------------------------------

BOMB = "".join(["lol0: &a0 [l, l, l, l, l, l, l, l, l]\n"] + [
    f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10)])


@pytest.mark.timeout(60)  # before the fix: a hang expanding 9^10 nodes into a message
def test_an_alias_bomb_in_params_is_refused_by_the_node_cap(tmp_path):
    base = small_scenario(tmp_path, steps=2).read_text()
    params = "".join(f"      {line}\n" for line in BOMB.splitlines())
    text = base.replace("  strategy:\n    params:\n      markup_eur_mwh: 15\n",
                        "  strategy:\n    params:\n      markup_eur_mwh: 15\n" + params)
    assert text != base
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    said = _said(runner.invoke(app, ["validate", str(path)]))
    assert "more than 10,000,000 YAML nodes once its aliases are expanded" in said
    assert "VPP_MAX_YAML_NODES" in said and "l, l, l" not in said


@pytest.mark.parametrize("text, message", [
    ("a: &x [1, *x]\n", "an alias refers to a collection that contains it"),
    ("a: " + "[" * 60 + "]" * 60 + "\n", "nested deeper than 50"),
    ("- 1\n- 2\n", "Expected a mapping at the top level"),
    ("name: [unclosed\n", "not valid YAML"),
])
def test_yaml_shape_is_bounded(tmp_path, text, message):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load(path)


def test_a_file_over_the_size_cap_is_not_read(tmp_path, monkeypatch):
    path = small_scenario(tmp_path)
    monkeypatch.setenv("VPP_MAX_FILE_BYTES", "100")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and "larger than 100 bytes" in result.output
    monkeypatch.setenv("VPP_MAX_FILE_BYTES", "lots")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and "VPP_MAX_FILE_BYTES" in result.output


# -- sizes -----------------------------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    (_set("sites.0.count", 1_000_000_000), "sites"),
    (_set("steps", 1_000_000_000), "steps"),
    (lambda d: d.update(sites=[dict(d["sites"][0], count=100_000)], steps=35_040), "steps"),
])
def test_huge_counts_and_steps_are_refused_before_anything_grows(tmp_path, change, field):
    _refused(["validate", str(_write(tmp_path, change))], field, "the cap")


def test_the_default_caps_allow_a_100000_site_fleet_and_a_15_minute_year():
    base = {"name": "big", "start": "2019-01-01T00:00:00Z", "target": {"values_kw": [1.0]},
            "sites": [{"name": "s", "count": 100_000, "devices": [
                {"type": "flexible", "name": "g", "p_max_kw": 1, "cost_eur_mwh": 1}]}]}
    assert len(parse({**base, "steps": 1}).site_names()) == 100_000
    year = dict(base, steps=35_040, target={"values_kw": [1.0] * 35_040})
    year["sites"] = [dict(base["sites"][0], count=1)]
    assert parse(year).steps == 35_040
    assert Limits.from_env({"VPP_MAX_SITES": "200_000"}).max_sites == 200_000


# -- the one check: finite, ordered, within physical caps --------------------------------

def _device(change):
    def apply(data):
        data["sites"][0]["devices"] = [change]
    return apply


BATTERY = {"type": "battery", "name": "b", "capacity_kwh": 10, "p_charge_kw": 5,
           "p_discharge_kw": 5}


@pytest.mark.parametrize("change, field, text", [
    (_device(dict(BATTERY, soc_min=0.9, soc_max=0.2)), "sites[0].devices[0]",
     "soc_min (0.9) must be <= battery.soc_max (0.2)"),
    (_device(dict(BATTERY, state_of_charge=0.05, soc_min=0.1)), "sites[0].devices[0]",
     "battery.state_of_charge must be in"),
    (_device({"type": "flexible", "name": "g", "p_max_kw": 10, "cost_eur_mwh": float("nan")}),
     "sites[0].devices[0].cost_eur_mwh", "must be finite"),
    (_device({"type": "flexible", "name": "g", "p_max_kw": float("inf"), "cost_eur_mwh": 1}),
     "sites[0].devices[0].p_max_kw", "must be finite"),
    (_device({"type": "flexible", "name": "g", "p_max_kw": 1e308, "cost_eur_mwh": 1}),
     "sites[0].devices[0].p_max_kw", "the cap: 100 GW"),
    (_device({"type": "ev", "name": "v", "battery_kwh": 50, "p_max_kw": 7, "arrival_h": 9,
              "departure_h": 3, "energy_at_arrival_kwh": 1, "target_energy_kwh": 2}),
     "sites[0].devices[0]", "arrival_h (9.0) must be <= ev.departure_h"),
    (_set("reserve_kw", float("inf")), "reserve_kw", "must be finite"),
    (_set("target", {"values_kw": [1.0, float("nan")]}), "target.values_kw[1]", "finite"),
    (lambda d: d.update(coordination="admm", admm={"rho": float("inf")}), "admm.rho",
     "must be finite"),
])
def test_validate_and_run_share_one_check_naming_the_field(tmp_path, change, field, text):
    path = _write(tmp_path, change)
    checked = _refused(["validate", str(path)], field, text)
    ran = _refused(["run", str(path), "--out", str(tmp_path / "o")], field, text)
    # the same problems, each naming its field (validate adds one "error:" per line)
    at = re.compile(r"[^:]*: (.*?) - at `([^`]*)`")
    assert at.findall(checked.replace("error: ", "")) == at.findall(ran.replace("error: ", ""))
    assert not (tmp_path / "o").exists()


def test_site_files_and_backtests_get_the_same_check(tmp_path):
    site = dict(BATTERY, soc_min=0.9, soc_max=0.2)
    with pytest.raises(ScenarioError, match=r"soc_min.*at `\$\.site\.devices\[0\]`"):
        parse_site_file({"site": {"name": "x", "devices": [site]}}, "mine.yaml")
    with pytest.raises(ScenarioError, match=r"finite.*at `\$\.sites\[0\]\.devices\[0\]\.cost"):
        parse_site_file({"sites": [{"name": "x", "devices": [
            {"type": "flexible", "name": "g", "p_max_kw": 1, "cost_eur_mwh": float("nan")}]}]},
            "mine.yaml")
    bt = tmp_path / "bt.yaml"
    for data, field in (
            ({"risk": {"daily_loss_limit_eur": float("inf")}}, "risk.daily_loss_limit_eur"),
            ({"data": {"source": "simulated", "days": 1_000_000_000}}, "data.days")):
        bt.write_text(yaml.safe_dump({"name": "bt", "traders": [{"use": "momentum"}], **data}))
        _refused(["backtest", str(bt), "--out", str(tmp_path / "o")], field)


# -- served energy never exceeds what was asked -------------------------------------------

def test_a_huge_offer_does_not_cancel_the_ones_before_it():
    # before the fix: cumsum(q) - q gave 0 ahead of the 1e308 segment, awarding 1000 twice
    a = allocate([0, 1, 2], [500.0, 1e308, 300.0], [40.0, 62.0, 70.0], 1000.0, 3)
    assert a.site_power_kw.tolist() == [500.0, 500.0, 0.0]
    assert a.served_kw == 1000.0 and a.unserved_kw == 0.0
    # the large-fleet path (a histogram over prices, then the marginal band sorted)
    q = np.r_[[500.0, 1e308], np.full(5000, 1.0)]
    p = np.r_[[40.0, 62.0], np.full(5000, 70.0)]
    assert fill(q, p, 1000.0).tolist()[:3] == [500.0, 500.0, 0.0]
    assert fill(np.array([1e308, 1e308, 5.0]), np.zeros(3), 7.0).tolist() == [7.0, 0.0, 0.0]


def test_a_1e308_device_serves_the_target_end_to_end(tmp_path):
    """The loader refuses it (above); built without the loader's check, the swarm still
    serves exactly the target, not more."""
    from vpp.runs.runner import run_scenario

    path = small_scenario(tmp_path, steps=96)
    data = yaml.safe_load(path.read_text())
    data["sites"][0]["devices"][0]["p_max_kw"] = 1e308
    scenario = msgspec.convert(data, Scenario, strict=False)  # the check bypassed
    with pytest.raises(ScenarioError, match="p_max_kw"):
        parse(data)
    result = run_scenario(scenario, tmp_path / "run", scenario_path=path)
    summary, model = result.summary, result.run
    for outcome in model.aggregator.outcomes:
        assert abs(outcome.served_kw) <= abs(outcome.target_kw) * (1 + 1e-9) + 1e-9
    assert summary["served_kwh"] == pytest.approx(summary["target_kwh"], rel=1e-9)
    assert summary["unserved_kwh"] == pytest.approx(0.0, abs=1e-6)


def test_a_scenario_received_over_the_network_gets_the_same_check(tmp_path):
    """``vpp site`` runs the one check on the aggregator's scenario before it builds
    anything from it: a billion sites is refused, not a MemoryError."""
    from vpp.runs.scenario import check_scenario

    data = yaml.safe_load(small_scenario(tmp_path).read_text())
    data["sites"][0]["count"] = 1_000_000_000
    received = msgspec.msgpack.decode(
        msgspec.msgpack.encode(msgspec.convert(data, Scenario, strict=False)), type=Scenario)
    with pytest.raises(ScenarioError, match=r"cap of 100,000.* - at `\$\.sites`"):
        check_scenario(received, "the scenario of the aggregator at tcp://x:1")
