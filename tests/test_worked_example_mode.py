"""The worked example of docs/modes.md, run as written: a small mode registered and run
through the runner, its numbers checked against the devices and against merit order."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pandas as pd
import pytest

import vpp
from vpp.runs import modes
from vpp.runs.scenario import DEFAULT_SCENARIO, load

DOC = Path(__file__).resolve().parent.parent / "docs" / "modes.md"


@pytest.fixture(scope="module")
def pro_rata():
    text = DOC.read_text()
    block = re.search(r"## The example.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, str(DOC), "exec"), namespace)  # the doc's own code, as written
    mode = modes.register(namespace["ProRataMode"]())
    yield mode
    modes.unregister(mode.name)


def test_the_example_mode_runs_through_the_runner_and_balances(pro_rata, tmp_path):
    scenario = msgspec.structs.replace(load(DEFAULT_SCENARIO), mode="pro-rata", steps=8)
    result = vpp.run(scenario, out=tmp_path / "pro-rata")
    record = vpp.open_run(tmp_path / "pro-rata")
    assert record.manifest.mode == "pro-rata" and result.summary["mode"] == "pro-rata"
    steps, sites = record.steps, record.sites
    assert list(steps["step"]) == list(range(8))
    assert str(steps.index[1]) == "2019-01-16 00:15:00+00:00"
    # energy balance: each step's served power is its sites' power summed
    by_step = sites.groupby("step")["power_kw"].sum()
    assert by_step.to_numpy() == pytest.approx(steps["served_kw"].to_numpy())
    assert result.summary["served_kwh"] == pytest.approx(
        steps["served_kw"].abs().sum() * 0.25)
    # the night's targets are absorptions within the fleet's reach: served in full
    assert (steps["unserved_kw"] < 1e-6).all()
    assert steps["served_kw"].to_numpy() == pytest.approx(steps["target_kw"].to_numpy())


def test_merit_order_never_costs_more_on_the_same_first_step(pro_rata, tmp_path):
    base = msgspec.structs.replace(load(DEFAULT_SCENARIO), steps=1)
    naive = vpp.run(msgspec.structs.replace(base, mode="pro-rata"), out=tmp_path / "a")
    merit = vpp.run(base, out=tmp_path / "b")
    assert merit.summary["mode"] == "merit_order"
    assert naive.summary["served_kwh"] == pytest.approx(merit.summary["served_kwh"])
    # the same energy from the same devices in the same state: the merit order is the
    # cheapest split (pay-as-bid at the devices' asked prices)
    assert merit.summary["cost_eur"] <= naive.summary["cost_eur"] + 1e-9
    assert naive.summary["cost_eur"] > merit.summary["cost_eur"]  # and strictly, here


def test_a_scenario_naming_an_unknown_mode_is_refused_by_field(tmp_path):
    data = msgspec.to_builtins(load(DEFAULT_SCENARIO))
    data["mode"] = "nonesuch"
    path = tmp_path / "s.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception, match=r"no run mode named 'nonesuch'.*`\$\.mode`"):
        vpp.load(path)
    assert pd is not None
