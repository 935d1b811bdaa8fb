"""Issue 15's acceptance line: the default scenario run twice with the same seed, once on
an idle machine and once with both cores busy, gives byte-identical ``steps.csv`` and
``sites.csv`` and the same traced message sequence (wall-clock columns aside).

Each run goes through the command (``vpp run SCENARIO --out DIR --seed N --no-plot``) in
a process of its own. Besides the plain default scenario, a variant (half the day) makes
deadlines matter: a 5 ms negotiation deadline, one site whose bids take 20 ms of wall time
(more than the deadline: on wall timers it would be declared silent, and how often would depend
on the load) and one that never answers every fourth call (it is silent, and its deadline
fires at the same simulated instant every time); and an ADMM run in which forced outages
silence sites, dropped at the round deadline.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
import vpp.runs
from vpp.agents.runtime.trace_reader import TraceReader

SCENARIOS = Path(vpp.runs.__file__).parent / "scenarios"
DEFAULT_SCENARIO = SCENARIOS / "default.yaml"
PROFILE_CSV = "bundled:de_lu_2019_hourly_price_load_wind_solar.csv"
SEED = 7

PLUGIN = '''
import time

from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.strategies import MarginalCostBidder


class SlowBidder(MarginalCostBidder):
    """Bids at marginal cost after ``work_s`` wall seconds (a slow site)."""

    def __init__(self, work_s):
        super().__init__()
        self.work_s = work_s

    def bid(self, call, offers):
        time.sleep(self.work_s)
        return super().bid(call, offers)


class MuteBidder(MarginalCostBidder):
    """Never answers the call of every ``every``-th step (a silent site)."""

    def __init__(self, every):
        super().__init__()
        self.every = every

    def bid(self, call, offers):
        if call.step % self.every == 0:
            raise ProtocolError(f"mute at step {call.step}")
        return super().bid(call, offers)
'''


def _default(tmp_path: Path) -> Path:
    return DEFAULT_SCENARIO


def _deadlines(tmp_path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["name"] = "default-deadlines"
    data["target"]["profile"]["csv"] = PROFILE_CSV
    data["steps"] = 48
    data["negotiation"]["deadline_ms"] = 5
    by_name = {s["name"]: s for s in data["sites"]}
    by_name["hydro"]["strategy"] = {"use": "timer_bidders:SlowBidder",
                                    "params": {"work_s": 0.02}}
    by_name["biogas"]["strategy"] = {"use": "timer_bidders:MuteBidder", "params": {"every": 4}}
    by_name["chp-north"]["outage_probability"] = 0.1
    path = tmp_path / "default-deadlines.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _admm(tmp_path: Path) -> Path:
    data = yaml.safe_load((SCENARIOS / "admm.yaml").read_text())
    data["name"] = "admm-outages"
    data["target"]["profile"]["csv"] = PROFILE_CSV
    data["steps"] = 8
    data["admm"]["window_steps"] = 4
    for site in data["sites"][:4]:
        site["outage_probability"] = 0.3
    path = tmp_path / "admm-outages.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(scenario: Path, out: Path, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(cwd), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run(
        [sys.executable, "-m", "vpp.runs.cli", "run", str(scenario), "--out", str(out),
         "--seed", str(SEED), "--no-plot", "--allow-plugins"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _busy_cores(n: int = 2) -> list[subprocess.Popen]:
    """``n`` processes that spin until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _header(path: Path) -> list[str]:
    with path.open(newline="") as f:
        return next(csv.reader(f))


def _table(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV's header and rows without the columns whose name says they are wall time."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    keep = [i for i, name in enumerate(rows[0]) if "wall" not in name.lower()]
    return [rows[0][i] for i in keep], [[r[i] for i in keep] for r in rows[1:]]


def _messages(run: Path) -> list[tuple]:
    reader = TraceReader(run)
    try:
        return [(m.host, m.direction, m.kind, m.sender, m.receiver, m.conversation, m.round,
                 m.sim_time, m.size, repr(m.body), m.error) for m in reader.messages()]
    finally:
        reader.close()


@pytest.mark.parametrize("make", [_default, _deadlines, _admm],
                         ids=["default", "default-deadlines", "admm-outages"])
def test_a_run_is_the_same_on_an_idle_and_on_a_loaded_machine(make, tmp_path):
    (tmp_path / "timer_bidders.py").write_text(PLUGIN)
    scenario = make(tmp_path)
    _run(scenario, tmp_path / "idle", tmp_path)
    busy = _busy_cores()
    try:
        _run(scenario, tmp_path / "loaded", tmp_path)
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()
    idle, loaded = tmp_path / "idle", tmp_path / "loaded"
    for name in ("steps.csv", "sites.csv"):
        header, rows = _table(idle / name)
        assert rows and _table(loaded / name) == (header, rows), name
        if not any("wall" in h.lower() for h in _header(idle / name)):
            assert (idle / name).read_bytes() == (loaded / name).read_bytes(), name
    sent = _messages(idle)
    assert sent and _messages(loaded) == sent
    if make is _deadlines:
        _assert_deadlines_fired_on_simulated_time(idle, sent)
    if make is _admm:
        _assert_silent_sites_were_dropped(idle)


def _assert_deadlines_fired_on_simulated_time(run: Path, messages: list[tuple]) -> None:
    """The mute site was silent every fourth step, and the awards of those steps went out
    at the step's start plus the 5 ms deadline exactly; the slow site, four times slower
    than that deadline in wall time, was never silent."""
    reader = TraceReader(run)
    try:
        steps = reader.steps()
    finally:
        reader.close()
    window_s = 15 * 60.0
    assert len(steps) == 48
    for step in steps:
        k = step["step"]
        silent = set(step["silent"])
        assert ("sites/biogas" in silent) == (k % 4 == 0), (k, silent)
        assert "sites/hydro" not in silent, k
        awards = [m for m in messages if m[1] == "send" and m[2] == "Award"
                  and m[5] == f"merit-order/{k}" and m[6] == 1]
        start = k * window_s
        expected = start + 0.005 if k % 4 == 0 else start
        assert awards and {m[7] for m in awards} == {expected}, (k, {m[7] for m in awards})


def _assert_silent_sites_were_dropped(run: Path) -> None:
    """Some negotiations lost tripped sites at the first round's deadline: their later
    rounds went out at the window's start plus the 2 s deadline exactly, the others' at
    the window's start."""
    reader = TraceReader(run)
    try:
        steps = {s["step"]: s for s in reader.steps()}
        rounds = reader.messages(kind="AdmmRound", direction="send")
    finally:
        reader.close()
    negotiations = [k for k in steps if k % 4 == 0]
    assert any(steps[k]["silent"] for k in negotiations)
    assert not all(steps[k]["silent"] for k in negotiations)
    for k in negotiations:
        later = {m.sim_time for m in rounds if m.conversation == f"admm/{k}" and m.round >= 1}
        start = k * 3600.0
        assert later == {start + 2.0 if steps[k]["silent"] else start}, (k, later)
