"""The ADMM root and region agents over ZeroMQ equal the flat negotiation and the
centralized solve; silent sites, a mute region and foreign messages are handled as the
protocol says (docs/protocols/hierarchy.md)."""

from __future__ import annotations

import numpy as np
import pytest
from vpp.agents.admm.negotiation import AdmmSiteAgent
from vpp.agents.hierarchy.admm_region import AdmmRegionAgent
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.instances import random_market, random_sites, random_target
from vpp.coordination.admm.messages import AdmmRound, AdmmSchedule
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.admm.reference import solve_centralized
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_driver import negotiate_hierarchy
from vpp.coordination.hierarchy.messages import RegionalDone, RegionalRound
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology
from vpp.runs.bench.admm import cost_gap_rel
from vpp.runs.bench.admm_regions import RegionSwarm
from vpp.runs.bench.admm_regions_central import solve_stacked

from tests.hierarchy.fleets import random_topology

TIGHT = AdmmSettings(eps_abs=1e-5, eps_rel=1e-6, max_iterations=3000)


def _swarm_run(sites, topology, coupling, settings=TIGHT, site_agents=None):
    swarm = RegionSwarm(sites, topology, settings, site_agents=site_agents)
    try:
        result = swarm.negotiate(coupling, sites[0].horizon, 1.0)
        return result, swarm.root.negotiation, swarm.messages, swarm.dropped, swarm
    finally:
        swarm.close()


@pytest.mark.parametrize("seed, assign", [(0, "round-robin"), (2, "blocks")])
def test_twelve_sites_in_three_regions_over_zeromq_equal_flat_and_centralized(seed, assign):
    sites = random_sites(12, horizon=24, seed=seed)
    names = [s.name for s in sites]
    topology = build_topology(TopologySpec(regions=3, assign=assign), names)
    coupling = random_target(sites, seed)
    result, root, messages, dropped, swarm = _swarm_run(sites, topology, coupling)
    flat, agg, _ = negotiate(sites, coupling, TIGHT)
    assert result.converged and flat.converged and dropped == 0
    assert result.iterations == flat.iterations
    assert result.cost_eur == pytest.approx(flat.cost_eur, rel=1e-12)
    for name in names:
        np.testing.assert_allclose(result.schedules_kw[name], flat.schedules_kw[name],
                                   atol=1e-9)
    for a, b in zip(root.records, agg.records):
        assert a.primal_residual == pytest.approx(b.primal_residual, rel=1e-9, abs=1e-9)
        assert a.rho == b.rho
    # and the centralized optimum, within the ADMM tolerance
    reference = solve_centralized(sites, coupling)
    assert cost_gap_rel(result, reference) < 1e-5
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(total, coupling.target_kw, atol=1e-2)
    # the same messages the driver hands over: per iteration 3 RegionalRound, 12
    # AdmmRound, 12 AdmmSchedule, 3 RegionalSums; at the end 3 RegionalDone, 12 AdmmDone
    assert messages == result.iterations * 30 + 15
    for agent in swarm.site_agents:  # each site was told its own schedule
        assert agent.final.included and agent.final.converged
        np.testing.assert_allclose(agent.final.schedule_kw, result.schedules_kw[agent.name])


@pytest.mark.parametrize("seed", [2, 4, 7])  # trees 2, 3 and 4 levels of regions deep
def test_nested_regions_and_sites_under_the_root_over_zeromq_equal_flat(seed):
    sites = random_sites(10, horizon=12, seed=seed)
    topology = random_topology(np.random.default_rng(seed), [s.name for s in sites],
                               max_regions=4, direct_share=0.2)
    assert max(topology.depth(r) for r in topology.regions) >= 2  # a region in a region
    coupling = random_target(sites, seed)
    result, _, _, dropped, _ = _swarm_run(sites, topology, coupling)
    flat, _, _ = negotiate(sites, coupling, TIGHT)
    assert result.converged and dropped == 0
    assert result.iterations == flat.iterations
    assert result.cost_eur == pytest.approx(flat.cost_eur, rel=1e-12)
    for name, x in flat.schedules_kw.items():
        np.testing.assert_allclose(result.schedules_kw[name], x, atol=1e-9)


class SilentFrom(AdmmSiteAgent):
    """A site that stops answering from round ``silent_from``."""

    def __init__(self, model, silent_from: int) -> None:
        super().__init__(model.name, model)
        self.silent_from = silent_from

    def _on_round(self, envelope, msg) -> None:
        if msg.round < self.silent_from:
            super()._on_round(envelope, msg)


def test_a_silent_site_is_dropped_by_its_region_at_its_deadline_as_in_the_flat_run():
    sites = random_sites(8, horizon=8, seed=5)
    names = [s.name for s in sites]
    topology = build_topology(TopologySpec(regions=2), names)
    coupling = random_target(sites[:7], 5)  # feasible without the last site
    agents = [AdmmSiteAgent(s.name, s) for s in sites[:7]] + [SilentFrom(sites[7], 4)]
    result, root, _, _, _ = _swarm_run(sites, topology, coupling, site_agents=agents)
    flat, _, _ = negotiate(sites, coupling, TIGHT, silent={names[7]: 4})
    assert result.dropped == flat.dropped == {names[7]: "missed the deadline of round 4"}
    assert result.converged and result.iterations == flat.iterations
    assert result.cost_eur == pytest.approx(flat.cost_eur, rel=1e-12)
    assert root.records[4].dropped == [names[7]] and root.records[4].active == 7


