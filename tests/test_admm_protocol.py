"""The ADMM aggregation and site solver, driven message by message without sockets."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.instances import random_sites, random_target
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import SiteModel, TargetCoupling
from vpp.coordination.admm.protocol import AdmmAggregation, AdmmSettings
from vpp.coordination.admm.reference import solve_centralized
from vpp.coordination.admm.site import AdmmSiteSolver
from vpp.coordination.errors import ProtocolError
from vpp.physics.battery import BatteryParams

T = 4


def _aggregation(sites=("a", "b"), target=(10.0, -10.0, 5.0, 0.0), **settings):
    return AdmmAggregation(list(sites), TargetCoupling(target), T, 1.0,
                           AdmmSettings(**settings))


def test_round_zero_tells_every_site_the_imbalance_of_zero_schedules():
    agg = _aggregation()
    out = agg.start()
    assert [o.receiver for o in out] == ["a", "b"] and all(o.round == 0 for o in out)
    signal = out[0].body
    assert isinstance(signal, AdmmRound)
    assert signal.scaled_price == [0.0] * T
    assert signal.mean_imbalance == [-5.0, 5.0, -2.5, 0.0]  # 0 - target / 2
    assert signal.rho == agg.settings.rho


def test_the_next_round_goes_out_when_all_schedules_are_in_and_the_dual_moves():
    agg = _aggregation(adapt=False, relaxation=1.0)
    agg.start()
    assert agg.on_schedule("a", AdmmSchedule(0, [5.0, -5.0, 2.5, 0.0], 1.0)) == []
    out = agg.on_schedule("b", AdmmSchedule(0, [0.0, 0.0, 0.0, 0.0], 0.0))
    signal = out[0].body
    assert signal.round == 1 and {o.receiver for o in out} == {"a", "b"}
    # xbar = (2.5, -2.5, 1.25, 0), zbar = target / 2 = (5, -5, 2.5, 0): u = xbar - zbar
    assert signal.mean_imbalance == pytest.approx([-2.5, 2.5, -1.25, 0.0])
    assert signal.scaled_price == pytest.approx([-2.5, 2.5, -1.25, 0.0])
    assert signal.price_eur_mwh == pytest.approx([-agg.rho * u * 1000.0 for u in
                                                  signal.scaled_price])
    rec = agg.records[0]
    assert rec.primal_residual == pytest.approx(np.sqrt(2) * np.linalg.norm([2.5, 2.5, 1.25]))


def test_late_duplicate_unknown_and_invalid_schedules_are_rejected():
    agg = _aggregation(sites=("a", "b", "c"))
    agg.start()
    agg.on_schedule("a", AdmmSchedule(0, [0.0] * T, 0.0))
    with pytest.raises(ProtocolError, match="late or duplicate"):
        agg.on_schedule("a", AdmmSchedule(0, [0.0] * T, 0.0))
    with pytest.raises(ProtocolError, match="not called"):
        agg.on_schedule("mallory", AdmmSchedule(0, [0.0] * T, 0.0))
    with pytest.raises(ProtocolError, match="late or duplicate"):
        agg.on_schedule("b", AdmmSchedule(7, [0.0] * T, 0.0))
    with pytest.raises(ProtocolError, match="schedule_kw has 2 values"):
        agg.on_schedule("b", AdmmSchedule(0, [0.0, 1.0], 0.0))
    assert "b" in agg.dropped and "schedule_kw" in agg.dropped["b"]
    with pytest.raises(ProtocolError, match="non-finite"):
        agg.on_schedule("c", AdmmSchedule(0, [float("nan")] * T, 0.0))
    # the round closed when c was dropped: the next one goes to a alone
    out = agg.take_after_error()
    assert [o.receiver for o in out] == ["a"] and out[0].round == 1
    assert agg.active == ["a"]


def test_a_silent_site_is_dropped_and_the_rest_meet_the_target_without_it():
    sites = random_sites(4, horizon=6, seed=2)
    coupling = random_target(sites[:3], 2)  # feasible for the three that stay
    silent = sites[3].name
    result, agg, solvers = negotiate(sites, coupling, AdmmSettings(eps_abs=1e-5, eps_rel=1e-6),
                                     silent={silent: 5})
    assert result.converged, result.reason
    assert result.dropped == {silent: "missed the deadline of round 5"}
    assert set(result.schedules_kw) == {s.name for s in sites[:3]}
    assert agg.records[5].dropped == [silent] and agg.records[5].active == 3
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    assert np.allclose(total, coupling.target_kw, atol=1e-2)
    reference = solve_centralized(sites[:3], coupling)
    assert abs(result.cost_eur - reference.cost_eur) <= 1e-3 * max(
        abs(reference.cost_eur), sum(abs(v) for v in result.site_cost_eur.values()))
    # every site is told the end; the dropped one that it is out
    assert solvers[silent].final == AdmmDone(agg.round, True, result.iterations, False, [],
                                             result.price_eur_mwh.tolist())
    assert solvers[sites[0].name].final.included


def test_the_iteration_cap_ends_the_negotiation_not_converged():
    sites = random_sites(3, horizon=6, seed=1)
    result, agg, solvers = negotiate(sites, random_target(sites, 1),
                                     AdmmSettings(max_iterations=3))
    assert not result.converged
    assert result.iterations == 3 and "iteration cap" in result.reason
    assert len(agg.records) == 3
    assert all(s.final is not None and not s.final.converged for s in solvers.values())


def test_every_site_dropped_stops_not_converged():
    sites = random_sites(2, horizon=4, seed=0)
    result, _, _ = negotiate(sites, random_target(sites, 0),
                             silent={s.name: 0 for s in sites})
    assert not result.converged and "every site was dropped" in result.reason
    assert set(result.dropped) == {s.name for s in sites}


def test_rho_adapts_by_residual_balancing_and_keeps_the_price():
    sites = random_sites(3, horizon=6, seed=3)
    coupling = random_target(sites, 3)
    _, agg, _ = negotiate(sites, coupling, AdmmSettings(rho=1e-4, max_iterations=30,
                                                         adapt=True))
    rhos = [r.rho for r in agg.records]
    assert rhos[-1] > rhos[0]  # a penalty far too small is raised
    _, agg_fixed, _ = negotiate(sites, coupling, AdmmSettings(rho=1e-4, max_iterations=30,
                                                                   adapt=False))
    assert {r.rho for r in agg_fixed.records} == {1e-4}
    _, agg_until, _ = negotiate(sites, coupling, AdmmSettings(rho=1e-4, max_iterations=30,
                                                               adapt=True, adapt_until=5))
    assert len({r.rho for r in agg_until.records[5:]}) == 1  # settled after iteration 5


def test_site_solver_checks_the_signal():
    site = SiteModel("s", T, 1.0, battery=BatteryParams(
        100.0, 50.0, 50.0, soc_final_min=0.5, degradation_eur_mwh=20.0, wear_eur_kw2h=1e-4))
    solver = AdmmSiteSolver(site)
    ok = AdmmRound(0, T, 1.0, 0.05, [0.0] * T, [1.0] * T, [0.0] * T, 1000)
    answer = solver.on_round(ok)
    assert answer.round == 0 and len(answer.schedule_kw) == T
    with pytest.raises(ProtocolError, match="horizon"):
        solver.on_round(AdmmRound(1, 3, 1.0, 0.05, [0.0] * 3, [0.0] * 3, [0.0] * 3, 1000))
    with pytest.raises(ProtocolError, match="dt_h"):
        solver.on_round(AdmmRound(1, T, 0.25, 0.05, [0.0] * T, [0.0] * T, [0.0] * T, 1000))
    with pytest.raises(ProtocolError, match="rho"):
        solver.on_round(AdmmRound(1, T, 1.0, -1.0, [0.0] * T, [0.0] * T, [0.0] * T, 1000))
    with pytest.raises(ProtocolError, match="round is 5"):
        solver.on_round(AdmmRound(5, T, 1.0, 0.05, [0.0] * T, [0.0] * T, [0.0] * T, 1000))


def test_bad_models_and_settings_name_the_field():
    with pytest.raises(ValueError, match="battery.eta_c"):
        BatteryParams(100.0, 50.0, 50.0, eta_c=1.5)
    with pytest.raises(ValueError, match="battery.soc_init"):
        BatteryParams(100.0, 50.0, 50.0, soc_init=0.95)
    with pytest.raises(ValueError, match="coupling.target_kw must have 4"):
        AdmmAggregation(["a"], TargetCoupling((1.0,)), T, 1.0)
    with pytest.raises(ValueError, match="AdmmSettings.rho"):
        AdmmSettings(rho=0.0)
    with pytest.raises(ValueError, match="AdmmSettings.max_iterations"):
        AdmmSettings(max_iterations=0)


def test_a_rho_change_rescales_the_scaled_dual_so_the_price_is_unchanged():
    # round 0's primal residual is far over 10x the dual: rho doubles
    agg = _aggregation(adapt=True, relaxation=1.0)
    agg.start()
    agg.on_schedule("a", AdmmSchedule(0, [5.0, -5.0, 2.5, 0.0], 1.0))
    signal = agg.on_schedule("b", AdmmSchedule(0, [0.0] * T, 0.0))[0].body
    assert signal.rho == 2 * agg.records[0].rho
    assert signal.scaled_price == pytest.approx([-1.25, 1.25, -0.625, 0.0])  # u / tau
    assert np.mean(signal.price_eur_mwh) == pytest.approx(agg.records[0].price_mean_eur_mwh)


def test_over_relaxed_and_plain_negotiations_reach_the_same_answer():
    sites = random_sites(3, horizon=6, seed=6)
    coupling = random_target(sites, 6)
    plain, _, _ = negotiate(sites, coupling, AdmmSettings(relaxation=1.0, eps_abs=1e-5,
                                                          eps_rel=1e-6))
    relaxed, _, _ = negotiate(sites, coupling, AdmmSettings(relaxation=1.7, eps_abs=1e-5,
                                                            eps_rel=1e-6))
    assert plain.converged and relaxed.converged
    assert relaxed.cost_eur == pytest.approx(plain.cost_eur, rel=1e-4, abs=1e-4)
    for name, x in plain.schedules_kw.items():
        assert np.allclose(relaxed.schedules_kw[name], x, atol=0.05)
    with pytest.raises(ValueError, match="AdmmSettings.relaxation"):
        AdmmSettings(relaxation=2.0)


def test_a_stalled_over_relaxation_falls_back_to_plain_admm_and_still_matches():
    sites = random_sites(3, horizon=6, seed=9)
    coupling = random_target(sites, 9)
    # a one-iteration window: the first round whose primal residual does not halve
    # switches alpha to 1; sites and aggregator must stay consistent across the switch
    settings = AdmmSettings(relaxation=1.8, stall_window=1, eps_abs=1e-5, eps_rel=1e-6,
                            max_iterations=3000)
    result, agg, _ = negotiate(sites, coupling, settings)
    assert result.converged, result.reason
    assert result.relaxation_dropped_at is not None and agg.alpha == 1.0
    reference = solve_centralized(sites, coupling)
    assert abs(result.cost_eur - reference.cost_eur) <= 1e-3 * max(
        abs(reference.cost_eur), sum(abs(v) for v in result.site_cost_eur.values()))
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    assert np.allclose(total, coupling.target_kw, atol=1e-2)
