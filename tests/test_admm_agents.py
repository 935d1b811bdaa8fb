"""The ADMM agents negotiate over inproc ZeroMQ and reach the in-process answer; a silent
site is dropped at the round deadline; one trace row per iteration."""

from __future__ import annotations

import numpy as np
from vpp.agents.admm.negotiation import AdmmSiteAgent
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.messages import AdmmRound
from vpp.coordination.admm.model import SiteModel
from vpp.physics.battery import BatteryParams
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.admm.reference import solve_centralized
from vpp.runs.bench.admm import AdmmSwarm, cost_gap_rel


class SilentSite(AdmmSiteAgent):
    """A site that stops answering from round ``after`` on (as a crashed site would)."""

    def __init__(self, name, model, after):
        super().__init__(name, model)
        self.after = after
        self.on(AdmmRound, self._maybe)

    def _maybe(self, envelope, msg):
        if msg.round < self.after:
            self._on_round(envelope, msg)


def test_agents_over_zeromq_reach_the_same_answer_and_trace_every_iteration(context, tmp_path):
    sites = random_sites(3, horizon=6, seed=8)
    coupling = random_target(sites, 8)
    trace = TraceRecorder(shard_path(tmp_path, "agg"), "agg")
    swarm = AdmmSwarm(sites, context=context, trace=trace)
    try:
        result = swarm.negotiate(coupling, 6, 1.0, step=4, timeout_s=60.0)
        assert swarm.site_host.stats.dropped_total == swarm.agg_host.stats.dropped_total == 0
        finals = {a.name: a.final for a in swarm.site_agents}
    finally:
        swarm.close()
        trace.close()
    local, _, _ = negotiate(sites, coupling)
    assert result.converged and result.iterations == local.iterations
    for site in sites:
        assert np.allclose(result.schedules_kw[f"sites/{site.name}"], local.schedules_kw[site.name],
                           atol=1e-6)
        assert finals[site.name].included and finals[site.name].converged
        assert np.allclose(finals[site.name].schedule_kw, local.schedules_kw[site.name], atol=1e-6)
    reference = solve_centralized(sites, coupling)
    assert cost_gap_rel(result, reference) < 1e-3
    reader = TraceReader(tmp_path)
    rows = [r for r in reader.rounds(step=4) if r["protocol"] == "admm"]
    assert [r["round"] for r in rows] == list(range(result.iterations))
    assert rows[-1]["conversation"] == "admm/4"
    assert rows[-1]["primal_residual"] <= rows[-1]["detail"]["eps_pri"]
    assert all(r["step_size"] > 0 and r["dual_residual"] is not None for r in rows)
    assert abs(rows[-1]["price"] - np.mean(result.price_eur_mwh)) < 1e-6
    kinds = {(m.kind, m.direction) for m in reader.messages()}
    assert {("AdmmRound", "send"), ("AdmmSchedule", "recv"), ("AdmmDone", "send")} <= kinds
    reader.close()


def test_a_site_that_misses_a_deadline_is_dropped_and_named(context):
    sites = random_sites(4, horizon=6, seed=2)
    coupling = random_target(sites[:3], 2)
    agents = [AdmmSiteAgent(s.name, s) for s in sites[:3]] + [SilentSite(sites[3].name,
                                                                         sites[3], after=2)]
    swarm = AdmmSwarm(sites, AdmmSettings(deadline_ms=200), context=context, site_agents=agents)
    try:
        result = swarm.negotiate(coupling, 6, 1.0, timeout_s=60.0)
        silent_final = agents[3].final
    finally:
        swarm.close()
    assert result.converged, result.reason
    assert result.dropped == {f"sites/{sites[3].name}": "missed the deadline of round 2"}
    assert len(result.schedules_kw) == 3
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    assert np.allclose(total, coupling.target_kw, atol=1e-2)
    reference = solve_centralized(sites[:3], coupling)
    assert cost_gap_rel(result, reference) < 1e-3
    assert silent_final is not None and not silent_final.included


def test_a_site_that_cannot_solve_answers_nothing_and_is_dropped(context):
    sites = random_sites(2, horizon=4, seed=3)
    coupling = random_target(sites, 3)
    # cannot charge, yet must end fuller than it starts: its local problem is infeasible
    stuck = SiteModel("stuck", 4, 1.0, battery=BatteryParams(
        100.0, 0.0, 50.0, soc_init=0.2, soc_final_min=0.8, degradation_eur_mwh=20.0,
        wear_eur_kw2h=1e-4))
    swarm = AdmmSwarm([*sites, stuck], AdmmSettings(deadline_ms=200), context=context)
    try:
        result = swarm.negotiate(coupling, 4, 1.0, timeout_s=60.0)
    finally:
        swarm.close()
    assert result.dropped == {"sites/stuck": "missed the deadline of round 0"}
    assert result.converged and len(result.schedules_kw) == 2
