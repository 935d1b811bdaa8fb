"""``vpp aggregator --metrics-port`` serves its metrics from the moment it listens: while
the sites join, ``vpp status`` shows each of them waiting, then up; the run's summary
still carries the whole run's metrics."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest
from vpp.runs.ops.status import scrape, status

from tests.proc_helpers import ROOT, small_scenario, start_site, stop_all, wait_for

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_status_shows_the_sites_waiting_before_they_join_then_up(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    port = _free_port()
    out = tmp_path / "run"
    agg = subprocess.Popen(
        [sys.executable, "-m", "vpp.runs.cli", "aggregator", str(path), "--bind",
         f"tcp://127.0.0.1:{port}", "--insecure", "--metrics-port", "0", "--out", str(out),
         "--join-timeout-s", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = [agg]
    try:
        listening = agg.stdout.readline()
        assert "aggregator listening" in listening, listening
        announced = agg.stdout.readline()
        found = re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", announced)
        assert found, announced
        address = f"tcp://127.0.0.1:{found.group(1)}"
        seen = status(scrape(address))        # no site process started yet
        names = [s["site"] for s in seen["sites"]]
        assert len(names) == 14 and seen["sites_up"] == 0
        assert seen["sites_by_state"] == {"waiting": 14}
        first = start_site(path, f"tcp://127.0.0.1:{port}", names[:5], tmp_path / "s1",
                           "--insecure")
        procs.append(first)
        assert wait_for(lambda: status(scrape(address))["sites_up"] == 5, 30.0)
        seen = status(scrape(address))
        assert {s["site"]: s["state"] for s in seen["sites"]} == {
            **{n: "up" for n in names[:5]}, **{n: "waiting" for n in names[5:]}}
        procs.append(start_site(path, f"tcp://127.0.0.1:{port}", names[5:], tmp_path / "s2",
                                "--insecure"))
        agg.wait(timeout=60)
        assert agg.returncode == 0, agg.stderr.read()
    finally:
        stop_all(procs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["sites"] == 14
    assert summary["metrics"]["metrics_port"] == int(found.group(1))
    assert summary["metrics"]["hosts"]["agg"]["sent"] > 0
