"""Metrics: the Prometheus endpoint, scraped over loopback, agrees with the trace."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.cli import app
from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs import modes
from vpp.runs.modes.base import RunContext
from vpp.runs.ops.hooks import ops_hooks
from vpp.runs.placement.local import LocalPlacement
from vpp.runs.runner import Runner
from vpp.runs.scenario import load

from tests.ops.helpers import write_small
from tests.proc_helpers import AfterEachStep


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture(scope="module")
def live_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    path = write_small(tmp / "s.yaml")
    scenario = load(path)
    got = {}

    def after_three(k):
        if k != 3:
            return
        model, live = got["run"], got["hooks"][-1]
        model.fleet.trace.sync()
        got["scraped"] = _scrape(live.port)
        cli = CliRunner().invoke(app, ["status", f"tcp://127.0.0.1:{live.port}", "--json"])
        assert cli.exit_code == 0, cli.output
        got["shown"] = json.loads(cli.output)

    def built(run):
        got["run"] = run
        got["hooks"] = ops_hooks(run, scenario, metrics=OpsMetrics(), out_dir=tmp / "run",
                                 metrics_port=0)
        return [*got["hooks"], AfterEachStep(after_three)]  # after the step is timed

    context = RunContext(tmp / "run", scenario.seed, path, LocalPlacement())
    rest = Runner(modes.select(scenario), scenario, context, on_built=built).run().summary
    return got["run"], got["scraped"], rest, tmp / "run", got["shown"]


def test_scraped_message_counts_match_the_trace_both_ways(live_run):
    model, scraped, _, run_dir, _ = live_run
    reader = TraceReader(run_dir)
    rows = reader.messages()
    reader.close()
    sent = Counter(r.sender for r in rows if r.direction == "send" and r.wall_ns)
    recv = Counter(r.receiver for r in rows if r.direction == "recv")
    # after 3 steps the scrape is a prefix of the whole run: recompute the 3-step trace
    three = [r for r in rows if r.conversation in ("merit-order/0", "merit-order/1",
                                                     "merit-order/2")]
    sent3 = Counter(r.sender for r in three if r.direction == "send")
    recv3 = Counter(r.receiver for r in three if r.direction == "recv")
    assert sum(sent3.values()) > 0
    for address in ("agg/aggregator", "sites/chp", "sites/bess"):
        host, _, agent = address.partition("/")
        role = model.fleet.host.agents.get(agent) or model.fleet.site_host.agents[agent]
        labels = tuple(sorted({"host": host, "agent": agent, "role": role.role}.items()))
        assert scraped[("vpp_agent_messages_out_total", labels)] == sent3[address]
        assert scraped[("vpp_agent_messages_in_total", labels)] == recv3[address]
    # what one side sent, the other received (nothing dropped)
    hosts = {h: scraped[("vpp_host_messages_sent_total", (("host", h),))]
             for h in ("agg", "sites")}
    assert hosts["agg"] == sum(v for k, v in sent3.items() if k.startswith("agg/"))
    received = sum(scraped[("vpp_host_messages_received_total", (("host", h),))]
                   for h in ("agg", "sites"))
    assert received == sum(recv3.values())
    # the whole run's totals agree with the whole trace too
    assert model.fleet.host.stats.sent + model.fleet.site_host.stats.sent == sum(sent.values())
    assert (model.fleet.host.stats.received + model.fleet.site_host.stats.received
            == sum(recv.values()))


def test_negotiation_and_site_figures_are_exported(live_run):
    model, scraped, _, _, shown = live_run
    assert scraped[("vpp_steps_total", ())] == 3
    rounds3 = sum(o.rounds for o in model.aggregator.outcomes[:3])
    assert scraped[("vpp_negotiation_rounds_total", ())] == rounds3
    assert scraped[("vpp_step_negotiation_seconds_count", ())] == 3
    soc = scraped[("vpp_site_state_of_charge", (("device", "pack"), ("site", "bess")))]
    assert 0.0 <= soc <= 1.0
    assert scraped[("vpp_target_kw", ())] == 300.0
    assert scraped[("process_resident_memory_bytes", ())] > 10 * 2**20
    # vpp status shows the same figures (a local run has no site processes)
    assert shown["steps"] == 3 and shown["negotiation_rounds"] == rounds3
    assert shown["hosts"]["agg"]["sent"] == scraped[("vpp_host_messages_sent_total",
                                                     (("host", "agg"),))]
    assert shown["sites"] == [] and shown["process_rss_mib"] > 10


def test_the_run_ends_with_a_metrics_summary(live_run):
    model, _, summary, run_dir, _ = live_run
    m = summary["metrics"]
    assert m["hosts"]["agg"]["sent"] == model.fleet.host.stats.sent
    assert m["hosts"]["sites"]["received"] == model.fleet.site_host.stats.received
    assert m["step_s_p50"] > 0 and m["step_s_max"] >= m["step_s_p50"]
    written = json.loads((run_dir / "summary.json").read_text())
    assert written["metrics"]["hosts"] == m["hosts"]
    snap = json.loads((run_dir / "metrics.json").read_text())
    assert snap["vpp_steps_total"][0]["value"] == 8
