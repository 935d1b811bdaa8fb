"""Hot reload of a live grid event run as ``vpp run GRID.yaml --watch --pace 1``: a droop
edited mid-event applies from the next frequency sample, an invalid edit is rejected with
the field named and the response goes on unchanged, and both are in the trace."""

from __future__ import annotations

import csv
import json
import os
import threading
import time

import pytest
import yaml
from typer.testing import CliRunner
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.cli import app

DROOP = {"type": "droop", "f0_hz": 50.0, "deadband_hz": 0.0, "full_hz": 0.5}
PERIOD_S, DURATION_S = 0.1, 6.0


def _scenario(droop: dict) -> dict:
    return {
        "name": "droop-live", "start": "2019-06-21T11:00:00Z", "steps": 1,
        "target": {"values_kw": [0]},
        "sites": [{"name": "bess", "count": 2, "devices": [
            {"type": "battery", "name": "pack", "capacity_kwh": 4000, "p_charge_kw": 1000,
             "p_discharge_kw": 1000, "state_of_charge": 0.5}]}],
        "grid": {"f0_hz": 50, "sample_period_s": PERIOD_S, "duration_s": DURATION_S,
                 "replay": {"csv": "flat.csv", "time_column": "t", "frequency_column": "f",
                            "time_format": "%H:%M:%S"},
                 "response": [{"sites": ["bess-*"], "service": droop}]},
    }


def _write(path, droop):
    """Save as an editor does (a whole new file put in place), so that the watcher never
    reads a half-written one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(_scenario(droop), sort_keys=False))
    os.replace(tmp, path)


def test_a_live_grid_event_takes_a_droop_edit_and_refuses_a_bad_one(tmp_path):
    # a recording 0.2 Hz low for a minute (open loop): 0.2 / 0.5 of 1000 kW per site
    with (tmp_path / "flat.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "f"])
        w.writerows([[f"11:00:{s:02d}", 49.8] for s in range(60)])
    path = tmp_path / "grid.yaml"
    _write(path, DROOP)
    run_dir = tmp_path / "run"
    got: dict = {}

    def run() -> None:
        got["result"] = CliRunner().invoke(app, [
            "run", str(path), "--watch", "--pace", "1", "--no-plot", "--out", str(run_dir)])

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    # the trace's shards appear as the event is wired, just before the file is watched
    deadline = time.monotonic() + 30
    while not list((run_dir / "trace").glob("*.sqlite")) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.0)                                  # about sample 10 of 60
    _write(path, {**DROOP, "full_hz": 0.25})
    time.sleep(1.5)
    _write(path, {**DROOP, "deadband_hz": 0.6})      # beyond full_hz: invalid
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert time.monotonic() - started >= DURATION_S  # it was paced at wall-clock speed
    result = got["result"]
    assert result.exit_code == 0, result.output

    summary = json.loads((run_dir / "summary.json").read_text())
    applied, rejected = summary["reload"]["records"]
    assert applied["applied"] == ["$.grid.response[0].service.full_hz"]
    assert applied["error"] is None   # (its speed is `vpp bench ops`, not a test's)
    assert "deadband_hz" in rejected["error"] and "grid.yaml" in rejected["error"]
    k = applied["from_sample"]
    assert 1 <= k < rejected["from_sample"] <= int(DURATION_S / PERIOD_S)
    with (run_dir / "timeline.csv").open() as fh:
        response = [float(r["response_kw"]) for r in csv.DictReader(fh)]
    # two sites: 400 kW each up to the edit, 800 kW each from the next sample to the end
    # (the rejected edit changed nothing)
    assert response[:k] == pytest.approx([800.0] * k)
    assert response[k:] == pytest.approx([1600.0] * (len(response) - k))
    assert "reload 1 from sample" in result.output and "rejected" in result.output

    reader = TraceReader(run_dir)
    try:
        reloaded = reader.messages(kind="ConfigReloaded", direction="send")
        refused = reader.messages(kind="ReloadRejected", direction="send")
    finally:
        reader.close()
    assert len(reloaded) == 1 and reloaded[0].body["from_step"] == k
    assert reloaded[0].body["applied"][0][:3] == ["$.grid.response[0].service.full_hz",
                                                    0.5, 0.25]
    assert len(refused) == 1 and "deadband_hz" in refused[0].body["error"]
