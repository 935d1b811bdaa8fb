"""ADMM (both sides driven in process) against the centralized cvxpy solve of the same
problem; the local steps (direct QP and cvxpy parameters) agree; batteries never create
energy."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.coordination.admm.driver import negotiate
from vpp.coordination.admm.instances import random_market, random_sites, random_target
from vpp.coordination.admm.local import LocalProblem
from vpp.coordination.admm.protocol import AdmmSettings
from vpp.coordination.admm.qp import DirectLocalProblem
from vpp.coordination.admm.reference import solve_centralized
from vpp.physics.battery import Battery, BatteryParams

TIGHT = AdmmSettings(eps_abs=1e-5, eps_rel=1e-6, max_iterations=3000)


def _gap(result, reference):
    scale = max(abs(reference.cost_eur), sum(abs(v) for v in result.site_cost_eur.values()))
    return abs(result.cost_eur - reference.cost_eur) / scale


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_admm_matches_the_centralized_solve_on_random_instances(seed):
    sites = random_sites(3 + seed, horizon=8, seed=seed)
    coupling = random_target(sites, seed)
    reference = solve_centralized(sites, coupling)
    result, _, _ = negotiate(sites, coupling, TIGHT)
    assert result.converged, result.reason
    assert _gap(result, reference) < 1e-3
    scale = max(float(np.abs(x).max()) for x in reference.schedules_kw.values())
    for site in sites:
        assert np.allclose(result.schedules_kw[site.name], reference.schedules_kw[site.name],
                           atol=5e-3 * scale)
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    assert np.allclose(total, coupling.target_kw, atol=1e-2)
    # the price the sites were led by is the dual of the coupling constraint
    assert np.allclose(result.price_eur_mwh, reference.price_eur_mwh,
                       atol=0.5 + 0.01 * np.abs(reference.price_eur_mwh).max())


def test_admm_matches_the_centralized_solve_in_market_mode():
    sites = random_sites(4, horizon=8, seed=5)
    coupling = random_market(sites, 5)
    reference = solve_centralized(sites, coupling)
    result, _, _ = negotiate(sites, coupling, TIGHT)
    assert result.converged, result.reason
    assert _gap(result, reference) < 1e-3
    total = np.sum(list(result.schedules_kw.values()), axis=0)
    assert (total <= coupling.export_max_kw + 1e-2).all()
    assert (total >= -coupling.import_max_kw - 1e-2).all()
    assert np.allclose(result.price_eur_mwh, reference.price_eur_mwh,
                       atol=0.5 + 0.01 * np.abs(reference.price_eur_mwh).max())


def test_batteries_never_create_energy_in_admm_schedules():
    sites = random_sites(4, horizon=12, seed=7)
    coupling = random_target(sites, 7)
    result, _, solvers = negotiate(sites, coupling, TIGHT)
    assert result.converged
    for site in sites:
        b = site.battery
        assert solvers[site.name].final_exact
        parts = solvers[site.name].last_solution.parts
        charge, discharge = parts["charge"], parts["discharge"]
        assert (charge >= -1e-6).all() and (discharge >= -1e-6).all()
        # the stored energy follows both efficiencies and stays in bounds
        energy = b.soc_init * b.capacity_kwh + np.concatenate([[0.0], np.cumsum(
            b.eta_c * charge * site.dt_h - discharge * site.dt_h / b.eta_d)])
        assert np.allclose(energy, parts["energy"], atol=1e-3)
        assert energy.min() >= b.soc_min * b.capacity_kwh - 1e-3
        assert energy.max() <= b.soc_max * b.capacity_kwh + 1e-3
        assert energy[-1] >= b.soc_final_min * b.capacity_kwh - 1e-3
        # the project's battery model delivers the net schedule without clipping it
        model = Battery(BatteryParams(
            capacity_kwh=b.capacity_kwh, p_charge_max_kw=b.p_charge_max_kw + 1e-6,
            p_discharge_max_kw=b.p_discharge_max_kw + 1e-6, eta_c=b.eta_c, eta_d=b.eta_d,
            soc_min=max(b.soc_min - 1e-6, 0.0), soc_max=min(b.soc_max + 1e-6, 1.0),
            soc_init=b.soc_init))
        for p in discharge - charge:
            state = model.step(float(p), site.dt_h)
            assert abs(state.power_kw - p) < 1e-6
        # what went out can never exceed what came in plus what was stored at the start
        out = float(discharge.sum()) * site.dt_h
        stored_in = float(charge.sum()) * site.dt_h * b.eta_c * b.eta_d
        assert out <= stored_in + (b.soc_init - b.soc_final_min) * b.capacity_kwh * b.eta_d + 1e-6


def test_direct_qp_and_cvxpy_parameters_take_the_same_local_step():
    rng = np.random.default_rng(3)
    for site in random_sites(4, horizon=12, seed=11):
        cvx = LocalProblem(site)
        assert cvx.problem.is_dpp()
        direct = DirectLocalProblem(site)
        for rho in (0.05, 0.05, 0.4, 0.01):  # rho changes: P is updated in place
            center = rng.normal(0.0, 30.0, site.horizon)
            # the exact step (a round's step stops at a working tolerance)
            a, b = cvx.solve(rho, center), direct.solve(rho, center, exact=True)
            assert np.allclose(a.schedule_kw, b.schedule_kw, atol=2e-3)
            assert a.cost_eur == pytest.approx(b.cost_eur, rel=1e-5, abs=1e-5)


def test_cvxpy_local_solver_gives_the_same_negotiation():
    sites = random_sites(3, horizon=6, seed=4)
    coupling = random_target(sites, 4)
    direct, _, _ = negotiate(sites, coupling)
    cvx, _, _ = negotiate(sites, coupling, solver="CLARABEL")
    assert direct.converged and cvx.converged
    assert cvx.cost_eur == pytest.approx(direct.cost_eur, rel=1e-3, abs=1e-3)
