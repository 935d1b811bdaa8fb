"""Trace levels (``--trace full|rounds|sample:N``): what each keeps, what it counts, what the
manifest, the readers and the explorer say of it."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections import Counter

import pytest
from vpp.agents.runtime.trace_level import parse_level, sample_sites
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.bench.swarm import bench_scenario
from vpp.runs.record.trace_level import FULL_UP_TO_MESSAGES, choose_level
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import parse

from tests.proc_helpers import ROOT

pytestmark = pytest.mark.timeout(240)

SITES, STEPS = 12, 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same generated scenario run at each level, in one process."""
    scenario = parse(bench_scenario(SITES, STEPS, seed=3), "<levels>")
    base = tmp_path_factory.mktemp("levels")
    return scenario, {level: run_scenario(scenario, base / level.replace(":", "-"),
                                          trace=level).out_dir
                      for level in ("full", "rounds", "sample:3")}


def _rows(run_dir):
    """Every message row, without its wall time: (host, direction, kind, sender,
    receiver, conversation, round, size, body, error)."""
    reader = TraceReader(run_dir)
    try:
        return [(r.host, r.direction, r.kind, r.sender, r.receiver, r.conversation, r.round,
                 r.size, json.dumps(r.body, sort_keys=True), r.error)
                for r in reader.messages()]
    finally:
        reader.close()


def _read(run_dir, what):
    reader = TraceReader(run_dir)
    try:
        return getattr(reader, what)()
    finally:
        reader.close()


def test_levels_parse_and_bad_ones_say_what_is_expected():
    assert [parse_level(t).text for t in ("full", "ROUNDS", "sample:7")] == [
        "full", "rounds", "sample:7"]
    for bad in ("sample:0", "sample:-1", "sample:x", "sample:", "foo", ""):
        with pytest.raises(ValueError, match="sample:N"):
            parse_level(bad)


def test_the_sample_is_evenly_spaced_and_the_same_for_the_same_seed():
    names = [f"s{i}" for i in range(100)]
    picked = sample_sites(names, 10, seed=5)
    idx = [names.index(n) for n in picked]
    assert idx == sorted(idx) and len(set(idx)) == 10
    assert [b - a for a, b in itertools.pairwise(idx)] == [10] * 9  # every 10th
    assert sample_sites(names, 10, seed=5) == picked
    assert any(sample_sites(names, 10, seed=s) != picked for s in range(6, 12))
    assert sample_sites(names[:4], 10, seed=5) == names[:4]


def test_the_default_is_full_up_to_the_stated_size_and_rounds_beyond():
    small = parse(bench_scenario(10, 4), "<small>")
    assert choose_level(None, small) == (parse_level("full"), None)
    steps = FULL_UP_TO_MESSAGES // (4 * 1000)  # 1,000 sites: 4 x 1,000 x 500 = 2,000,000
    at = parse(bench_scenario(1000, steps), "<at>")
    assert choose_level(None, at)[0].text == "full"
    big = parse(bench_scenario(1000, steps + 1), "<big>")
    level, notice = choose_level(None, big)
    assert level.text == "rounds" and "rounds" in notice and "--trace full" in notice
    assert choose_level("full", big) == (parse_level("full"), None)  # asked for: no notice


def test_rounds_keeps_no_message_but_every_round_step_and_table(runs):
    _, out = runs
    full, rounds = out["full"], out["rounds"]
    assert _rows(rounds) == [] and len(_rows(full)) > 4 * SITES * STEPS
    for what in ("rounds", "steps", "dispatch"):
        assert _read(rounds, what) == _read(full, what) != []
    for table in ("steps.csv", "sites.csv"):
        assert (rounds / table).read_bytes() == (full / table).read_bytes()
    # the counts stay right: every message counted, by kind and direction
    counts = _read(full, "message_counts")
    assert _read(rounds, "message_counts") == counts
    assert counts[("Bid", "send")] == SITES * STEPS
    assert _read(rounds, "unrecorded_counts") == counts
    assert json.loads((rounds / "manifest.json").read_text())["details"]["trace"] == "rounds"
    assert json.loads((full / "manifest.json").read_text())["details"]["trace"] == "full"


