"""Regions on other machines: ``vpp aggregator --region NAME --parent tcp://...`` joins the
root (``vpp aggregator`` of a ``topology:`` scenario) over TCP; the tables equal the
one-process run's; a region process SIGKILLed is named lost and its sites' energy
unserved; bad options are refused naming the option; the root admits whole regions
only."""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import vpp.runs
import yaml
from typer.testing import CliRunner
from vpp.coordination.hierarchy.topology import build_topology
from vpp.runs import api
from vpp.runs.cli import app
from vpp.runs.modes.hierarchy.merit_remote import region_subtree, whole_regions
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.runner import AfterEachStep
from vpp.runs.scenario import parse

from tests.hierarchy.test_merit_processes import FAST, _full_capacity_fleet
from tests.proc_helpers import ROOT, leftovers, stop_all

pytestmark = pytest.mark.timeout(180)

SCENARIOS = Path(vpp.runs.__file__).parent / "scenarios"
FAST_OPTIONS = ("--heartbeat-ms", "100", "--timeout-ms", "600")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _regions_scenario(tmp_path: Path, steps: int = 4) -> Path:
    """The bundled regions scenario under two regions, cut to ``steps`` steps."""
    data = yaml.safe_load((SCENARIOS / "regions.yaml").read_text())
    data.update(steps=steps, topology={"regions": 2})
    path = tmp_path / "two-regions.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def vpp_cli(*args: str, netns: str | None = None) -> subprocess.Popen:
    """``vpp ARGS`` as a subprocess of this worktree's code (in network namespace
    ``netns`` when given)."""
    cmd = [sys.executable, "-m", "vpp.runs.cli", *args]
    if netns is not None:
        cmd = ["ip", "netns", "exec", netns, *cmd]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def start_region(scenario: Path, region: str, parent: str, out: Path, *extra: str,
                 netns: str | None = None) -> subprocess.Popen:
    """A region process: ``vpp aggregator SCENARIO --region REGION --parent PARENT``."""
    return vpp_cli("aggregator", str(scenario), "--region", region, "--parent", parent,
                   "--insecure", "--out", str(out), *extra, netns=netns)


def tables(run_dir: Path) -> dict[str, bytes]:
    """The run's per-step and per-site tables, as bytes."""
    return {n: (run_dir / n).read_bytes() for n in ("steps.csv", "sites.csv")}


def test_a_root_and_two_region_processes_over_tcp_give_the_one_process_tables(tmp_path):
    path = _regions_scenario(tmp_path)
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    root = vpp_cli("aggregator", str(path), "--bind", endpoint, "--insecure", "--out",
                   str(tmp_path / "root"), "--json", "--join-timeout-s", "60")
    regions = [start_region(path, r, endpoint, tmp_path / r) for r in ("region-1", "region-2")]
    try:
        out, err = root.communicate(timeout=120)
    finally:
        stop_all([root, *regions])
    assert root.returncode == 0, err.decode()[-2000:]
    assert [p.returncode for p in regions] == [0, 0], [p.stderr.read() for p in regions]
    summary = yaml.safe_load(out.decode().strip().splitlines()[-1])
    assert summary["processes"] == 2 and summary["lost_sites"] == []
    assert summary["dropped"] == 0 and summary["refused_registrations"] == 0
    joined = {e["host"]: e["sites"] for e in summary["liveness_events"]
              if e["event"] == "joined"}
    scenario = parse(yaml.safe_load(path.read_text()), "<t>")
    tree = build_topology(scenario.topology, scenario.site_names())
    assert joined == {r: list(tree.sites_under(r)) for r in ("region-1", "region-2")}
    api.run(path, out=tmp_path / "one")
    assert tables(tmp_path / "root") == tables(tmp_path / "one")
    assert leftovers() == []


