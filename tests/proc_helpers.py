"""Helpers for tests that start processes: small scenarios, and finding leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from vpp.runs.runner import AfterEachStep  # noqa: F401 (the tests import it from here)
from vpp.runs.scenario import DEFAULT_SCENARIO

ROOT = Path(__file__).resolve().parent.parent


def small_scenario(tmp_path: Path, steps: int = 6, **changes) -> Path:
    """The default scenario cut to ``steps`` steps, written where the test wants it."""
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["steps"] = steps
    data.update(changes)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def descendants(pid: int | None = None) -> list[int]:
    """Every live process descending from ``pid`` (default: this one), from /proc."""
    pid = os.getpid() if pid is None else pid
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z":  # a zombie is dead already; its parent only has to reap it
            continue
        parent_of[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent_of.items() if pp == p]
        found.extend(kids)
        frontier.extend(kids)
    return found


def start_site(scenario: Path, connect: str, sites: list[str], out: Path, *extra: str,
               ) -> subprocess.Popen:
    """``vpp site`` as a subprocess (this worktree's code)."""
    args = [sys.executable, "-m", "vpp.runs.cli", "site", str(scenario), "--connect", connect,
            "--out", str(out), *extra]
    for s in sites:
        args += ["--site", s]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop_all(procs: list[subprocess.Popen], timeout_s: float = 10.0) -> None:
    """Make sure none of ``procs`` is left running (kill what did not end in time)."""
    for p in procs:
        try:
            p.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


def alive(pids: list[int]) -> list[int]:
    """The processes of ``pids`` still running (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2] != "Z":
            out.append(pid)
    return out


def wait_for(check, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``check()`` until it is true or ``timeout_s`` passed."""
    import time

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(interval_s)
    return bool(check())


def cmdline(pid: int) -> str:
    """A process's command line ('' when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def leftovers() -> list[str]:
    """Descendants of this process other than multiprocessing's fork server and resource
    tracker (shared by later runs in this process, they end with it): what a test that
    started processes must not leave behind."""
    left = [cmdline(p) for p in descendants()]
    return [c for c in left if "multiprocessing.forkserver" not in c
            and "multiprocessing.resource_tracker" not in c]


def listening_placement(bind: str, **kwargs):
    """A :class:`~vpp.runs.placement.remote.RemotePlacement` whose fleet is returned as
    soon as it listens, without waiting for any site: ``build_run`` then gives the run
    (its aggregator, its fleet) before a site has joined, and the test drives the
    joining (``run.fleet.loop``, ``run.fleet.wait_for_sites()``)."""
    from vpp.runs.placement.remote import RemoteFleet, RemotePlacement

    class Listening(RemotePlacement):
        def open(self, scenario, context, sites):
            self.fleet = RemoteFleet(scenario, context, self)
            return self.fleet

    return Listening(bind, **kwargs)
