"""An infeasible ADMM target through regions: the root tells it as the flat aggregator does
(capacity bounds summed by the regions, the primal residual's stagnation) and reports the
flat run's unserved energy, iterations, cost and capped prices.

The flat run and the hierarchy add the same numbers in another order (per region, then
over the regions), so the iterates differ by round-off only: the tests ask for the same
iteration count and reason, and for schedules, unserved energy and cost within 1e-6
(relative 1e-9), far inside the ADMM tolerance.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.feasibility import (
    PRICE_FLOOR_EUR_MWH,
    VOLL_EUR_MWH,
    net_bounds_kw,
)
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.model import AdmmGenerator, SiteModel, TargetCoupling
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_driver import negotiate_hierarchy
from vpp.coordination.hierarchy.admm_root import HierarchicalAdmm
from vpp.coordination.hierarchy.messages import RegionalSums
from vpp.coordination.hierarchy.spec import RegionSpec, TopologySpec
from vpp.coordination.hierarchy.topology import build_topology
from vpp.physics.battery import BatteryParams

from tests.hierarchy.fleets import random_topology


def _assert_as_flat(hier, flat):
    assert hier.infeasible and flat.infeasible
    assert hier.reason == flat.reason
    assert (hier.converged, hier.iterations) == (flat.converged, flat.iterations)
    np.testing.assert_allclose(hier.unserved_kwh, flat.unserved_kwh, atol=1e-6)
    np.testing.assert_allclose(hier.price_eur_mwh, flat.price_eur_mwh, atol=1e-6)
    assert hier.cost_eur == pytest.approx(flat.cost_eur, rel=1e-9, abs=1e-6)
    assert set(hier.schedules_kw) == set(flat.schedules_kw)
    for name, x in flat.schedules_kw.items():
        np.testing.assert_allclose(hier.schedules_kw[name], x, atol=1e-6)


def _generators(n: int, horizon: int) -> list[SiteModel]:
    return [SiteModel(f"g{i}", horizon, 0.5, generator=AdmmGenerator(
        tuple(10.0 + 5.0 * i + 2.0 * t for t in range(horizon)), fuel_eur_mwh=5.0 + 7.0 * i))
        for i in range(n)]


def test_a_target_beyond_the_bounds_through_regions_serves_the_rest_as_the_flat_run():
    # seven generators (two regions and one right under the root) inject 0..sum(available)
    sites = _generators(7, 6)
    high = np.sum([s.generator.available_kw for s in sites], axis=0)
    target = 0.6 * high
    target[[1, 4]] = high[[1, 4]] + [30.0, 12.0]    # more than the fleet has
    target[5] = -8.0                                # it cannot absorb
    coupling = TargetCoupling(tuple(target.tolist()))
    topology = build_topology(TopologySpec(regions=[
        RegionSpec(name="a", sites=["g0", "g2", "g4"]), RegionSpec(name="b", sites=["g1", "g3", "g5"])],
        site_regions={"g6": "portfolio"}), [s.name for s in sites])
    hier, _, _, solvers = negotiate_hierarchy(sites, coupling, topology)
    flat, _, _ = negotiate(sites, coupling)
    _assert_as_flat(hier, flat)
    assert hier.converged
    assert hier.reason.startswith("infeasible: the target is beyond the sites' capacity in "
                                  "3 step(s), 25 kWh; the servable rest: primal and dual")
    # by hand: 30, 12 kW short and 8 kW it cannot absorb, over half-hour steps
    np.testing.assert_allclose(hier.unserved_kwh, [0, 15.0, 0, 0, 6.0, 4.0], atol=1e-12)
    total = np.sum(list(hier.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(total, np.clip(target, 0.0, high), atol=1e-2)
    assert hier.price_eur_mwh[[1, 4]].tolist() == [VOLL_EUR_MWH] * 2
    assert hier.price_eur_mwh[5] == PRICE_FLOOR_EUR_MWH
    # every site, in a region or not, heard the capped price
    assert all(s.final.price_eur_mwh == hier.price_eur_mwh.tolist() for s in solvers.values())


@pytest.mark.parametrize("seed", [0, 3])
def test_bounds_and_energy_infeasible_through_nested_regions_is_the_flat_run(seed):
    # random fleets with batteries: the steps pushed past the summed bounds also make the
    # target infeasible in energy, so both tests act (clipped, then stagnation)
    sites = random_sites(12, horizon=24, seed=seed)
    low = np.sum([net_bounds_kw(s)[0] for s in sites], axis=0)
    high = np.sum([net_bounds_kw(s)[1] for s in sites], axis=0)
    target = np.array(random_target(sites, seed).target_kw)
    target[[3, 4, 10]] = high[[3, 4, 10]] + [40.0, 5.0, 120.0]
    target[17] = low[17] - 25.0
    coupling = TargetCoupling(tuple(target.tolist()))
    topology = random_topology(np.random.default_rng(seed), [s.name for s in sites])
    hier, root, _, _ = negotiate_hierarchy(sites, coupling, topology)
    flat, _, _ = negotiate(sites, coupling)
    _assert_as_flat(hier, flat)
    assert hier.reason.startswith("infeasible: the target is beyond the sites' capacity in "
                                  "4 step(s), 190 kWh; the primal residual stayed at")
    # at least the excess over the bounds is unserved; where energy is unserved it is
    # what the plan misses of the target (to the primal tolerance)
    assert (hier.unserved_kwh[[3, 4, 10, 17]] >= np.array([40.0, 5.0, 120.0, 25.0]) - 1e-9).all()
    total = np.sum(list(hier.schedules_kw.values()), axis=0)
    last = root.records[-1]
    short = hier.unserved_kwh > 0.0
    np.testing.assert_allclose(hier.unserved_kwh[short], np.abs(target - total)[short],
                               atol=np.sqrt(last.active) * last.eps_pri)
    assert hier.price_eur_mwh[[3, 4, 10]].tolist() == [VOLL_EUR_MWH] * 3


BATTERY = BatteryParams(capacity_kwh=100.0, p_charge_max_kw=50.0, p_discharge_max_kw=50.0,
                        eta_c=0.95, eta_d=0.95, soc_min=0.1, soc_max=0.9, soc_init=0.5,
                        soc_final_min=0.5, degradation_eur_mwh=20.0, wear_eur_kw2h=1e-4)


def test_a_target_only_the_energy_makes_infeasible_stagnates_as_the_flat_run():
    # six batteries that must end as full as they began: 30 kW each every hour fits each
    # step's bounds but not the energy; nothing net can be delivered
    sites = [SiteModel(f"b{i}", 4, 1.0, battery=dataclasses.replace(
        BATTERY, capacity_kwh=100.0 + 10 * i)) for i in range(6)]
    coupling = TargetCoupling((180.0,) * 4)
    topology = build_topology(TopologySpec(regions=2, assign="round-robin"),
                              [s.name for s in sites])
    hier, root, _, _ = negotiate_hierarchy(sites, coupling, topology)
    flat, _, _ = negotiate(sites, coupling)
    _assert_as_flat(hier, flat)
    assert not hier.converged and hier.iterations <= 100
    assert hier.reason.startswith("infeasible: the primal residual stayed at")
    total = np.sum(list(hier.schedules_kw.values()), axis=0)
    np.testing.assert_allclose(hier.unserved_kwh, 180.0 - total, rtol=1e-9)
    assert hier.unserved_kwh.sum() >= 720.0 - 1e-6      # nothing net out of the batteries
    assert hier.price_eur_mwh.tolist() == [VOLL_EUR_MWH] * 4
    assert root.price_eur_mwh.max() > VOLL_EUR_MWH      # the iterate's own is far above


def test_a_feasible_target_through_regions_is_not_flagged():
    sites = random_sites(12, horizon=24, seed=5)
    topology = build_topology(TopologySpec(regions=3), [s.name for s in sites])
    hier, _, _, _ = negotiate_hierarchy(sites, random_target(sites, 5), topology)
    assert hier.converged and not hier.infeasible and hier.unserved_kwh is None


def test_a_region_s_bad_bounds_drop_its_sites_naming_the_field():
    sites = random_sites(4, horizon=2, seed=1)
    topology = build_topology(TopologySpec(regions=2, assign="round-robin"),
                              [s.name for s in sites])
    root = HierarchicalAdmm(topology, TargetCoupling((1.0, 1.0)), 2, 1.0, AdmmSettings())
    root.start()
    zero = [0.0, 0.0]

    def sums(**bounds):
        return RegionalSums(0, 2, zero, zero, zero, zero, 0.0, 0.0, 0.0, 0.0, 0.0, **bounds)

    with pytest.raises(ProtocolError, match=r"RegionalSums.low_kw is above high_kw"):
        root.on_sums("region-1", sums(low_kw=[5.0, 0.0], high_kw=[1.0, 1.0]))
    assert all("RegionalSums.low_kw" in root.children.dropped[s]
               for s in topology.sites_under("region-1"))
    with pytest.raises(ProtocolError, match="must have 2 values"):
        root.on_sums("region-2", sums(low_kw=[0.0], high_kw=[1.0, 1.0]))
    assert set(root.children.dropped) == set(topology.sites)


def test_an_infeasible_scenario_through_regions_reports_the_flat_run_s_unserved_energy(
        tmp_path):
    import yaml
    from vpp.runs import api
    from vpp.runs.scenario import BUNDLED, parse

    summaries = {}
    for name in ("admm-regions.yaml", "admm.yaml"):
        data = yaml.safe_load((BUNDLED / name).read_text())
        data["steps"] = 8
        # beyond the fleet in every step, and in energy: both tests act (measured: 57
        # iterations, 2,079 kWh beyond the bounds, about 5,000 kWh unserved)
        data["target"]["profile"].update(low_kw=900, high_kw=1400)
        summaries[name] = api.run(parse(data, name), out=tmp_path / name).summary
    hier, flat = summaries["admm-regions.yaml"], summaries["admm.yaml"]
    assert hier["mode"] == "admm_regions" and flat["mode"] == "admm"
    assert hier["infeasible"] and flat["infeasible"]
    h, f = hier["negotiations"][0], flat["negotiations"][0]
    assert h["reason"] == f["reason"] and h["iterations"] == f["iterations"]
    np.testing.assert_allclose(h["unserved_kwh_by_step"], f["unserved_kwh_by_step"],
                               atol=1e-6)
    assert sum(h["unserved_kwh_by_step"]) > 100.0
    assert h["cost_eur"] == pytest.approx(f["cost_eur"], rel=1e-9)
    # what the delivery left unserved, step by step, is the flat run's
    assert hier["unserved_kwh"] == pytest.approx(flat["unserved_kwh"], rel=1e-9)
    assert hier["cost_eur"] == pytest.approx(flat["cost_eur"], rel=1e-9)