class MuteRegion(AdmmRegionAgent):
    """A region whose process is gone from round ``mute_from`` on: it hears nothing."""

    mute_from = 3

    def _on_round(self, envelope, msg) -> None:
        if msg.signal.round < self.mute_from:
            super()._on_round(envelope, msg)


def test_a_mute_region_loses_its_sites_at_the_roots_deadline_the_rest_meet_the_target():
    sites = random_sites(9, horizon=8, seed=6)
    names = [s.name for s in sites]
    topology = build_topology(TopologySpec(regions=3), names)  # region-3: the last three
    coupling = random_target(sites[:6], 6)
    swarm = RegionSwarm(sites, topology, TIGHT)
    try:
        # the region agent of region-3 replaced by a mute one, same addresses
        swarm.agg_host.agents.pop("region-3")
        addresses = {n: a for r in swarm.regions.values() for n, a in r.addresses.items()}
        addresses.update({s: f"sites/{s}" for s in names})
        swarm.regions["region-3"] = swarm.agg_host.add(
            MuteRegion("region-3", topology, addresses))
        result = swarm.negotiate(coupling, 8, 1.0)
    finally:
        swarm.close()
    expected, _, _, _ = negotiate_hierarchy(sites, coupling, topology, TIGHT,
                                            dead_regions={"region-3": 3})
    assert result.converged, result.reason
    assert result.dropped == {n: "region region-3 missed the deadline of round 3"
                              for n in names[6:]}
    assert result.iterations == expected.iterations
    assert result.cost_eur == pytest.approx(expected.cost_eur, rel=1e-12)
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(total, coupling.target_kw, atol=1e-2)


def _envelope(body, sender, conversation="admm/0", round=0):
    return Envelope(WIRE_VERSION, type(body).__name__, sender, "agg/region-1", conversation,
                    round, 0.0, b"")


def test_foreign_late_and_out_of_conversation_messages_are_refused():
    sites = random_sites(4, horizon=4, seed=1)
    names = [s.name for s in sites]
    topology = build_topology(TopologySpec(regions=2), names)
    coupling = random_target(sites, 1)
    swarm = RegionSwarm(sites, topology, TIGHT)
    try:
        region = swarm.regions["region-1"]
        schedule = AdmmSchedule(0, [0.0] * 4, 0.0)
        with pytest.raises(ProtocolError, match="outside its negotiation"):
            region.handle(_envelope(schedule, f"sites/{names[0]}"), schedule)
        signal = AdmmRound(0, 4, 1.0, 0.01, [0.0] * 4, [0.0] * 4, [0.0] * 4, 1000)
        # only the parent starts a negotiation
        with pytest.raises(ProtocolError, match="not a peer"):
            region.handle(_envelope(RegionalRound(signal, 1.0), f"sites/{names[0]}"),
                          RegionalRound(signal, 1.0))
        assert region.machine is None
        # a site of the other region, or a stranger, is no peer of this one
        with pytest.raises(ProtocolError, match="not a peer"):
            region.handle(_envelope(schedule, f"sites/{names[3]}"), schedule)
        result = swarm.negotiate(coupling, 4, 1.0)
        assert result.converged
        # after the end: a schedule of the finished negotiation, a done of another one
        with pytest.raises(ProtocolError, match="late or duplicate"):
            region.handle(_envelope(schedule, f"sites/{names[0]}"), schedule)
        done = RegionalDone(0, True, 1, True, [0.0] * 4)
        with pytest.raises(ProtocolError, match="outside its negotiation"):
            region.handle(_envelope(done, "agg/portfolio", "admm/9"), done)
        # over the wire: a stranger's schedule to the root is dropped, the host goes on
        before = swarm.agg_host.stats.dropped_total
        swarm.site_agents[0].send("agg/portfolio", schedule, conversation="admm/0")
        swarm.loop.run_until(lambda: swarm.agg_host.stats.dropped_total > before, 5.0)
        assert swarm.agg_host.stats.dropped_total == before + 1
        again = swarm.negotiate(coupling, 4, 1.0, step=1)
        # (the sites' solvers start warm: the same answer to the solver's accuracy)
        assert again.converged and again.iterations == result.iterations
        assert again.cost_eur == pytest.approx(result.cost_eur, rel=1e-6)
    finally:
        swarm.close()


@pytest.mark.parametrize("market", [False, True])
def test_the_benchs_stacked_central_solve_equals_the_cvxpy_reference(market):
    sites = random_sites(20, horizon=24, seed=3)
    coupling = random_market(sites, 3) if market else random_target(sites, 3)
    stacked = solve_stacked(sites, coupling)
    reference = solve_centralized(sites, coupling)
    assert stacked.cost_eur == pytest.approx(reference.cost_eur, rel=1e-7)
    assert stacked.site_cost_eur == pytest.approx(reference.site_cost_eur, rel=1e-5)
    np.testing.assert_allclose(stacked.price_eur_mwh, reference.price_eur_mwh, atol=0.05)
    total = np.sum(list(stacked.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(total, np.sum(list(reference.schedules_kw.values()), axis=0),
                               atol=1e-2)  # kW, on totals of hundreds (solver accuracy)
