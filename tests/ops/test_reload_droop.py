"""Hot reload of a frequency response: a droop edited in the YAML of a live grid event is
applied from the next frequency sample; an invalid droop is rejected and nothing changes."""

from __future__ import annotations

import os

import pytest
import yaml
from vpp.agents.frequency.grid import ReplaySource, publish_until_answered
from vpp.agents.ops.agent import OpsAgent
from vpp.runs.modes.grid_event.event import build_sites
from vpp.runs.modes.grid_event.rig import FrequencyRig
from vpp.runs.ops.appliers import FrequencyApplier
from vpp.runs.ops.reload import ScenarioReloader
from vpp.runs.scenario import load

DROOP = {"type": "droop", "f0_hz": 50.0, "deadband_hz": 0.0, "full_hz": 0.5}
GRID_SCENARIO = {
    "name": "droop-reload", "start": "2019-06-21T11:00:00Z", "steps": 1,
    "target": {"values_kw": [0]},
    "sites": [{"name": "bess", "count": 2, "devices": [
        {"type": "battery", "name": "pack", "capacity_kwh": 4000, "p_charge_kw": 1000,
         "p_discharge_kw": 1000, "state_of_charge": 0.5}]}],
    "grid": {"f0_hz": 50, "replay": {"csv": "unused.csv"},
             "response": [{"sites": ["bess-*"], "service": DROOP}]},
}


def _write(path, droop):
    data = {**GRID_SCENARIO, "grid": {**GRID_SCENARIO["grid"],
                                      "response": [{"sites": ["bess-*"], "service": droop}]}}
    tmp = path.with_suffix(".tmp")      # a whole file put in place, as an editor saves:
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))   # never read half-written
    os.replace(tmp, path)


@pytest.fixture
def event(tmp_path):
    path = tmp_path / "grid.yaml"
    _write(path, DROOP)
    scenario = load(path)
    sites = build_sites(scenario, str(path))
    # the grid sits 0.2 Hz low the whole time (open loop)
    rig = FrequencyRig(ReplaySource([0.0, 1000.0], [49.8, 49.8], 50.0), sites,
                       sample_period_s=1.0)
    ops = rig.grid_host.add(OpsAgent())
    reloader = ScenarioReloader(path, scenario, FrequencyApplier(sites), ops=ops,
                                debounce_ms=20)

    def sample(k: int) -> list[float]:
        rig.clock.advance_to(rig.grid.source.t_s)
        reloader.before_step(k)
        assert publish_until_answered(rig.loop, rig.grid, 5.0)
        rig.grid.advance()
        return [s.rule.response_kw for s in sites]

    yield path, sites, reloader, sample, ops
    reloader.close()
    rig.close()


def test_a_droop_edit_applies_from_the_next_sample(event):
    path, _, reloader, sample, ops = event
    # 0.2 Hz low on a 0.5 Hz droop: 40 % of the 1000 kW contracted, more injection
    assert sample(0) == pytest.approx([400.0, 400.0])
    _write(path, {**DROOP, "full_hz": 0.25})
    assert reloader.wait_staged(5.0)
    assert sample(1) == pytest.approx([800.0, 800.0])      # 0.2 / 0.25 of 1000 kW
    (rec,) = reloader.records
    assert [c.path for c in rec.applied] == ["$.grid.response[0].service.full_hz"]
    assert rec.step == 1 and rec.restart == [] and rec.reload_ms < 100.0
    assert type(ops.announced[-1]).__name__ == "ConfigReloaded"


def test_an_invalid_droop_is_rejected_and_the_response_stays(event):
    path, _, reloader, sample, _ = event
    assert sample(0) == pytest.approx([400.0, 400.0])
    _write(path, {**DROOP, "deadband_hz": 0.6})             # deadband beyond full_hz
    assert reloader.wait_staged(5.0)
    assert sample(1) == pytest.approx([400.0, 400.0])
    (rec,) = reloader.records
    assert rec.error is not None and "grid" in rec.error and "deadband_hz" in rec.error
