"""optimize_trading_schedule against an independent cvxpy LP, the battery's physics, and a
hand-worked case; calculate_arbitrage_opportunity on hand-worked spreads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vpp.markets.trading.schedule import calculate_arbitrage_opportunity, optimize_trading_schedule

README_PRICES = [0.06, 0.05, 0.04, 0.08, 0.12, 0.15, 0.18, 0.20, 0.22, 0.15, 0.10, 0.08] * 2


def _cvxpy_profit(prices, capacity, round_trip, power, soc_min, soc_max, soc0, soc_end,
                  fee=0.0):
    """The same battery written independently: SoC variables, both efficiencies."""
    cp = pytest.importorskip("cvxpy")
    p = np.asarray(prices, dtype=float)
    n = p.size
    eta = math.sqrt(round_trip)
    c = cp.Variable(n, nonneg=True)
    d = cp.Variable(n, nonneg=True)
    soc = cp.Variable(n + 1)
    cons = [soc[0] == soc0 * capacity, c <= power, d <= power,
            soc >= soc_min * capacity, soc <= soc_max * capacity,
            soc[n] >= soc_end * capacity]
    cons += [soc[t + 1] == soc[t] + eta * c[t] - d[t] / eta for t in range(n)]
    problem = cp.Problem(cp.Maximize((p - fee) @ d - (p + fee) @ c), cons)
    problem.solve(solver=cp.HIGHS) if "HIGHS" in cp.installed_solvers() else problem.solve()
    return problem.value


def test_readme_prices_earn_what_an_independent_lp_earns():
    s = optimize_trading_schedule(README_PRICES, 1000.0, 0.92)
    ref = _cvxpy_profit(README_PRICES, 1000.0, 0.92, 250.0, 0.1, 0.9, 0.5, 0.5)
    assert s.status == "Optimal"
    assert s.profit == pytest.approx(ref, abs=1e-6)
    assert s.profit == pytest.approx(206.3524265, abs=1e-6)  # the "about $206 a day"
    # the reference returns an idle battery; this one trades
    assert s.charge.sum() > 0 and s.discharge.sum() > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_prices_with_fees_match_the_independent_lp(seed):
    rng = np.random.default_rng(seed)
    prices = rng.normal(50, 30, 48)      # negative prices included
    s = optimize_trading_schedule(prices, 10.0, 0.85, power=3.0, soc_min=0.0, soc_max=1.0,
                                  initial_soc=0.2, final_soc=0.4, fee=0.5)
    ref = _cvxpy_profit(prices, 10.0, 0.85, 3.0, 0.0, 1.0, 0.2, 0.4, fee=0.5)
    assert s.profit == pytest.approx(ref, abs=1e-6)


def test_never_stores_more_than_capacity_and_never_creates_energy():
    rng = np.random.default_rng(5)
    prices = rng.normal(40, 25, 96)
    cap, rt = 1000.0, 0.92
    s = optimize_trading_schedule(prices, cap, rt, soc_min=0.0, soc_max=1.0)
    eta = math.sqrt(rt)
    assert s.energy.max() <= cap + 1e-6 and s.energy.min() >= -1e-6
    assert np.all(s.charge <= 250 + 1e-9) and np.all(s.discharge <= 250 + 1e-9)
    # the stored energy follows the two efficiencies exactly
    e = 0.5 * cap + np.cumsum(eta * s.charge - s.discharge / eta)
    np.testing.assert_allclose(s.energy, e, atol=1e-6)
    # energy out <= energy in * round trip + what was already stored
    assert s.discharge.sum() <= rt * s.charge.sum() + eta * (0.5 * cap - s.energy[-1]) + 1e-6
    assert s.energy[-1] >= 0.5 * cap - 1e-6          # end-of-day energy default
    assert s.simultaneous_periods == 0


def test_hand_worked_two_periods():
    # charge 0.25 at 10 stores 0.9 * 0.25 = 0.225; selling it gives 0.225 * 0.9 = 0.2025 at 30
    s = optimize_trading_schedule([10.0, 30.0], 1.0, 0.81, soc_min=0.0, soc_max=1.0,
                                  initial_soc=0.0, final_soc=0.0)
    np.testing.assert_allclose(s.charge, [0.25, 0.0], atol=1e-9)
    np.testing.assert_allclose(s.discharge, [0.0, 0.2025], atol=1e-9)
    assert s.profit == pytest.approx(30 * 0.2025 - 10 * 0.25)
    np.testing.assert_allclose(s.net_power, [-0.25, 0.2025], atol=1e-9)


def test_flat_prices_leave_the_battery_idle_and_losses_matter():
    s = optimize_trading_schedule([50.0] * 24, 100.0, 0.9)
    assert s.profit == pytest.approx(0.0, abs=1e-9)
    # a 5 % spread does not pay a 10 % round-trip loss
    s = optimize_trading_schedule([50.0, 52.5], 1.0, 0.9, soc_min=0, soc_max=1,
                                  initial_soc=0, final_soc=0)
    assert s.profit == pytest.approx(0.0, abs=1e-9) and s.charge.sum() < 1e-9


@pytest.mark.parametrize("kwargs, field", [
    (dict(prices=[], capacity=1), "prices"),
    (dict(prices=[1, float("nan")], capacity=1), "prices"),
    (dict(prices=[1, 2], capacity=0), "capacity"),
    (dict(prices=[1, 2], capacity=1, efficiency=1.2), "efficiency"),
    (dict(prices=[1, 2], capacity=1, soc_min=0.9, soc_max=0.1), "soc_min"),
    (dict(prices=[1, 2], capacity=1, initial_soc=0.95), "initial_soc"),
    (dict(prices=[1, 2], capacity=1, fee=-1), "fee"),
    (dict(prices=[1, 2], capacity=1, power=-1), "power"),
    (dict(prices=[1, 2], capacity=1, initial_soc=0.1, final_soc=0.9), "no schedule"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        optimize_trading_schedule(**kwargs)


def test_arbitrage_opportunity_hand_worked():
    a = calculate_arbitrage_opportunity(50.0, 70.0, 5.0)
    assert (a.buy_market, a.sell_market, a.spread, a.profit_per_unit) == (1, 2, 20.0, 15.0)
    assert a.profitable
    b = calculate_arbitrage_opportunity(70.0, 50.0, 25.0)
    assert (b.buy_market, b.sell_market, b.profit_per_unit) == (2, 1, -5.0)
    assert not b.profitable
    # through a battery of 81 % round trip: 70 * 0.81 - 50 - 5 = 1.7
    c = calculate_arbitrage_opportunity(50.0, 70.0, 5.0, efficiency=0.81)
    assert c.profit_per_unit == pytest.approx(1.7)
    with pytest.raises(ValueError, match="transaction_cost"):
        calculate_arbitrage_opportunity(1.0, 2.0, -1.0)
    with pytest.raises(ValueError, match="price1"):
        calculate_arbitrage_opportunity(float("inf"), 2.0, 0.0)


def test_negative_prices_never_charge_and_discharge_at_once():
    prices = [-50.0, -80.0, -20.0, 10.0, 60.0, 90.0, -40.0, 30.0]
    kw = dict(soc_min=0.0, soc_max=1.0, initial_soc=0.5, power=0.5)
    relaxed = optimize_trading_schedule(prices, 1.0, 0.81, exclusive=False, **kw)
    ref = _cvxpy_profit(prices, 1.0, 0.81, 0.5, 0.0, 1.0, 0.5, 0.5)
    assert relaxed.profit == pytest.approx(ref, abs=1e-6)
    assert relaxed.simultaneous_periods > 0          # the LP burns energy in losses
    s = optimize_trading_schedule(prices, 1.0, 0.81, **kw)
    assert s.simultaneous_periods == 0
    assert np.all(np.minimum(s.charge, s.discharge) < 1e-9)
    # the net power alone now gives the stored energy, as the battery would
    net = s.net_power
    e = 0.5 + np.cumsum(np.where(net < 0, -net * 0.9, -net / 0.9))
    np.testing.assert_allclose(s.energy, e, atol=1e-9)
    assert 0 < s.profit <= relaxed.profit + 1e-9
