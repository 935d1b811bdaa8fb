"""The runner and the run record: one step loop, a manifest, tables streamed with time."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from vpp.runs import modes
from vpp.runs.modes import Mode, RunContext, StepRecord
from vpp.runs.placement.local import LocalPlacement
from vpp.runs.record import read_manifest
from vpp.runs.runner import Runner

START = datetime(2019, 1, 16, tzinfo=timezone.utc)


class Doc(msgspec.Struct):
    name: str
    steps: int
    fail_at: int = -1


class _Run:
    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.steps = doc.steps
        self.hosts = []
        self.closed = False
        self.energy = 0.0

    def step_time(self, k):
        return START + timedelta(minutes=15 * k)

    def step(self, k):
        if k == self.doc.fail_at:
            raise RuntimeError(f"step {k} broke")
        self.energy += 10.0 * k * 0.25
        return StepRecord({"target_kw": 10.0 * k, "served_kw": 10.0 * k},
                          [{"site": "a", "power_kw": 4.0 * k}, {"site": "b", "power_kw": 6.0 * k}])

    def summary(self):
        return {"served_kwh": self.energy}

    def close(self):
        self.closed = True


class CountingMode(Mode):
    name = "counting"
    title = "a test mode"

    def applies(self, scenario):
        return isinstance(scenario, Doc)

    def build(self, scenario, context):
        context.meta["built_by"] = "counting"
        self.last = _Run(scenario)
        return self.last


class Hook:
    def __init__(self):
        self.calls = []

    def before_step(self, k):
        self.calls.append(("before", k))

    def after_step(self, k):
        self.calls.append(("after", k))

    def summary(self):
        return {"hook_steps": len(self.calls) // 2}

    def close(self):
        self.closed = True


def test_a_run_writes_its_manifest_tables_with_time_and_summary(tmp_path):
    mode = CountingMode()
    hook = Hook()
    seen = []
    context = RunContext(tmp_path / "run", 7, None, LocalPlacement())
    result = Runner(mode, Doc("toy", 4), context, hooks=[hook],
                    progress=lambda done, total: seen.append((done, total))).run()
    assert mode.last.closed
    assert hook.calls == [(w, k) for k in range(4) for w in ("before", "after")]
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # 10 kW x k over a quarter hour each: 0 + 2.5 + 5 + 7.5
    assert result.summary["served_kwh"] == pytest.approx(15.0)
    assert result.summary["hook_steps"] == 4 and result.summary["mode"] == "counting"
    manifest = read_manifest(tmp_path / "run")
    assert (manifest.mode, manifest.placement, manifest.seed, manifest.status) == (
        "counting", "local", 7, "finished")
    assert manifest.scenario == {"name": "toy", "steps": 4, "fail_at": -1}
    assert manifest.details == {"built_by": "counting", "trace": "full"}  # the trace level
    assert "msgspec" in manifest.versions
    with open(tmp_path / "run" / "steps.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[1]["time"] == "2019-01-16T00:15:00+00:00" and rows[3]["served_kw"] == "30.0"
    with open(tmp_path / "run" / "sites.csv") as f:
        sites = list(csv.DictReader(f))
    assert list(sites[0]) == ["step", "time", "site", "power_kw"]
    assert [(s["step"], s["site"], s["power_kw"]) for s in sites[-2:]] == [
        ("3", "a", "12.0"), ("3", "b", "18.0")]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["served_kwh"] == 15.0


def test_a_failed_run_keeps_its_finished_steps_and_says_why(tmp_path):
    mode = CountingMode()
    with pytest.raises(RuntimeError, match="step 2 broke"):
        Runner(mode, Doc("toy", 5, fail_at=2), RunContext(tmp_path, 0, None, LocalPlacement())).run()
    assert mode.last.closed
    manifest = read_manifest(tmp_path)
    assert manifest.status == "failed" and manifest.error == "RuntimeError: step 2 broke"
    with open(tmp_path / "steps.csv") as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["0", "1"]
    assert not (tmp_path / "summary.json").exists()


def test_the_registry_selects_registered_modes_and_names_the_known_ones():
    mode = modes.register(CountingMode())
    try:
        assert modes.get("counting") is mode
        assert modes.select(Doc("toy", 1)) is mode
        assert "counting" in modes.names()
        with pytest.raises(modes.UnknownModeError, match="no run mode named 'nope'.*counting"):
            modes.get("nope")
    finally:
        modes.unregister("counting")
    with pytest.raises(modes.UnknownModeError, match="no run mode applies"):
        modes.select(Doc("toy", 1))