def test_a_region_process_killed_is_named_lost_and_its_sites_unserved(tmp_path):
    steps, kill_after = 7, 3
    data = _full_capacity_fleet(steps)
    data["topology"] = {"regions": 2}
    path = tmp_path / "kill.yaml"
    path.write_text(yaml.safe_dump(data))
    scenario = parse(data, str(path))
    tree = build_topology(scenario.topology, scenario.site_names())
    procs: list[subprocess.Popen] = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", settings=FAST, join_timeout_s=60,
        on_listening=lambda endpoint: procs.extend(
            start_region(path, r, endpoint, tmp_path / r, *FAST_OPTIONS, "--grace-s", "0.6")
            for r in ("region-1", "region-2")))

    def progress(done: int) -> None:
        if done == kill_after:  # steps 0-2 with everyone; then region-2's process dies
            os.kill(procs[1].pid, signal.SIGKILL)

    try:
        result = api.run(scenario, out=tmp_path / "run", placement=placement,
                         hooks=[AfterEachStep(progress)])
    finally:
        stop_all(procs)
    summary = result.summary
    lost = list(tree.sites_under("region-2"))
    assert lost == ["g5", "g6", "g7", "g8"]
    assert summary["lost_sites"] == lost
    assert ("lost", "region-2", lost) in [(e["event"], e["host"], e["sites"])
                                          for e in summary["liveness_events"]]
    assert procs[0].returncode == 0 and procs[1].returncode == -signal.SIGKILL
    p_max = {f"g{i}": 100.0 + 10 * i for i in range(9)}
    with (tmp_path / "run" / "steps.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == steps
    for k, row in enumerate(rows):
        unserved = float(row["unserved_kw"])
        assert unserved == (0.0 if k < kill_after
                            else pytest.approx(sum(p_max[s] for s in lost))), (k, row)
    for o in result.run.aggregator.outcomes:  # the energy balances every step
        assert o.served_kw + o.unserved_kw == pytest.approx(o.target_kw)
    assert leftovers() == []


runner = CliRunner()


@pytest.mark.parametrize(("args", "message"), [
    (["--region", "region-9", "--parent", "tcp://127.0.0.1:5555"],
     r"--region region-9: not a region of the topology .*region-1, region-2"),
    (["--region", "east", "--parent", "tcp://127.0.0.1:5555"],
     (r"--region east: a nested region \(under 'a'\) runs in its top region's process: "
      r"give --region a")),
    (["--region", "a", "--parent", "127.0.0.1:5555"], r"--parent '127.0.0.1:5555'"),
    (["--region", "a", "--parent", "tcp://127.0.0.1:*"], r"--parent 'tcp://127.0.0.1:\*'"),
    (["--region", "a", "--parent", "tcp://host:99999"], r"--parent 'tcp://host:99999'"),
    (["--region", "a"], r"--parent: give the root's address"),
    (["--parent", "tcp://127.0.0.1:5555"], r"--region: give the region"),
    (["--region", "a", "--parent", "tcp://127.0.0.1:5555", "--bind", "tcp://*:1"],
     r"--bind tcp://\*:1: a region process does not listen"),
    (["--region", "a", "--parent", "tcp://127.0.0.1:5555"],
     r"--parent tcp://127\.0\.0\.1:5555: plaintext TCP needs --insecure"),
    ([], r"--bind: give where to listen"),
    (["--region", "a", "--parent", "ipc:///tmp/x", "--host-name", "agg"],
     r"--host-name: 'agg' is the root's own host name"),
    (["--region", "a", "--parent", "tcp://127.0.0.1:5555", "--min-sites", "2"],
     r"--min-sites: an option of the root .* not of a region process"),
    (["--bind", "tcp://127.0.0.1:5555", "--server-key", "x.key"],
     r"--server-key: an option of a region process; give --region NAME"),
])
def test_bad_region_options_are_refused_naming_the_option(tmp_path, args, message):
    data = _full_capacity_fleet(2)
    data["topology"] = {"regions": [{"name": "a", "sites": ["g0"]},
                                    {"name": "east", "parent": "a", "sites": ["g1", "g2"]},
                                    {"name": "b", "sites": ["g3", "g4"]}],
                        "site_regions": {f"g{i}": "b" for i in range(5, 9)}}
    path = tmp_path / "nested.yaml"
    path.write_text(yaml.safe_dump(data))
    if "region-9" in args:  # a generated topology's names, listed in the message
        data["topology"] = {"regions": 2}
        path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["aggregator", str(path), *args])
    assert result.exit_code not in (0, None)
    text = " ".join((result.output + str(getattr(result, "stderr", ""))).split())
    assert re.search(message, text), text


def test_the_root_admits_whole_top_level_regions_only():
    data = _full_capacity_fleet(1)
    data["topology"] = {"regions": [{"name": "a", "sites": ["g0"]},
                                    {"name": "east", "parent": "a", "sites": ["g1", "g2"]},
                                    {"name": "b", "sites": ["g3", "g4"]}],
                        "site_regions": {"g5": "portfolio", "g6": "b", "g7": "b", "g8": "b"}}
    scenario = parse(data, "<t>")
    tree = build_topology(scenario.topology, scenario.site_names())
    assert region_subtree(tree, "a") == (["a", "east"], ["g0", "g1", "g2"])
    admit = whole_regions(tree)
    assert admit("h", ["g0", "g1", "g2"], ["a"]) is None
    assert admit("h", ["g0", "g1", "g2", "g5"], ["a"]) is None  # a site under the root too
    assert admit("h", ["g5"], []) is None  # a plain site process, for the root's own site
    assert "without its sites ['g2']" in admit("h", ["g0", "g1"], ["a"])
    assert "Register.sites: sites ['g3']" in admit("h", ["g3"], [])  # b's site, without b
    assert "Register.regions east: a nested region" in admit("h", ["g1", "g2"], ["east"])
    assert "Register.regions zz: not a region" in admit("h", ["g0"], ["zz"])


