"""Trace levels in every placement: site processes (``--processes``) record at the run's
level, and ``vpp site`` processes of a remote run learn it from the aggregator's Welcome
and ship what it keeps, the counts of what it leaves out included."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from vpp.agents.runtime.trace_level import sample_sites
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.placement.processes import ProcessesPlacement
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import load

from tests.proc_helpers import leftovers, small_scenario, start_site, stop_all

pytestmark = pytest.mark.timeout(240)

STEPS = 3


@pytest.fixture(scope="module")
def scenario_path(tmp_path_factory):
    return small_scenario(tmp_path_factory.mktemp("scenario"), steps=STEPS)


def _trace(run_dir):
    reader = TraceReader(run_dir)
    try:
        return reader.messages(), reader.message_counts(), reader.meta(), reader.shards
    finally:
        reader.close()


def test_site_processes_record_at_the_runs_level(scenario_path, tmp_path):
    scenario = load(scenario_path)
    names = scenario.site_names()
    local = run_scenario(scenario, tmp_path / "local", scenario_path=scenario_path,
                         trace="full")
    _, full_counts, _, _ = _trace(local.out_dir)

    rounds = run_scenario(scenario, tmp_path / "rounds", scenario_path=scenario_path,
                          placement=ProcessesPlacement(2), trace="rounds")
    rows, counts, _, shards = _trace(rounds.out_dir)
    assert len(shards) == 3 and rows == []  # the aggregator's shard and two site hosts'
    for kind in ("Bid", "Award", "CallForBids"):
        for direction in ("send", "recv"):
            assert counts[(kind, direction)] == full_counts[(kind, direction)] > 0
    # the same steps; sums of accepted awards may differ in the last digit, since the
    # answers of two processes arrive in another order than one process's
    _same_table(tmp_path / "rounds" / "steps.csv", tmp_path / "local" / "steps.csv")

    sample = run_scenario(scenario, tmp_path / "sample", scenario_path=scenario_path,
                          placement=ProcessesPlacement(2), trace="sample:2")
    picked = sample_sites(names, 2, scenario.seed)
    rows, counts, _, shards = _trace(sample.out_dir)
    left_out = set(names) - set(picked)
    about = {(a or "").rpartition("/")[2] for r in rows for a in (r.sender, r.receiver)}
    assert not about & left_out and set(picked) <= about
    bidders = sorted({r.sender.rpartition("/")[2] for r in rows if r.kind == "Bid"})
    assert bidders == sorted(picked)
    assert counts[("Bid", "send")] == full_counts[("Bid", "send")] == len(names) * STEPS
    for path in sorted((sample.out_dir / "trace").glob("*.sqlite")):  # every shard's own
        db = sqlite3.connect(path)
        try:
            level = db.execute("SELECT value FROM meta WHERE key = 'trace_level'").fetchone()
        finally:
            db.close()
        assert json.loads(level[0]) == "sample:2", path


def test_remote_sites_learn_the_level_and_ship_their_counts(scenario_path, tmp_path):
    scenario = load(scenario_path)
    groups = [list(g) for g in np.array_split(scenario.site_names(), 2)]
    procs = []

    def start(endpoint):
        for i, group in enumerate(groups):
            procs.append(start_site(scenario_path, endpoint, group, tmp_path / f"site-{i}",
                                    "--insecure"))

    out = tmp_path / "aggregator"
    placement = RemotePlacement("tcp://127.0.0.1:*", join_timeout_s=60, on_listening=start)
    try:
        result = run_scenario(scenario, out, scenario_path=scenario_path,
                              placement=placement, trace="rounds")
    finally:
        stop_all(procs)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert leftovers() == []
    assert result.summary["trace_batches_dropped"] == {}
    rows, counts, _, shards = _trace(out)
    assert rows == [] and len(shards) == 3
    n = len(scenario.site_names()) * STEPS
    # the bids are sent on the site hosts: counted there, shipped, counted here
    assert counts[("Bid", "send")] == counts[("Bid", "recv")] == n
    assert counts[("Stopped", "send")] == 2
    for i in range(2):  # each site's own shard says the level it was told
        own_rows, own_counts, meta, _ = _trace(tmp_path / f"site-{i}")
        assert own_rows == [] and meta["trace_level"] == "rounds"
        assert own_counts[("Bid", "send")] == len(groups[i]) * STEPS


def _same_table(got: Path, want: Path) -> None:
    """Two CSV tables with the same columns and rows: text cells equal, numbers to 1e-9."""
    a, b = pd.read_csv(got), pd.read_csv(want)
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 0
    for column in a.columns:
        if pd.api.types.is_float_dtype(a[column]) or pd.api.types.is_float_dtype(b[column]):
            np.testing.assert_allclose(a[column], b[column], rtol=1e-9, atol=1e-9,
                                       err_msg=column)
        else:
            assert a[column].fillna("").tolist() == b[column].fillna("").tolist(), column
