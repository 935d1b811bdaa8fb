"""ADMM through regions (hierarchical sharing form) equals the flat ADMM and the
centralized solve.

Measured on these instances (12 sites x 24 h in 3 regions, batteries, generators, loads;
tight tolerances eps_abs 1e-5, eps_rel 1e-6): the same iteration count as the flat run,
the cost within 1e-14 (relative) of the flat run's and 5e-7 to 6e-6 of the centralized
optimum (the flat run's own gap), the schedules within 1e-12 kW of the flat run's.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.hierarchy.fleets import random_topology
from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.instances import random_market, random_sites, random_target
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.admm.reference import solve_centralized
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_driver import negotiate_hierarchy
from vpp.coordination.hierarchy.admm_region import RegionalAdmm
from vpp.coordination.hierarchy.admm_root import HierarchicalAdmm
from vpp.coordination.hierarchy.messages import RegionalRound, RegionalSums, SiteDecline
from vpp.coordination.hierarchy.spec import TopologySpec
from vpp.coordination.hierarchy.topology import build_topology

TIGHT = AdmmSettings(eps_abs=1e-5, eps_rel=1e-6, max_iterations=3000)


def _gap(cost, reference, result):
    scale = max(abs(reference.cost_eur), sum(abs(v) for v in result.site_cost_eur.values()))
    return abs(cost - reference.cost_eur) / scale


def _assert_equal_runs(hier, flat, hier_root, flat_agg):
    assert hier.converged and flat.converged
    assert hier.iterations == flat.iterations
    assert hier.cost_eur == pytest.approx(flat.cost_eur, rel=1e-12, abs=1e-12)
    assert set(hier.schedules_kw) == set(flat.schedules_kw)
    for name, x in flat.schedules_kw.items():
        np.testing.assert_allclose(hier.schedules_kw[name], x, atol=1e-9)
    np.testing.assert_allclose(hier.price_eur_mwh, flat.price_eur_mwh, atol=1e-9)
    for a, b in zip(hier_root.records, flat_agg.records):
        assert a.primal_residual == pytest.approx(b.primal_residual, rel=1e-9, abs=1e-9)
        assert a.dual_residual == pytest.approx(b.dual_residual, rel=1e-9, abs=1e-9)
        assert a.eps_pri == pytest.approx(b.eps_pri, rel=1e-12)
        assert a.rho == b.rho and a.active == b.active


@pytest.mark.parametrize("seed, market", [(0, False), (1, True), (2, False)])
def test_twelve_sites_in_three_regions_equal_flat_and_centralized(seed, market):
    sites = random_sites(12, horizon=24, seed=seed)
    names = [s.name for s in sites]
    topo = build_topology(TopologySpec(regions=3, assign="round-robin"), names)
    coupling = random_market(sites, seed) if market else random_target(sites, seed)
    hier, root, regions, solvers = negotiate_hierarchy(sites, coupling, topo, TIGHT)
    flat, agg, _ = negotiate(sites, coupling, TIGHT)
    _assert_equal_runs(hier, flat, root, agg)
    reference = solve_centralized(sites, coupling)
    assert _gap(hier.cost_eur, reference, hier) < 1e-5
    scale = max(float(np.abs(x).max()) for x in reference.schedules_kw.values())
    for name in names:
        np.testing.assert_allclose(hier.schedules_kw[name], reference.schedules_kw[name],
                                   atol=5e-3 * scale)
    total = np.sum(list(hier.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(root.result().total_kw, total, atol=1e-9)
    if not market:
        np.testing.assert_allclose(total, coupling.target_kw, atol=1e-2)
    # the root heard 3 regions per iteration, not 12 sites; each site got its AdmmDone
    assert root.records[0].answers == 12 and len(root.children.children) == 3
    for name in names:
        final = solvers[name].final
        assert final is not None and final.included and final.converged
        np.testing.assert_allclose(final.schedule_kw, hier.schedules_kw[name])


@pytest.mark.parametrize("seed", [3, 4])
def test_nested_regions_and_sites_under_the_root_equal_flat(seed):
    sites = random_sites(10, horizon=12, seed=seed)
    names = [s.name for s in sites]
    topo = random_topology(np.random.default_rng(seed), names, max_regions=4,
                           direct_share=0.2)
    coupling = random_target(sites, seed)
    hier, root, _, _ = negotiate_hierarchy(sites, coupling, topo, TIGHT)
    flat, agg, _ = negotiate(sites, coupling, TIGHT)
    _assert_equal_runs(hier, flat, root, agg)


def test_a_silent_site_in_a_region_is_dropped_as_in_the_flat_run():
    sites = random_sites(8, horizon=8, seed=5)
    names = [s.name for s in sites]
    topo = build_topology(TopologySpec(regions=2), names)
    coupling = random_target(sites[:7], 5)  # feasible without the last site
    silent = {names[7]: 4}
    hier, root, regions, solvers = negotiate_hierarchy(sites, coupling, topo, TIGHT,
                                                       silent=silent)
    flat, agg, _ = negotiate(sites, coupling, TIGHT, silent=silent)
    assert hier.dropped == flat.dropped == {names[7]: "missed the deadline of round 4"}
    _assert_equal_runs(hier, flat, root, agg)
    assert root.records[4].dropped == [names[7]] and root.records[4].active == 7
    assert solvers[names[7]].final == AdmmDone(root.round, True, hier.iterations, False, [],
                                               hier.price_eur_mwh.tolist())


def test_a_lost_region_drops_its_sites_and_the_rest_meet_the_target():
    sites = random_sites(9, horizon=8, seed=6)
    names = [s.name for s in sites]
    topo = build_topology(TopologySpec(regions=3), names)  # region-3: the last three
    coupling = random_target(sites[:6], 6)
    hier, root, _, solvers = negotiate_hierarchy(sites, coupling, topo, TIGHT,
                                                 dead_regions={"region-3": 3})
    assert hier.converged, hier.reason
    assert hier.dropped == {n: "region region-3 missed the deadline of round 3"
                            for n in names[6:]}
    assert set(hier.schedules_kw) == set(names[:6])
    # the same as the flat run where those three sites fall silent in round 3
    flat, agg, _ = negotiate(sites, coupling, TIGHT, silent={n: 3 for n in names[6:]})
    assert hier.iterations == flat.iterations
    assert hier.cost_eur == pytest.approx(flat.cost_eur, rel=1e-12)
    reference = solve_centralized(sites[:6], coupling)
    assert _gap(hier.cost_eur, reference, hier) < 1e-4
    total = np.sum(list(hier.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(total, coupling.target_kw, atol=1e-2)
    assert solvers[names[8]].final is None  # its region never passed the end on


def _region():
    topo = build_topology(TopologySpec(regions=2), ["a", "b", "c", "d"])
    region = RegionalAdmm("region-1", topo, 2)
    signal = AdmmRound(0, 2, 1.0, 0.01, [0.0, 0.0], [-1.0, -2.0], [0.0, 0.0], 1000)
    out = region.on_round(RegionalRound(signal, 1.0))
    return region, out


def test_a_region_sums_its_sites_and_names_its_drops():
    region, out = _region()
    assert [(o.receiver, o.body.deadline_ms) for o in out] == [("a", 800), ("b", 800)]
    assert region.on_schedule("a", AdmmSchedule(0, [3.0, 4.0], 1.5)) == []
    with pytest.raises(ProtocolError, match="late or duplicate"):
        region.on_schedule("a", AdmmSchedule(0, [3.0, 4.0], 1.5))
    with pytest.raises(ProtocolError, match="not a site"):
        region.on_schedule("c", AdmmSchedule(0, [3.0, 4.0], 1.5))
    (up,) = region.on_deadline()
    sums = up.body
    assert isinstance(sums, RegionalSums) and up.receiver == "portfolio"
    # alpha 1: x_hat = x; z_prev = zbar = -imbalance = (1, 2); step = x - z_prev
    assert sums.sites == 1 and sums.sum_x == [3.0, 4.0] and sums.sum_x_hat == [3.0, 4.0]
    assert sums.sum_step == [2.0, 2.0] and sums.sq_step == 8.0 and sums.sq_x == 25.0
    assert sums.sum_relax == [0.0, 0.0] and sums.cost_eur == 1.5
    assert sums.dropped == [SiteDecline("b", "missed the deadline of round 0")]
    # the next round's signal makes a's consensus z = x_hat - imbalance
    signal = AdmmRound(1, 2, 1.0, 0.01, [0.5, 0.5], [0.5, 1.0], [0.0, 0.0], 1000)
    (relayed,) = region.on_round(RegionalRound(signal, 1.5))
    assert relayed.receiver == "a" and relayed.body.round == 1
    (up,) = region.on_schedule("a", AdmmSchedule(1, [2.0, 3.0], 1.0))
    # z_prev = (3, 4) - (0.5, 1) = (2.5, 3); x_hat = 1.5 x - 0.5 z_prev = (1.75, 3)
    assert up.body.sum_x_hat == [1.75, 3.0]
    assert up.body.sum_relax == [0.25, 0.0] and up.body.sum_step == [-0.75, 0.0]


def test_a_region_refuses_signals_out_of_sequence_and_bad_schedules():
    region, _ = _region()
    with pytest.raises(ProtocolError, match="unexpected RegionalRound"):
        region.on_round(RegionalRound(AdmmRound(1, 2, 1.0, 0.01, [0.0] * 2, [0.0] * 2,
                                                [0.0] * 2, 1000), 1.0))
    with pytest.raises(ProtocolError, match="non-finite"):
        region.on_schedule("b", AdmmSchedule(0, [float("nan"), 0.0], 0.0))
    assert region.children.dropped == {
        "b": "invalid schedule in round 0: AdmmSchedule.schedule_kw has a non-finite value"}
    assert region.take_after_error() == []  # a is still awaited
    (up,) = region.on_schedule("a", AdmmSchedule(0, [1.0, 1.0], 0.0))
    assert up.body.sites == 1 and up.body.dropped[0].site == "b"


def test_the_root_drops_a_region_whose_sums_do_not_add_up():
    sites = random_sites(4, horizon=4, seed=1)
    names = [s.name for s in sites]
    topo = build_topology(TopologySpec(regions=2), names)
    root = HierarchicalAdmm(topo, random_target(sites, 1), 4, 1.0)
    out = root.start()
    assert [type(o.body) for o in out] == [RegionalRound, RegionalRound]
    zero = [0.0] * 4
    bad = RegionalSums(0, 3, zero, zero, zero, zero, 0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ProtocolError, match="sites is 3"):
        root.on_sums("region-1", bad)
    assert set(root.children.dropped) == set(names[:2])
    with pytest.raises(ProtocolError, match="4 values"):
        root.on_sums("region-2", RegionalSums(0, 2, [0.0], zero, zero, zero, 0.0, 0.0, 0.0,
                                              0.0, 0.0))
    # both regions gone: the negotiation ends, not converged, every site told why
    out = root.take_after_error()
    assert root.done and not root.result().converged
    assert "every site was dropped" in root.result().reason
    assert {o.receiver: o.body.included for o in out} == {"region-1": False,
                                                          "region-2": False}