def test_region_processes_join_over_curve_under_their_keys_names(tmp_path):
    """With CURVE the root admits each region's key for the sites of its region only
    (``vpp keys allow --sites``); a region process's host takes its key's name; a key
    granted too few sites of its region is refused, saying which."""
    path = _regions_scenario(tmp_path, steps=2)
    scenario = parse(yaml.safe_load(path.read_text()), "<t>")
    tree = build_topology(scenario.topology, scenario.site_names())
    keys, allowed = tmp_path / "keys", tmp_path / "keys" / "allowed"
    for name in ("agg", "east", "west"):
        assert runner.invoke(app, ["keys", "new", name, "--dir", str(keys)]).exit_code == 0
    for name, region in (("east", "region-1"), ("west", "region-2")):
        sites = ",".join(tree.sites_under(region))
        assert runner.invoke(app, ["keys", "allow", str(keys / f"{name}.key"), "--sites",
                                   sites, "--allow-dir", str(allowed)]).exit_code == 0
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    root = vpp_cli("aggregator", str(path), "--bind", endpoint, "--key",
                   str(keys / "agg.key_secret"), "--allow-dir", str(allowed), "--out",
                   str(tmp_path / "root"), "--json", "--join-timeout-s", "60")

    def region(name: str, region: str) -> subprocess.Popen:
        return vpp_cli("aggregator", str(path), "--region", region, "--parent", endpoint,
                       "--key", str(keys / f"{name}.key_secret"), "--server-key",
                       str(keys / "agg.key"), "--out", str(tmp_path / name))

    # west's key is not granted region-1's sites: refused with the reason, exit code 2
    wrong = region("west", "region-1")
    regions: list[subprocess.Popen] = []
    try:
        _, wrong_err = wrong.communicate(timeout=60)
        regions += [region("east", "region-1"), region("west", "region-2")]
        out, err = root.communicate(timeout=120)
    finally:
        stop_all([root, wrong, *regions])
    assert wrong.returncode == 2 and "chp-north" in wrong_err.decode(), wrong_err.decode()
    assert root.returncode == 0, err.decode()[-2000:]
    assert [p.returncode for p in regions] == [0, 0]
    summary = yaml.safe_load(out.decode().strip().splitlines()[-1])
    joined = {e["host"] for e in summary["liveness_events"] if e["event"] == "joined"}
    assert joined == {"east", "west"} and summary["lost_sites"] == []
    assert summary["refused_registrations"] >= 1  # (each Register it sent before it heard)
    assert (tmp_path / "root" / "trace" / "east.sqlite").exists()
    assert leftovers() == []


def test_a_region_that_joins_after_the_start_is_served_from_then_on(tmp_path):
    """``--min-sites``: the root starts with region-1 only; region-2's sites are absent
    (unserved, not called) until its process joins, and served from the next step."""
    steps = 6
    data = _full_capacity_fleet(steps)
    data["topology"] = {"regions": 2}
    path = tmp_path / "late.yaml"
    path.write_text(yaml.safe_dump(data))
    scenario = parse(data, str(path))
    tree = build_topology(scenario.topology, scenario.site_names())
    first, late = list(tree.sites_under("region-1")), list(tree.sites_under("region-2"))
    procs: list[subprocess.Popen] = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", settings=FAST, join_timeout_s=8.0, min_sites=len(first),
        on_listening=lambda endpoint: procs.append(
            start_region(path, "region-1", endpoint, tmp_path / "r1", *FAST_OPTIONS)))
    joined_before: list[int] = []

    def progress(done: int) -> None:
        if done == 2:  # steps 0-1 without region-2; it joins before step 2
            fleet = placement.fleet
            procs.append(start_region(path, "region-2", fleet.endpoint, tmp_path / "r2",
                                      *FAST_OPTIONS))
            assert fleet.loop.run_until(
                lambda: len(fleet.coordinator.joined()) == len(tree.sites), 60)
            joined_before.append(done)

    try:
        result = api.run(scenario, out=tmp_path / "run", placement=placement,
                         hooks=[AfterEachStep(progress)])
    finally:
        stop_all(procs)
    assert joined_before == [2]
    assert result.summary["absent_sites"] == late and result.summary["lost_sites"] == []
    p_max = {f"g{i}": 100.0 + 10 * i for i in range(9)}
    with (tmp_path / "run" / "steps.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    with (tmp_path / "run" / "sites.csv").open(newline="") as f:
        sites = list(csv.DictReader(f))
    for k, row in enumerate(rows):
        assert row["silent"] == "", row
        assert float(row["unserved_kw"]) == (pytest.approx(sum(p_max[s] for s in late))
                                             if k < 2 else 0.0), (k, row)
    for row in sites:  # everyone at full output once there; region-2 from step 2 on
        assert float(row["power_kw"]) == p_max[row["site"]], row
    assert {r["site"] for r in sites if int(r["step"]) < 2} == set(first)
    assert {r["site"] for r in sites if int(r["step"]) >= 2} == set(p_max)
    assert [p.returncode for p in procs] == [0, 0]
    assert leftovers() == []
