"""vpp run --processes: warm fork server, the one-process answer, no orphans ever."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from vpp.runs.placement.processes import ProcessesPlacement
from vpp.runs.placement.spawn import deal
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import (
    ROOT,
    alive,
    cmdline,
    descendants,
    leftovers,
    small_scenario,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


def test_deal_keeps_scenario_order_in_blocks():
    groups = deal([f"s{i}" for i in range(7)], 3)
    assert [g.sites for g in groups] == [("s0", "s1", "s2"), ("s3", "s4"), ("s5", "s6")]
    assert [g.host for g in groups] == ["sites-1", "sites-2", "sites-3"]
    with pytest.raises(ValueError, match="between 1 and 7"):
        deal([f"s{i}" for i in range(7)], 8)


def test_eight_processes_give_the_one_process_dispatch(tmp_path):
    path = small_scenario(tmp_path, steps=4)
    local = run_scenario(load(path), tmp_path / "local", scenario_path=path).summary
    summary = run_scenario(load(path), tmp_path / "spawned", scenario_path=path,
                           placement=ProcessesPlacement(8)).summary
    assert summary["process_exit_codes"] == [0] * 8
    assert summary["processes"] == 8 and summary["lost_sites"] == []
    for key in ("served_kwh", "unserved_kwh", "cost_eur", "reserve_shortfall_kwh"):
        assert summary[key] == pytest.approx(local[key], abs=1e-9), key
    assert summary["rounds"] == local["rounds"] and summary["declines"] == local["declines"]
    # no site process remains; only multiprocessing's fork server and resource tracker
    # (shared by later runs, they end with this process)
    assert leftovers() == []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(tmp_path, processes=3, steps=1200):
    # one-minute steps: a run long enough (tens of seconds) that it is still negotiating
    # when the test signals it, however fast the machine
    path = small_scenario(tmp_path, steps=steps, step_minutes=1)
    parent = subprocess.Popen(
        [sys.executable, "-m", "vpp.runs.cli", "run", str(path), "--processes", str(processes),
         "--out", str(tmp_path / "run"), "--no-plot"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        # a shell runs background jobs with SIGINT ignored, and an ignored signal stays
        # ignored across exec (Python then installs no KeyboardInterrupt handler)
        preexec_fn=_default_sigint)
    # the fork server and the site processes are up once the site shards exist
    up = wait_for(lambda: len(list((tmp_path / "run" / "trace").glob("sites-*.sqlite")))
                  == processes, 60)
    family = descendants(parent.pid)
    assert up and len(family) >= processes + 1, parent.stderr.read() if not up else family
    return parent, family


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_to_the_parent_leaves_no_orphan(tmp_path, sig, code):
    parent, family = _start_run(tmp_path)
    parent.send_signal(sig)
    assert parent.wait(timeout=30) == code
    assert wait_for(lambda: not alive(family), 10), [cmdline(p) for p in alive(family)]


def test_a_killed_parent_leaves_no_orphan(tmp_path):
    parent, family = _start_run(tmp_path)
    parent.kill()  # SIGKILL: no teardown code runs in the parent
    assert parent.wait(timeout=10) == -signal.SIGKILL
    # the children see the parent pipe close (and the fork server's death signal)
    assert wait_for(lambda: not alive(family), 10), [cmdline(p) for p in alive(family)]
