"""``vpp site --metrics-port``: a site process's own endpoint, scraped over loopback while
it runs, shows what it acknowledged to the aggregator."""

from __future__ import annotations

import socket

import pytest
from vpp.runs.ops.status import scrape
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import AfterEachStep, leftovers, small_scenario, start_site, stop_all

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_site_process_serves_its_metrics(tmp_path):
    path = small_scenario(tmp_path, steps=3)
    scenario = load(path)
    names = scenario.site_names()[:4]
    rest = scenario.site_names()[4:]
    out = tmp_path / "run"
    port = _free_port()
    procs = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", on_listening=lambda endpoint: procs.extend([
            start_site(path, endpoint, names, out, "--insecure", "--metrics-port", str(port)),
            start_site(path, endpoint, rest, out, "--insecure")]))
    seen = {}

    def progress(k):
        if k == 2:   # step 1 applied and acknowledged by every site
            seen["samples"] = scrape(f"tcp://127.0.0.1:{port}")

    try:
        agg = run_scenario(scenario, out, scenario_path=path, placement=placement,
                           hooks=[AfterEachStep(progress)]).run.fleet
    finally:
        stop_all(procs)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert leftovers() == []
    samples = seen["samples"]
    power = {lab["site"]: v for lab, v in samples["vpp_site_power_kw"]}
    assert set(power) == set(names)
    acked = agg.applied[1]
    assert power == {n: pytest.approx(acked[n].power_kw) for n in names}
    (host,) = {lab["host"] for lab, _ in samples["vpp_host_messages_sent_total"]}
    assert host.startswith("site-")
    handed = {lab["agent"]: v for lab, v in samples["vpp_agent_messages_in_total"]}
    # each site was handed at least a call for bids and an award in each of two steps
    assert all(handed[n] >= 2 * 2 for n in names), handed