def test_sample_keeps_exactly_the_messages_of_the_sampled_sites(runs):
    scenario, out = runs
    manifest = json.loads((out["sample:3"] / "manifest.json").read_text())["details"]
    sampled = sample_sites(scenario.site_names(), 3, scenario.seed)
    assert manifest == {"trace": "sample:3", "trace_sampled": sampled, "trace_sites": SITES}
    left_out = set(scenario.site_names()) - set(sampled)

    def about_left_out(row):
        return any(a is not None and a.rpartition("/")[2] in left_out for a in row[3:5])

    full = _rows(out["full"])
    expected = Counter(r for r in full if not about_left_out(r))
    got = Counter(_rows(out["sample:3"]))
    assert got == expected
    # each sampled site's bids are there, a left-out site's are not
    senders = {r[3].rpartition("/")[2] for r in got if r[2] == "Bid"}
    assert senders == set(sampled)
    assert _read(out["sample:3"], "message_counts") == _read(out["full"], "message_counts")
    assert _read(out["sample:3"], "rounds") == _read(out["full"], "rounds")


def test_open_run_says_what_was_not_recorded(runs):
    import vpp

    _, out = runs
    full, rounds, sample = (vpp.open_run(out[k]) for k in ("full", "rounds", "sample:3"))
    assert full.trace_level["note"] is None and full.messages().attrs["trace_note"] is None
    assert rounds.trace_level["note"] == "messages not recorded at trace level rounds"
    frame = rounds.messages()
    assert len(frame) == 0 and frame.attrs["trace_note"] == rounds.trace_level["note"]
    assert sample.trace_level["note"] == f"sampled: 3 of {SITES} sites"
    assert len(sample.trace_level["sampled"]) == 3
    counts = rounds.message_counts.set_index(["kind", "direction"])
    assert counts.loc[("Bid", "send"), "total"] == SITES * STEPS
    assert counts.loc[("Bid", "send"), "recorded"] == 0
    sample_counts = sample.message_counts.set_index(["kind", "direction"])
    assert sample_counts.loc[("Bid", "send"), "recorded"] == 3 * STEPS


def test_the_explorer_shows_the_note_in_the_overview_and_a_step(runs, tmp_path):
    from vpp.runs.explorer.app import view_data
    from vpp.runs.explorer.export import export_html
    from vpp.runs.explorer.record import RunRecord

    _, out = runs
    full, rounds, sample = (RunRecord(out[k]) for k in ("full", "rounds", "sample:3"))
    assert view_data(full, "overview")["trace"]["note"] is None
    assert view_data(rounds, "overview")["trace"] == {
        "level": "rounds", "sites": SITES,
        "note": "messages not recorded at trace level rounds"}
    assert view_data(rounds, "steps") == {
        "steps": [], "trace_note": "messages not recorded at trace level rounds"}
    step = view_data(sample, "step", "1")
    assert step["trace_note"] == f"sampled: 3 of {SITES} sites"
    unrecorded = {(k, d): n for k, d, n in step["unrecorded"]}
    assert unrecorded[("Bid", "send")] == SITES - 3  # the left-out sites' bids of step 1
    assert view_data(full, "step", "1")["unrecorded"] == []
    html = tmp_path / "rounds.html"
    export_html(out["rounds"], html)
    assert "messages not recorded at trace level rounds" in html.read_text()


