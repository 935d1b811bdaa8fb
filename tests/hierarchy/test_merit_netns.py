"""A root and two regions in separate network namespaces over TCP (where the machine
allows it: root and iproute2, as in CI): the tables equal the one-process run's.

The test makes its own namespaces (a root's and one per region, unique names per run),
joins each region's to the root's by a veth pair with a /30 of a private /24, runs
``vpp aggregator`` in each with ``ip netns exec``, and deletes the namespaces (and with
them the veth pairs) however it ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
from vpp.runs import api

from tests.hierarchy.test_merit_remote import (
    _regions_scenario,
    start_region,
    tables,
    vpp_cli,
)
from tests.proc_helpers import stop_all

pytestmark = pytest.mark.timeout(90)

PORT = 5555  # in the root's own namespace: nothing else listens there


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root (os.geteuid() is not 0)"
    if shutil.which("ip") is None:
        return "network namespaces need `ip` (iproute2), not found on PATH"
    return None


class _IpFailed(RuntimeError):
    """An ``ip`` command that failed: the sandbox does not allow namespaces or veths."""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True,
                          timeout=15)
    if done.returncode != 0:
        raise _IpFailed(f"`ip {' '.join(args)}` failed ({done.returncode}): "
                        f"{done.stderr.strip()[:300]}")


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
def test_a_root_and_two_regions_in_network_namespaces_give_the_one_process_tables(tmp_path):
    tag = f"v{os.getpid() % 100000}{uuid.uuid4().hex[:3]}"  # interface names: <= 15 chars
    net = f"10.77.{os.getpid() % 250}"  # a private /24: a /30 per region
    root_ns, region_ns = f"{tag}r", [f"{tag}a", f"{tag}b"]
    made: list[str] = []
    procs: list[subprocess.Popen] = []
    path = _regions_scenario(tmp_path)
    try:
        try:
            for ns in (root_ns, *region_ns):
                _ip("netns", "add", ns)
                made.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            for i, ns in enumerate(region_ns):
                here, there = f"{tag}r{i}", f"{tag}x{i}"
                _ip("link", "add", here, "type", "veth", "peer", "name", there)
                _ip("link", "set", here, "netns", root_ns)
                _ip("link", "set", there, "netns", ns)
                _ip("-n", root_ns, "addr", "add", f"{net}.{4 * i + 1}/30", "dev", here)
                _ip("-n", ns, "addr", "add", f"{net}.{4 * i + 2}/30", "dev", there)
                _ip("-n", root_ns, "link", "set", here, "up")
                _ip("-n", ns, "link", "set", there, "up")
        except (_IpFailed, subprocess.TimeoutExpired, OSError) as exc:
            pytest.skip(f"cannot make network namespaces here: {exc}")
        root = vpp_cli("aggregator", str(path), "--bind", f"tcp://*:{PORT}", "--insecure",
                       "--out", str(tmp_path / "root"), "--json", "--join-timeout-s", "45",
                       netns=root_ns)
        procs.append(root)
        for i, (ns, region) in enumerate(zip(region_ns, ("region-1", "region-2"))):
            procs.append(start_region(path, region, f"tcp://{net}.{4 * i + 1}:{PORT}",
                                      tmp_path / region, netns=ns))
        out, err = root.communicate(timeout=60)
        stop_all(procs[1:], timeout_s=10)
        assert root.returncode == 0, err.decode()[-2000:]
        assert [p.returncode for p in procs[1:]] == [0, 0], [p.stderr.read() for p in procs]
        assert '"lost_sites": []' in out.decode() and '"processes": 2' in out.decode()
        api.run(path, out=tmp_path / "one")
        assert tables(tmp_path / "root") == tables(tmp_path / "one")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        for ns in made:  # the veth pairs go with their namespaces
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True,
                           timeout=15)
    listed = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True,
                            text=True, timeout=15).stdout
    assert not any(ns in listed for ns in made)
