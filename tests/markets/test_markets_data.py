"""Market data: bundled files load with the documented figures; the simulated price process."""

from __future__ import annotations

import numpy as np
import pytest

from vpp.markets.data import (
    PriceProcess,
    load_de_lu_2019,
    load_ember_nl,
    load_omie_curves,
    simulate_prices,
)


def test_de_lu_2019():
    d = load_de_lu_2019()
    assert d.price_eur_mwh.size == 8760
    assert str(d.timestamps_utc[0]) == "2018-12-31T23:00:00"
    assert np.all(np.diff(d.timestamps_utc) == np.timedelta64(3600, "s"))
    assert d.price_eur_mwh.mean() == pytest.approx(38.80, abs=0.01)
    assert d.price_eur_mwh.min() == -61.7
    assert str(d.timestamps_utc[np.argmin(d.price_eur_mwh)]) == "2019-06-08T13:00:00"
    assert int(np.sum(d.price_eur_mwh < 0)) == 223
    wind = d.wind_onshore_mw + d.wind_offshore_mw
    assert np.corrcoef(d.price_eur_mwh, wind)[0, 1] == pytest.approx(-0.35, abs=0.02)
    assert len(d.prices()) == 8760


def test_ember_nl():
    nl = load_ember_nl()
    assert len(nl) == 52606
    assert nl.price_eur_mwh.min() == -500.0
    assert str(nl.timestamps_utc[np.argmin(nl.price_eur_mwh)]).startswith("2023-07-02")
    assert nl.price_eur_mwh.max() == pytest.approx(873.0, abs=0.05)
    y2019 = load_ember_nl(first_year=2019, last_year=2019)
    y2024 = load_ember_nl(first_year=2024)
    assert len(y2019) == 8760 and int(np.sum(y2019.price_eur_mwh < 0)) == 3
    assert int(np.sum(y2024.price_eur_mwh < 0)) == 458


def test_omie_curves():
    o = load_omie_curves()
    assert (o.date, o.hour, o.is_buy.size) == ("02/01/2009", 1, 1940)
    offered = ~o.matched
    assert int(np.sum(offered & o.is_buy)) == 141 and int(np.sum(offered & ~o.is_buy)) == 1100
    # The matched volume balances on both sides.
    assert o.matched_volume_mwh() == pytest.approx(25312.1)
    assert o.quantity_mwh[o.matched & o.is_buy].sum() == pytest.approx(25312.1)
    assert o.highest_matched_sell_price_eur_mwh() == pytest.approx(53.69)
    assert o.price_eur_mwh.max() == pytest.approx(180.3)  # the cap, 18.03 c€/kWh


def test_simulated_prices_are_seeded_and_can_go_negative():
    a = simulate_prices(24 * 365, rng=42)
    b = simulate_prices(24 * 365, rng=np.random.default_rng(42))
    c = simulate_prices(24 * 365, rng=43)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.any(a < 0) and a.max() > 100  # negative hours and spikes, defaults
    p = PriceProcess(floor_eur_mwh=0.0, cap_eur_mwh=60.0)
    clipped = simulate_prices(5000, p, rng=1)
    assert clipped.min() >= 0.0 and clipped.max() <= 60.0


def test_simulated_mean_and_mean_reversion():
    # Without spikes and daily shape, x(t+1) = 0.8 x(t) + 5 N(0,1) around 30:
    # the lag-1 autocorrelation is 0.8, the stationary std 5 / sqrt(1 - 0.64) = 8.33.
    p = PriceProcess(
        mean_eur_mwh=30.0, daily_amplitude_eur_mwh=0.0, mean_reversion_per_hour=0.2,
        volatility_eur_mwh=5.0, spike_probability=0.0,
    )
    x = simulate_prices(200_000, p, rng=3)
    assert x.mean() == pytest.approx(30.0, abs=0.25)
    assert x.std() == pytest.approx(8.33, rel=0.02)
    assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(0.8, abs=0.01)
    # With spikes, the mean shifts by p * (1 - 2 * neg_share) * spike_mean / decay
    # = 0.02 * (1 - 0.5) * 50 / 0.5 = 1.0 EUR/MWh.
    q = PriceProcess(
        mean_eur_mwh=30.0, daily_amplitude_eur_mwh=0.0, volatility_eur_mwh=1.0,
        spike_probability=0.02, spike_mean_eur_mwh=50.0, negative_spike_share=0.25,
        spike_decay_per_hour=0.5,
    )
    assert simulate_prices(400_000, q, rng=4).mean() == pytest.approx(31.0, abs=0.2)


def test_bad_process_parameters_name_the_field():
    with pytest.raises(ValueError, match="mean_reversion_per_hour"):
        simulate_prices(10, PriceProcess(mean_reversion_per_hour=0.0))
    with pytest.raises(ValueError, match="spike_probability"):
        simulate_prices(10, PriceProcess(spike_probability=1.5))
    with pytest.raises(ValueError, match="hours"):
        simulate_prices(-1)
