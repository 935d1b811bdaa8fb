"""An ADMM target the sites cannot meet: found early, reported, priced at the cap.

Capacity bounds are worked out by hand from the devices; the unserved energy per step of a
bounds-infeasible target is the target's excess over them.
"""

from __future__ import annotations

import numpy as np
import pytest

from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.feasibility import (
    PRICE_FLOOR_EUR_MWH,
    VOLL_EUR_MWH,
    Stagnation,
    net_bounds_kw,
)
from vpp.coordination.admm.instances import random_market, random_sites, random_target
from vpp.coordination.admm.model import (
    AdmmFlexibleLoad,
    AdmmGenerator,
    SiteModel,
    TargetCoupling,
)
from vpp.coordination.admm.protocol import AdmmAggregation, AdmmSettings
from vpp.coordination.errors import ProtocolError
from vpp.physics.battery import BatteryParams

BATTERY = BatteryParams(capacity_kwh=100.0, p_charge_max_kw=50.0, p_discharge_max_kw=50.0,
                        eta_c=0.95, eta_d=0.95, soc_min=0.1, soc_max=0.9, soc_init=0.5,
                        soc_final_min=0.5, degradation_eur_mwh=20.0, wear_eur_kw2h=1e-4)


def test_a_battery_s_bounds_by_hand():
    low, high = net_bounds_kw(SiteModel("b", 4, 1.0, battery=BATTERY))
    # step 0: 50 kWh stored, 10 kept: (50 - 10) * 0.95 = 38 kW out; (90 - 50) / 0.95 = 42.1 in
    # steps 1-2: the power limits (50); step 3: it must end with 50 kWh, and can have at
    # most 90 before it: (90 - 50) * 0.95 = 38 out
    np.testing.assert_allclose(high, [38.0, 50.0, 50.0, 38.0])
    np.testing.assert_allclose(low, [-40.0 / 0.95, -50.0, -50.0, -50.0])


def test_a_flexible_load_s_bounds_by_hand():
    load = AdmmFlexibleLoad(baseline_kw=(10.0, 10.0), min_kw=(5.0, 0.0), max_kw=(12.0, 20.0))
    low, high = net_bounds_kw(SiteModel("l", 2, 1.0, load=load))
    # 20 kWh in two steps: step 0 takes 5..12 kW (its own limits: step 1 could take all
    # 20), step 1 takes 8..15 kW (20 - 12 at least, 20 - 5 at most)
    np.testing.assert_allclose(low, [-12.0, -15.0])
    np.testing.assert_allclose(high, [-5.0, -8.0])


def _fleet():
    return [SiteModel("pv", 4, 0.5, generator=AdmmGenerator((30.0, 30.0, 30.0, 30.0),
                                                            fuel_eur_mwh=5.0)),
            SiteModel("chp", 4, 0.5, generator=AdmmGenerator((10.0, 20.0, 30.0, 40.0),
                                                             fuel_eur_mwh=50.0))]


def test_a_target_beyond_the_bounds_serves_the_rest_and_reports_the_unserved_energy():
    # the fleet injects 0..40, 0..50, 0..60, 0..70 kW; the target asks 55, 20, 75 and -5
    target = (55.0, 20.0, 75.0, -5.0)
    result, aggregation, solvers = negotiate(_fleet(), TargetCoupling(target))
    assert result.infeasible
    assert result.reason.startswith("infeasible: the target is beyond the sites' capacity "
                                    "in 3 step(s), 17.5 kWh; the servable rest: primal and "
                                    "dual residuals within tolerance")
    assert result.converged and result.iterations < 100
    # 15 kW short, nothing, 15 kW short, 5 kW it cannot absorb; over half-hour steps
    np.testing.assert_allclose(result.unserved_kwh, [7.5, 0.0, 7.5, 2.5], atol=1e-12)
    total = result.schedules_kw["pv"] + result.schedules_kw["chp"]
    np.testing.assert_allclose(total, [40.0, 20.0, 60.0, 0.0], atol=1e-2)
    # the value of lost load where short, the floor where it cannot absorb; step 1's price
    # is pv's marginal cost at 20 kW: fuel 5 EUR/MWh less its curtailment's quadratic
    # cost, 2 * 1e-4 EUR/kW^2/h * 10 kW curtailed = 2 EUR/MWh: 3 EUR/MWh
    assert result.price_eur_mwh[[0, 2]].tolist() == [VOLL_EUR_MWH] * 2
    assert result.price_eur_mwh[3] == PRICE_FLOOR_EUR_MWH
    assert result.price_eur_mwh[1] == pytest.approx(3.0, abs=0.05)
    assert (VOLL_EUR_MWH, PRICE_FLOOR_EUR_MWH) == (4000.0, -500.0)
    # the sites hear the capped price too
    assert all(s.final.price_eur_mwh == result.price_eur_mwh.tolist() for s in solvers.values())


