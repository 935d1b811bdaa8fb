"""ADMM negotiations in a trace: `vpp trace rounds` shows convergence, `plot --rounds` draws it."""

from __future__ import annotations

import json

from typer.testing import CliRunner
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.runs.bench.admm import AdmmSwarm
from vpp.runs.cli import app

runner = CliRunner()


def test_rounds_and_residual_plot_of_a_traced_admm_negotiation(tmp_path):
    sites = random_sites(3, 6, 1.0, 4)
    trace = TraceRecorder(shard_path(tmp_path, "agg"), "agg")
    swarm = AdmmSwarm(sites, trace=trace)
    try:
        result = swarm.negotiate(random_target(sites, 4), 6, 1.0)
    finally:
        swarm.close()
        trace.close()
    assert result.converged
    rows = json.loads(runner.invoke(app, ["trace", "rounds", str(tmp_path), "--json"]).output)
    admm = [r for r in rows if r["protocol"] == "admm"]
    assert len(admm) == result.iterations
    # the last row is the converged state the result reports
    assert admm[-1]["primal_residual"] == result.primal_residual
    table = runner.invoke(app, ["trace", "rounds", str(tmp_path)])
    assert table.exit_code == 0 and "ADMM iterations" in table.output
    plot = runner.invoke(app, ["trace", "plot", str(tmp_path), "--rounds"])
    assert plot.exit_code == 0, plot.output
    assert (tmp_path / "rounds.png").stat().st_size > 10_000
    # a trace without ADMM says so instead of drawing an empty plot
    other = tmp_path / "other"
    rec = TraceRecorder(shard_path(other, "x"), "x")
    rec.close()
    refused = runner.invoke(app, ["trace", "plot", str(other), "--rounds"])
    assert refused.exit_code == 2 and "no ADMM rounds" in refused.output
