"""The same-work plain-pyzmq ADMM baseline runs the project's negotiation, not another one."""

from __future__ import annotations

from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.runs.bench import zmq_baseline_admm
from vpp.runs.bench.admm import AdmmSwarm


def test_same_work_baseline_negotiates_what_the_project_runtime_negotiates():
    sites, horizon, seed = 5, 6, 3
    got = zmq_baseline_admm.run(sites, 2, horizon, seed)
    # the same instance negotiated through the project's runtime in one process
    models = random_sites(sites, horizon, 1.0, seed)
    swarm = AdmmSwarm(models, AdmmSettings())
    try:
        ours = swarm.negotiate(random_target(models, seed), horizon, 1.0)
    finally:
        swarm.close()
    assert got["converged"] is True and ours.converged
    assert got["iterations"] == ours.iterations
    assert abs(got["cost_eur"] - ours.cost_eur) <= 1e-9 * max(1.0, abs(ours.cost_eur))
    # one round time per closed round but the first, ordered percentiles, clean teardown
    assert 0 < got["round_ms_p50"] <= got["round_ms_p99"]
    assert got["processes"] == 2 and got["clean_exit"] is True
