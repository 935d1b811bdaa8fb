"""Site files (``vpp site SITE.yaml``): validated by field, compared with the aggregator's
scenario field by field."""

from __future__ import annotations

import msgspec
import pytest
from vpp.runs.placement.site_file import (
    check_against,
    first_difference,
    is_site_file,
    parse_site_file,
)
from vpp.runs.scenario import DEFAULT_SCENARIO, ScenarioError, load

SCENARIO = load(DEFAULT_SCENARIO)


def _entry(i: int) -> dict:
    return msgspec.to_builtins(SCENARIO.sites[i])


def test_a_site_file_is_told_from_a_scenario():
    assert is_site_file({"site": {}})
    assert is_site_file({"sites": [], "descripton": "a typo is the site file's error"})
    assert not is_site_file({"name": "x", "start": "2019-01-01T00:00:00Z", "steps": 4,
                             "sites": []})


@pytest.mark.parametrize("data, message", [
    ({"site": {"name": "a", "devices": [{"type": "nope"}]}},
     "Invalid value 'nope' - at `$.site.devices[0].type`"),
    ({"sites": [{"name": "a"}]}, "missing required field `devices` - at `$.sites[0]`"),
    ({"site": _entry(0), "sites": [_entry(1)]}, "exactly one of `site` or `sites`"),
    ({"sites": []}, "at least one site - at `$.sites`"),
    ({"sites": [_entry(0), _entry(0)]}, "used twice - at `$.sites[1].name`"),
    ({"site": _entry(0), "descripton": "x"}, "unknown field `descripton`"),
])
def test_a_bad_site_file_names_its_field(data, message):
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("$", r"\$")):
        parse_site_file(data, "mine.yaml")


def test_the_same_sites_pass_and_count_expands_like_a_scenario():
    site_file = parse_site_file({"sites": [_entry(0), _entry(1)]}, "mine.yaml")
    check_against(site_file, SCENARIO, "mine.yaml")
    assert site_file.names() == SCENARIO.site_names()[:2]
    entry = dict(_entry(0), count=3)
    assert parse_site_file({"site": entry}, "x").names() == [
        f"{entry['name']}-{i}" for i in (1, 2, 3)]


def test_a_difference_is_named_with_both_values():
    entry = _entry(1)
    entry["devices"][0]["name"] = "renamed"
    with pytest.raises(ScenarioError) as err:
        check_against(parse_site_file({"sites": [_entry(0), entry]}, "x"), SCENARIO, "mine.yaml")
    text = str(err.value)
    assert text.startswith("mine.yaml: site ")
    assert "here 'renamed', the aggregator's " + repr(SCENARIO.sites[1].devices[0].name) in text
    assert text.endswith("at `$.sites[1].devices[0].name`")
    stranger = dict(_entry(0), name="stranger")
    with pytest.raises(ScenarioError, match="'stranger' is not in the aggregator's scenario"):
        check_against(parse_site_file({"site": stranger}, "x"), SCENARIO, "mine.yaml")


def test_first_difference_walks_maps_and_lists():
    assert first_difference({"a": [1, 2]}, {"a": [1, 2]}) is None
    assert first_difference({"a": [1, 2]}, {"a": [1, 3]}) == ("a[1]", 2, 3)
    assert first_difference({"a": [1]}, {"a": [1, 2]}) == ("a[1]", "<absent>", 2)
    assert first_difference({"a": 1}, {"a": 1, "b": 0}) == ("b", "<absent>", 0)
    assert first_difference(1.0, 1.5) == ("", 1.0, 1.5)