def test_a_target_only_the_energy_makes_infeasible_stops_on_stagnation():
    # 30 kW in every hour fits the battery's bounds (38, 50, 50, 38) but it must end as full
    # as it started: it can deliver nothing net, so about 30 kWh go unserved each hour
    site = SiteModel("b", 4, 1.0, battery=BATTERY)
    result, aggregation, _ = negotiate([site], TargetCoupling((30.0,) * 4))
    assert result.infeasible and not result.converged
    assert result.reason.startswith("infeasible: the primal residual stayed at")
    assert result.iterations <= 100                   # not the 500 of the cap
    schedule = result.schedules_kw["b"]
    np.testing.assert_allclose(result.unserved_kwh, 30.0 - schedule, rtol=1e-12)
    assert result.unserved_kwh.sum() >= 120.0 - 1e-6  # nothing net out of the battery
    np.testing.assert_allclose(result.unserved_kwh, [30.0] * 4, atol=0.5)
    assert result.price_eur_mwh.tolist() == [VOLL_EUR_MWH] * 4
    # before this change the price ran to ~4e5 EUR/MWh; the iterate's own estimate is far
    # above the cap, the reported price is not
    assert aggregation.price_eur_mwh.max() > VOLL_EUR_MWH


@pytest.mark.parametrize("seed", range(6))
def test_feasible_instances_are_not_flagged(seed):
    sites = random_sites(12, 24, seed=seed)
    for coupling in (random_target(sites, seed), random_market(sites, seed)):
        result, _, _ = negotiate(sites, coupling)
        assert result.converged and not result.infeasible and result.unserved_kwh is None


def test_stagnation_needs_a_flat_residual_above_tolerance():
    s = Stagnation(window=3, tolerance=1e-3)
    assert [s.update(r, 1.0) for r in (5.0, 5.0, 5.0, 5.0)] == [False, False, False, True]
    s = Stagnation(window=3, tolerance=1e-3)
    assert not any(s.update(r, 1.0) for r in (5.0, 4.0, 3.0, 2.5, 2.0))   # still falling
    s = Stagnation(window=2, tolerance=1e-3)
    assert not any(s.update(0.5, 1.0) for _ in range(5))                   # within tolerance


def test_bad_bounds_drop_their_sender():
    from vpp.coordination.admm.messages import AdmmSchedule

    agg = AdmmAggregation(["a", "b"], TargetCoupling((1.0, 1.0)), 2, 1.0, AdmmSettings())
    agg.start()
    with pytest.raises(ProtocolError, match="low_kw is above high_kw"):
        agg.on_schedule("a", AdmmSchedule(0, [0.0, 0.0], 0.0, [5.0, 0.0], [1.0, 1.0]))
    assert "a" in agg.dropped and "low_kw" in agg.dropped["a"]
    with pytest.raises(ProtocolError, match="must have 2 values"):
        agg.on_schedule("b", AdmmSchedule(0, [0.0, 0.0], 0.0, [0.0], [1.0, 1.0]))
