"""A scenario built in Python (``vpp.Scenario``, ``vpp.Site``, the devices) is the YAML
one: equal as a structure, saved as YAML and loaded back equal, checked by the same
checks, and run to the same results."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import vpp
from vpp.runs.authoring import write_template
from vpp.runs.scenario import ScenarioError

HEADLINE = ["scenario", "steps", "sites", "target_kwh", "served_kwh", "unserved_kwh",
            "steps_with_unserved", "reserve_shortfall_kwh", "cost_eur", "declines", "rounds",
            "messages", "currency"]


def fleet_in_code() -> vpp.Scenario:
    """The `vpp init` fleet template, written in Python."""
    return vpp.Scenario(
        name="fleet",
        description="Merit-order dispatch of 5 sites for one day at 1 h, against a target "
                    "shaped by the DE-LU load of 2019-01-16.\n",
        seed=7, start=datetime(2019, 1, 16, tzinfo=timezone.utc), step_minutes=60, steps=24,
        data="de_lu_2019",
        target=vpp.Target(profile=vpp.Profile(column="load_actual_entsoe_mw", low_kw=-100,
                                              high_kw=500)),
        reserve_kw=50,
        sites=[
            vpp.Site(name="chp", devices=[vpp.Flexible(name="engine", p_max_kw=300,
                                                       cost_eur_mwh=60)]),
            vpp.Site(name="hydro", devices=[vpp.Flexible(name="turbine", p_max_kw=120,
                                                         cost_eur_mwh=12)]),
            vpp.Site(name="battery", devices=[vpp.Battery(
                name="bess", capacity_kwh=400, p_charge_kw=100, p_discharge_kw=100,
                state_of_charge=0.5, cost_eur_mwh=40, absorb_price_eur_mwh=-5)]),
            vpp.Site(name="cold-store",
                     strategy=vpp.Strategy(use="markup", params={"markup_eur_mwh": 10}),
                     devices=[vpp.Flexible(name="compressors", p_min_kw=-80, p_max_kw=40,
                                           cost_eur_mwh=90, absorb_price_eur_mwh=5)]),
            vpp.Site(name="pv", devices=[vpp.PV(name="array", weather="pvgis",
                                                inverter_count=30)]),
        ])


def test_the_code_built_scenario_equals_the_yaml_one_and_runs_the_same(tmp_path):
    (path,) = write_template("fleet", tmp_path)
    from_file = vpp.load(path)
    built = vpp.changed(fleet_in_code(), {})  # checked, numbers as the loader types them
    assert built == from_file
    saved = vpp.save(built, tmp_path / "saved.yaml")
    assert vpp.load(saved) == from_file
    assert "p_min_kw" not in saved.read_text().split("cold-store")[0]  # defaults left out
    report = vpp.validate(fleet_in_code())
    assert report.ok and "5 sites, 24 steps of 60 min" in report.summary

    a = vpp.run(path, out=tmp_path / "file").summary
    b = vpp.run(fleet_in_code(), out=tmp_path / "code").summary
    assert {k: a[k] for k in HEADLINE} == {k: b[k] for k in HEADLINE}
    assert a["served_kwh"] > 0
    steps_a = vpp.open_run(tmp_path / "file").steps
    steps_b = vpp.open_run(tmp_path / "code").steps
    assert steps_a.equals(steps_b)


def test_a_change_by_path_is_checked_and_runs_as_the_edited_file(tmp_path):
    (path,) = write_template("fleet", tmp_path)
    edited = vpp.changed(vpp.load(path), {"steps": 6, "sites[hydro].devices[0].p_max_kw": 10})
    assert edited.steps == 6 and edited.sites[1].devices[0].p_max_kw == 10.0
    text = path.read_text().replace("steps: 24  ", "steps: 6   ").replace(
        "p_max_kw: 120, cost_eur_mwh: 12", "p_max_kw: 10, cost_eur_mwh: 12")
    (tmp_path / "edited.yaml").write_text(text)
    assert vpp.load(tmp_path / "edited.yaml") == edited
    by_changes = vpp.run(path, out=tmp_path / "a", changes={
        "steps": 6, "sites[hydro].devices[0].p_max_kw": 10}).summary
    by_file = vpp.run(tmp_path / "edited.yaml", out=tmp_path / "b").summary
    assert {k: by_changes[k] for k in HEADLINE} == {k: by_file[k] for k in HEADLINE}
    assert by_changes["steps"] == 6

    with pytest.raises(ScenarioError, match=r"sites\[hydr\]: no item named 'hydr'; did you "
                                            r"mean 'hydro'\?"):
        vpp.changed(edited, {"sites[hydr].devices[0].p_max_kw": 1})
    with pytest.raises(ScenarioError, match=r"Expected `int`, got `str` - at `\$\.steps`"):
        vpp.changed(edited, {"steps": "many"})


def test_a_code_built_scenario_with_mistakes_gets_every_one(tmp_path):
    bad = vpp.Scenario(
        name="bad", start=datetime(2019, 1, 16, tzinfo=timezone.utc), steps=8,
        target=vpp.Target(values_kw=[1.0, 2.0]),
        sites=[vpp.Site(name="a", devices=[vpp.Battery(
            name="b", capacity_kwh=10, p_charge_kw=5, p_discharge_kw=5, soc_min=0.9,
            soc_max=0.1)]),
               vpp.Site(name="a", devices=[vpp.Flexible(name="f", p_max_kw=-5,
                                                        cost_eur_mwh=1)])])
    report = vpp.validate(bad)
    said = "\n".join(report.lines)
    assert not report.ok and len(report.lines) == 4, said
    assert "Expected at least 8 values (one per step), got 2 - at `$.target.values_kw`" in said
    assert "Site name 'a' is used twice - at `$.sites`" in said
    assert "(site 'a', device 'b') - at `$.sites[0].devices[0]`" in said
    assert "at `$.sites[1].devices[0].p_max_kw`" in said
    with pytest.raises(ScenarioError):
        vpp.run(bad, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()
