"""ADMM metrics: iterations, negotiations, each site's local solves and solver seconds."""

from __future__ import annotations

from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs.ops.hooks import ops_hooks
from vpp.runs.runner import build_run
from vpp.runs.scenario import BUNDLED, load

from tests.ops.helpers import StepByStep


def test_admm_metrics_count_the_negotiation(tmp_path):
    path = BUNDLED / "admm.yaml"
    scenario = load(path)
    _, model = build_run(scenario, tmp_path / "run", scenario_path=path)
    metrics = OpsMetrics()
    live = StepByStep(model, ops_hooks(model, scenario, metrics=metrics,
                                       out_dir=tmp_path / "run"))
    try:
        live.step()
        live.step()
        table = metrics.sample_table()
    finally:
        live.close()
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
