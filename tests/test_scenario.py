"""Scenario validation: errors name the file, the field path and what was expected."""

from __future__ import annotations

import re

import pytest
import yaml

from vpp.runs.scenario import DEFAULT_SCENARIO, ScenarioError, load, parse, target_series


def _default():
    return yaml.safe_load(DEFAULT_SCENARIO.read_text())


def test_the_default_scenario_is_valid_and_uses_the_real_load_day():
    s = load(DEFAULT_SCENARIO)
    assert len(s.site_names()) >= 10 and s.steps == 96 and s.step_minutes == 15
    targets = target_series(s, DEFAULT_SCENARIO)
    assert min(targets) == pytest.approx(-450.0) and max(targets) == pytest.approx(1950.0)
    # DE-LU load on 2019-01-16 is lowest around 02:00 UTC and peaks in the evening
    assert targets.index(min(targets)) // 4 in (1, 2, 3)
    assert 16 <= targets.index(max(targets)) // 4 <= 18


@pytest.mark.parametrize("edit, path, expected", [
    (lambda d: d["sites"][2]["devices"][0].update(p_max_kw="lots"),
     r"\$\.sites\[2\]\.devices\[0\]\.p_max_kw", "Expected `float`, got `str`"),
    (lambda d: d["sites"][0]["devices"][0].update(pmax=3),
     r"\$\.sites\[0\]\.devices\[0\]", "unknown field `pmax`"),
    (lambda d: d["sites"][0]["devices"][0].update(type="fusion"),
     r"\$\.sites\[0\]\.devices\[0\]\.type", "unknown device type 'fusion' (one of: flexible, battery"),
    (lambda d: d["sites"][5]["devices"][0].update(eta_c=1.2),
     r"\$\.sites\[5\]\.devices\[0\]\.eta_c", "<= 1"),
    (lambda d: d.update(steps=0), r"\$\.steps", ">= 1"),
    (lambda d: d.pop("start"), r"\$", "missing required field `start`"),
    (lambda d: d["sites"].append(dict(d["sites"][0])), r"\$\.sites", "used twice"),
    (lambda d: d.update(target={"values_kw": [1.0, 2.0]}), r"\$\.target\.values_kw",
     "at least 96 values"),
    (lambda d: d["sites"][0].update(outage_probability=2), r"outage_probability", "<= 1"),
])
def test_errors_name_the_field(edit, path, expected):
    data = _default()
    edit(data)
    with pytest.raises(ScenarioError) as info:
        parse(data, "my.yaml")
    text = str(info.value)
    assert text.startswith("my.yaml: ")
    assert expected in text
    assert re.search(path, text), text


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="broken.yaml: not valid YAML"):
        load(bad)
    with pytest.raises(ScenarioError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    bad.write_text("- a list\n")
    with pytest.raises(ScenarioError, match="Expected a mapping"):
        load(bad)


def test_a_profile_outside_its_data_is_refused(tmp_path):
    data = _default()
    data["start"] = "2030-01-01T00:00:00Z"
    scenario = parse(data)
    with pytest.raises(ScenarioError, match="not the scenario's horizon"):
        target_series(scenario, DEFAULT_SCENARIO)
