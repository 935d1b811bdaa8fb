"""ADMM metrics: iterations, negotiations, each site's local solves and solver seconds."""

from __future__ import annotations

from vpp.runs.modes.merit_order.swarm import build_swarm
from vpp.runs.ops.live import LiveRun
from vpp.runs.scenario import BUNDLED, load


def test_admm_metrics_count_the_negotiation(tmp_path):
    path = BUNDLED / "admm.yaml"
    model = build_swarm(load(path), tmp_path / "run", scenario_path=path)
    live = LiveRun(model)
    try:
        live.step()
        live.step()
        table = live.metrics.sample_table()
    finally:
        live.close()
        model.close()
    (result,) = [n[2] for n in model.negotiations]            # one plan for the whole day
    assert result.converged
    assert table["vpp_admm_iterations_total"][0][1] == result.iterations
    converged = {lab["converged"]: v for lab, v in table["vpp_admm_negotiations_total"]}
    assert converged == {"true": 1.0, "false": 0.0}
    solves = {lab["site"]: v for lab, v in table["vpp_admm_local_solves_total"]}
    # every site answered every round of the negotiation
    assert solves == {s.name: float(result.iterations) for s in model.sites}
    seconds = {lab["site"]: v for lab, v in table["vpp_admm_local_solve_seconds_total"]}
    assert all(0.0 < seconds[s.name] == s.solve_s for s in model.sites)
    assert sum(v for _, v in table["vpp_admm_local_solve_failures_total"]) == 0
