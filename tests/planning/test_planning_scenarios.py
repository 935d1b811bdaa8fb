"""Scenario generation: stated distributions, real bootstrapped errors, reduction."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from vpp.coordination.planning.history import DATA_FILE, error_blocks, load_history
from vpp.coordination.planning.scenarios import (
    ScenarioSet,
    Uncertainty,
    generate_scenarios,
    reduce_scenarios,
)

PRICE = np.array([40.0, 55.0, 48.0, 32.0] * 6)
REN = np.array([0, 0, 50, 120, 200, 150] * 4, dtype=float)
LOAD = np.full(24, 100.0)


def test_zero_uncertainty_gives_the_forecast_in_every_scenario():
    sc = generate_scenarios(PRICE, REN, LOAD, count=7,
                            uncertainty=Uncertainty(0.0, 0.0, 0.0, 0.5))
    assert np.array_equal(sc.price_eur_mwh, np.tile(PRICE, (7, 1)))
    assert np.array_equal(sc.renewable_kw, np.tile(REN, (7, 1)))
    assert np.array_equal(sc.load_kw, np.tile(LOAD, (7, 1)))
    assert np.allclose(sc.probability, 1 / 7)


def test_parametric_errors_have_the_stated_size_and_correlation_in_time():
    u = Uncertainty(price_volatility=0.2, renewable_error=0.0, load_uncertainty=0.1,
                    correlation=0.7)
    sc = generate_scenarios(PRICE, None, LOAD, count=4000, uncertainty=u, seed=3)
    e = (sc.price_eur_mwh - PRICE) / np.mean(np.abs(PRICE))
    assert e.std() == pytest.approx(0.2, rel=0.03)
    lag1 = np.corrcoef(e[:, :-1].ravel(), e[:, 1:].ravel())[0, 1]
    assert lag1 == pytest.approx(0.7, abs=0.03)
    load_err = sc.load_kw / LOAD - 1.0
    assert load_err.std() == pytest.approx(0.1, rel=0.03)
    assert abs(e.mean()) < 0.01


def test_renewables_stay_within_zero_and_capacity():
    sc = generate_scenarios(PRICE, REN, LOAD, count=500,
                            uncertainty=Uncertainty(renewable_error=0.5), seed=1)
    assert sc.renewable_kw.min() == 0.0
    assert sc.renewable_kw.max() == pytest.approx(200.0)


def _rows():
    with open(DATA_FILE, newline="") as f:
        return list(csv.DictReader(f))


def test_bootstrap_lays_real_errors_of_one_day_over_the_forecast():
    sc = generate_scenarios(PRICE, REN, LOAD, count=5, method="bootstrap", seed=11,
                            renewable_capacity_kw=10_000.0)
    rows = _rows()
    prices = np.array([float(r["price_eur_mwh"]) for r in rows])
    # which day did scenario 0 draw? find it from the load error, then check all three
    blocks = error_blocks(24)
    load_err = sc.load_kw[0] / LOAD - 1.0
    day = int(np.argmin(np.abs(blocks.load - load_err).sum(axis=1)))
    start = int(blocks.start_index[day])
    assert rows[start]["timestamp_utc"].endswith("T00:00:00Z")
    r = rows[start + 5]
    expected_load = (float(r["load_actual_entsoe_mw"]) / float(r["load_forecast_entsoe_mw"]))
    assert sc.load_kw[0, 5] == pytest.approx(100.0 * expected_load)
    price_err = (prices[start + 5] - prices[start + 5 - 24]) / np.mean(np.abs(prices))
    assert sc.price_eur_mwh[0, 5] == pytest.approx(PRICE[5] + price_err * np.mean(PRICE))


def test_bootstrap_keeps_the_real_correlation_between_price_and_renewables():
    blocks = error_blocks(24)
    real = np.corrcoef(blocks.price.ravel(), blocks.renewable.ravel())[0, 1]
    assert real < -0.2       # more wind and sun than yesterday: lower prices than yesterday
    sc = generate_scenarios(PRICE, np.full(24, 5e5), LOAD, count=3000, method="bootstrap",
                            renewable_capacity_kw=1e6, seed=2)
    e_p = sc.price_eur_mwh - PRICE
    e_r = sc.renewable_kw - 5e5
    assert np.corrcoef(e_p.ravel(), e_r.ravel())[0, 1] == pytest.approx(real, abs=0.05)


def test_history_is_the_real_year():
    h = load_history()
    assert h.hours == 8760
    assert h.price_eur_mwh.mean() == pytest.approx(38.80, abs=0.01)
    assert h.price_eur_mwh.min() == pytest.approx(-61.7, abs=0.1)


def test_reduction_keeps_members_and_probabilities():
    sc = generate_scenarios(PRICE, REN, LOAD, count=200, seed=5)
    red = reduce_scenarios(sc, 10, seed=0)
    assert red.count <= 10
    assert red.probability.sum() == pytest.approx(1.0)
    for s in range(red.count):
        match = np.flatnonzero((sc.price_eur_mwh == red.price_eur_mwh[s]).all(axis=1))
        assert len(match) == 1
    # the representatives carry the distribution better than 10 scenarios drawn at random
    err = np.abs(red.expected_price() - sc.expected_price()).mean()
    rng = np.random.default_rng(0)
    random_err = np.mean([np.abs(sc.price_eur_mwh[rng.choice(200, 10, replace=False)].mean(0)
                                 - sc.expected_price()).mean() for _ in range(200)])
    assert err < random_err
    assert err < 0.25 * sc.price_eur_mwh.std(axis=0).mean()


@pytest.mark.parametrize("kwargs, field", [
    ({"count": 0}, "count"),
    ({"method": "magic"}, "method"),
    ({"uncertainty": None, "renewable_kw": [1.0] * 3}, "renewable_kw"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    args = {"renewable_kw": REN, **kwargs}
    with pytest.raises(ValueError, match=field):
        generate_scenarios(PRICE, args.pop("renewable_kw"), LOAD, **args)


def test_bad_uncertainty_and_probabilities_name_the_field():
    with pytest.raises(ValueError, match="uncertainty.price_volatility"):
        Uncertainty(price_volatility=-1)
    with pytest.raises(ValueError, match="probability"):
        ScenarioSet(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)), np.array([0.5, 0.6]))
