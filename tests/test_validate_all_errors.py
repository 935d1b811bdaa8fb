"""``vpp validate`` reports every problem at once, names sites by name as well as by path,
and offers the allowed values or the closest one."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from vpp.runs.cli import app
from vpp.runs.scenario import ScenarioError, parse
from vpp.runs.scenario.problems import ScenarioProblems
from vpp.runs.validation import validate_file

runner = CliRunner()

FIVE_MISTAKES = """\
name: five
start: 2019-01-16T00:00:00Z
step_minute: 15                  # 1: a typo in a field's name
steps: 8
target: {values_kw: [100, 100, 100]}   # 2: three values for eight steps
sites:
  - name: chp
    devices:
      - {type: flexible, name: engine, p_max_kw: 300, cost_eur_mwh: 60}
  - name: bakery
    devices:
      - {type: flexibel, name: ovens, p_max_kw: 80, cost_eur_mwh: 140}   # 3: a type's typo
  - name: hydro
    devices:
      - {type: flexible, name: turbine, p_max_kw: lots, cost_eur_mwh: 12}   # 4: not a number
  - name: store
    strategy: markupp                                                      # 5: a strategy's typo
    devices:
      - {type: flexible, name: spare, p_max_kw: 10, cost_eur_mwh: 1, colour: red}  # 6
      - {type: battery, name: bess, capacity_kwh: 100, p_charge_kw: 50, p_discharge_kw: 50,
         soc_min: 0.8, soc_max: 0.2}                                       # 7: out of order
"""


def test_a_file_with_many_mistakes_gets_every_error_in_one_run(tmp_path):
    path = tmp_path / "five.yaml"
    path.write_text(FIVE_MISTAKES)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 7, result.output
    said = "\n".join(errors)
    assert ("unknown field `step_minute`; did you mean `step_minutes`? - at `$`" in said)
    assert ("Expected at least 8 values (one per step), got 3 - at `$.target.values_kw`"
            in said)
    assert ("unknown device type 'flexibel'; did you mean 'flexible'? (site 'bakery', "
            "device 'ovens') - at `$.sites[1].devices[0].type`" in said)
    assert ("Expected `float`, got `str` (site 'hydro', device 'turbine') - at "
            "`$.sites[2].devices[0].p_max_kw`" in said)
    assert "no strategy named 'markupp'; did you mean 'markup'?" in said
    assert "(site 'store') - at `$.sites[3].strategy`" in said
    assert ("unknown field `colour` (one of: name, p_max_kw, p_min_kw, cost_eur_mwh, "
            "absorb_price_eur_mwh, availability) (site 'store', device 'spare') - at "
            "`$.sites[3].devices[0]`" in said)
    # the battery is checked though the device before it could not be built: by its own
    # index and name
    assert ("soc_min (0.8) must be <= battery.soc_max (0.2) (site 'store', device 'bess') - "
            "at `$.sites[3].devices[1]`" in said)
    assert f"{path}: 7 problems" in result.output
    assert "Traceback" not in result.output


def test_the_loader_raises_every_problem_too():
    data = yaml.safe_load(FIVE_MISTAKES)
    with pytest.raises(ScenarioProblems) as info:
        parse(data, "five.yaml")
    problems = info.value.problems
    assert isinstance(info.value, ScenarioError)
    # the strategy is vpp validate's (it builds strategies); the loader finds the other six
    assert [p.path for p in problems] == [
        "", "sites[1].devices[0].type", "sites[2].devices[0].p_max_kw", "sites[3].devices[0]",
        "sites[3].devices[1]", "target.values_kw"]
    assert str(info.value).splitlines()[0].startswith("five.yaml: Object contains unknown")


def test_vpp_run_refuses_with_the_same_lines_each_an_error_and_brackets_kept(tmp_path):
    path = tmp_path / "five.yaml"       # the battery's mistake now one with brackets in it
    path.write_text(FIVE_MISTAKES.replace("soc_min: 0.8, soc_max: 0.2",
                                          "soc_min: 0.2, soc_max: 0.8, state_of_charge: 0.95"))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "loading scenario" in lines[0]           # the start-up stage, then the refusal
    lines = lines[1:]
    # the loader's six problems (the strategy is built only by validate), one error each
    assert len(lines) == 6 and all(line.startswith("error: ") for line in lines), lines
    # text between brackets is the message's, not markup taken away
    assert any("battery.state_of_charge must be in [soc_min, soc_max] = [0.2, 0.8]" in line for line in lines)
    assert not (tmp_path / "out").exists()


def test_allowed_values_are_listed_or_the_closest_offered():
    def problems(**changes):
        data = yaml.safe_load(FIVE_MISTAKES.split("sites:")[0] + "sites: []")
        data.pop("step_minute")
        data["target"] = {"values_kw": [1.0] * 8}
        data["sites"] = [{"name": "a", "devices": [
            {"type": "flexible", "name": "x", "p_max_kw": 1, "cost_eur_mwh": 1}]}]
        data.update(changes)
        with pytest.raises(ScenarioProblems) as info:
            parse(data, "s.yaml")
        return str(info.value)

    assert "Invalid enum value 'adm'; did you mean 'admm'?" in problems(coordination="adm")
    assert "Invalid enum value 'cplex' (one of: merit_order, admm)" in problems(
        coordination="cplex")
    said = problems(sites=[{"name": "a", "devices": [{"name": "x", "p_max_kw": 1}]}])
    assert "missing the device type (one of: flexible, battery, pv, wind" in said


def test_a_site_whose_devices_all_fail_is_not_also_said_to_have_none(tmp_path):
    text = FIVE_MISTAKES.replace("type: flexible, name: engine", "type: fusion, name: engine")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    report = validate_file(path)
    said = "\n".join(report.lines)
    assert "unknown device type 'fusion' (one of: flexible, battery" in said
    assert "Expected at least one device" not in said


def test_a_good_file_is_ok(tmp_path):
    from vpp.runs.scenario import BUNDLED

    report = validate_file(BUNDLED / "default.yaml")
    assert report.ok and "14 sites, 96 steps of 15 min" in report.summary