def _vpp(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vpp.runs.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_cli_refuses_a_bad_level_naming_the_option_and_trace_show_notes(runs, tmp_path):
    for bad in ("sample:0", "foo"):
        done = _vpp("run", "--trace", bad, "--out", str(tmp_path / "x"), cwd=ROOT)
        assert done.returncode != 0 and f"--trace {bad}" in done.stderr + done.stdout
        assert not (tmp_path / "x").exists()
    done = _vpp("bench", "swarm", "--sites", "2", "--steps", "2", "--trace", "sample:x",
                "--json", cwd=ROOT)
    assert done.returncode != 0 and "--trace sample:x" in done.stderr + done.stdout
    _, out = runs
    shown = _vpp("trace", "show", str(out["rounds"]), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "messages not recorded at trace level rounds" in " ".join(shown.stdout.split())
    sent, received = re.search(r"\bBid\W+(\d+)\W+(\d+)", shown.stdout).groups()
    assert int(sent) == SITES * STEPS and int(received) == SITES * STEPS


def test_a_grid_event_records_at_the_level_with_the_same_timeline(tmp_path):
    import vpp
    from vpp.runs.scenario import DEFAULT_SCENARIO

    path = DEFAULT_SCENARIO.parent / "loss-of-infeed.yaml"
    full = vpp.run(path, out=tmp_path / "full", trace="full").out_dir
    rounds = vpp.run(path, out=tmp_path / "rounds", trace="rounds").out_dir
    assert _rows(rounds) == [] and len(_rows(full)) > 1000
    counts = _read(full, "message_counts")
    assert _read(rounds, "message_counts") == counts
    assert (rounds / "timeline.csv").read_bytes() == (full / "timeline.csv").read_bytes()
    assert _read(rounds, "meta")["trace_level"] == "rounds"


def test_the_cli_says_in_one_line_when_the_default_is_not_full():
    from vpp.runs.cli.common import err_console
    from vpp.runs.cli.options import trace_level

    big = parse(bench_scenario(1000, FULL_UP_TO_MESSAGES // 4000 + 1), "<big>")
    with err_console.capture() as said:
        assert trace_level(None, big) == "rounds"
    line = " ".join(said.get().split())
    assert line.startswith("trace level rounds (no message rows): about 2,004,000 messages")
    with err_console.capture() as said:
        assert trace_level("full", big) == "full"
        assert trace_level(None, parse(bench_scenario(10, 4), "<small>")) == "full"
    assert said.get() == ""


def test_counts_a_peer_makes_by_naming_conversations_are_flushed_at_flush_rows(tmp_path):
    import msgspec
    from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
    from vpp.agents.runtime.trace import TraceRecorder, shard_path

    rec = TraceRecorder(shard_path(tmp_path, "h"), "h", flush_rows=10)
    rec.set_level("sample:1", ["a", "b"], seed=0)
    kept = rec.sampled[0]
    body = msgspec.Raw(msgspec.msgpack.encode(1))
    sizes = []
    for i in range(25):  # every one to the site left out, in a conversation of its own
        left = "b" if kept == "a" else "a"
        rec.message("recv", Envelope(WIRE_VERSION, "Bid", "x/peer", f"h/{left}", f"c{i}", 0,
                                     0.0, body), 10)
        sizes.append(len(rec._counts))
    rec.message("recv", Envelope(WIRE_VERSION, "Bid", "x/peer", f"h/{kept}", "c0", 0, 0.0,
                                 body), 10)
    rec.close()
    assert max(sizes) < 10
    reader = TraceReader(tmp_path)
    try:
        assert reader.unrecorded_counts() == {("Bid", "recv"): 25}
        assert reader.message_counts() == {("Bid", "recv"): 26}
        assert [m.receiver for m in reader.messages()] == [f"h/{kept}"]
    finally:
        reader.close()


def test_the_benches_take_the_level_and_say_it():
    from typer.testing import CliRunner
    from vpp.runs.cli import app

    def bench(*args):
        done = CliRunner().invoke(app, ["bench", *args, "--json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.output)

    full = bench("swarm", "--sites", "20", "--steps", "3")
    rounds = bench("swarm", "--sites", "20", "--steps", "3", "--trace", "rounds")
    assert (full["trace"], rounds["trace"]) == ("full", "rounds")
    assert full["messages"] == rounds["messages"] == 3 * (4 * 20 + 1)  # sent all the same
    year_full = bench("year", "--sites", "20", "--steps", "100", "--trace", "full")
    year_rounds = bench("year", "--sites", "20", "--steps", "100", "--trace", "rounds")
    assert (year_full["trace"], year_rounds["trace"]) == ("full", "rounds")
    assert year_rounds["messages"] == year_full["messages"] == 100 * (4 * 20 + 1)
    assert year_rounds["trace_mib"] * 2 <= year_full["trace_mib"]  # 0.2 MiB against 0.5
    # with no --trace, a slice of the year takes the year's level, by the year's size: 20
    # sites x 35,040 steps x 4 is 2,803,200 messages, over the 2,000,000 traced in full
    # (the 100-step slice alone would be traced in full)
    year_default = bench("year", "--sites", "20", "--steps", "100")
    assert year_default["trace"] == "rounds"
    assert bench("year", "--sites", "14", "--steps", "100")["trace"] == "full"  # 1,962,240


def test_a_slice_takes_the_level_of_the_whole_run_it_stands_for():
    from vpp.runs.bench.year import year_scenario
    from vpp.runs.record.trace_level import choose_level, estimated_messages

    scenario = parse(year_scenario(20, 100), "<year>")
    assert estimated_messages(scenario) == 8_000
    assert estimated_messages(scenario, 35_040) == 2_803_200
    assert choose_level(None, scenario)[0].text == "full"
    level, notice = choose_level(None, scenario, steps=35_040)
    assert level.text == "rounds" and "2,803,200" in notice
    assert choose_level("full", scenario, steps=35_040) == (parse_level("full"), None)
