"""Bilateral contracts: settlements against hand-worked values and the real 2019 series."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import msgspec
import numpy as np
import pytest

from vpp.markets.bilateral import (
    Contract,
    ContractForDifference,
    FixedPriceContract,
    ShapedPPA,
    settle,
)
from vpp.markets.data import PriceSeries, load_de_lu_2019

T0 = datetime(2019, 6, 8, 10, tzinfo=timezone.utc)
# Four hours of spot prices, EUR/MWh.
PRICES = PriceSeries(
    np.datetime64("2019-06-08T10:00:00") + np.arange(4) * np.timedelta64(3600, "s"),
    np.array([30.0, 50.0, -10.0, 80.0]),
    "hand-made",
)
TERMS = dict(buyer="retailer", seller="windfarm", delivery_start=T0, delivery_hours=4)


def test_fixed_price():
    # 10 MW x 4 h = 40 MWh at 45 -> buyer pays 1800 EUR.
    # Spot value 10 * (30 + 50 - 10 + 80) = 1500 -> buyer is 300 EUR worse than spot.
    s = settle(FixedPriceContract(contract_id="f", volume_mw=10.0, price_eur_mwh=45.0, **TERMS), PRICES)
    assert (s.energy_mwh, s.payment_eur, s.spot_value_eur) == (40.0, 1800.0, 1500.0)
    assert s.buyer_gain_vs_spot_eur == -300.0 and s.average_spot_eur_mwh == 37.5


def test_cfd_two_way_one_way_and_negative_hours():
    # Strike 45, 10 MW: (45-30, 45-50, 45+10, 45-80) * 10 = 150, -50, 550, -350 -> 300 EUR.
    # The generator's spot revenue 1500 + 300 = 1800 = 45 * 40: the strike, as intended.
    cfd = ContractForDifference(contract_id="c", volume_mw=10.0, strike_eur_mwh=45.0, **TERMS)
    s = settle(cfd, PRICES)
    assert s.hourly_payment_eur == [150.0, -50.0, 550.0, -350.0]
    assert s.payment_eur == 300.0 and s.spot_value_eur + s.payment_eur == 45.0 * 40
    assert s.buyer_gain_vs_spot_eur == -300.0
    # One-way: only the positive differences, 150 + 550 = 700.
    assert settle(msgspec.structs.replace(cfd, two_way=False), PRICES).payment_eur == 700.0
    # No payment while spot < 0: the -10 hour pays 0 -> 150 - 50 + 0 - 350 = -250.
    s = settle(msgspec.structs.replace(cfd, no_payment_below_eur_mwh=0.0), PRICES)
    assert s.payment_eur == -250.0


def test_shaped_ppa():
    # Shape 5, 10, 0, 20 MW = 35 MWh at 40 -> 1400 EUR. Spot value
    # 5*30 + 10*50 + 0*(-10) + 20*80 = 2250 -> buyer gains 850 EUR against spot.
    ppa = ShapedPPA(contract_id="s", shape_mw=[5.0, 10.0, 0.0, 20.0], price_eur_mwh=40.0, **TERMS)
    s = settle(ppa, PRICES)
    assert (s.energy_mwh, s.payment_eur, s.spot_value_eur, s.buyer_gain_vs_spot_eur) == (
        35.0, 1400.0, 2250.0, 850.0,
    )


def test_daily_shape_repeats_and_real_year():
    data = load_de_lu_2019().prices()
    start = datetime(2019, 1, 1, 0, tzinfo=timezone.utc)
    # A solar-like 24-h shape over 2 days: 1 MW from 10:00 to 15:59 UTC, 6 MWh a day.
    shape = [1.0 if 10 <= h < 16 else 0.0 for h in range(24)]
    ppa = ShapedPPA(contract_id="pv", buyer="b", seller="s", delivery_start=start,
                    delivery_hours=48, shape_mw=shape, price_eur_mwh=35.0)
    s = settle(ppa, data)
    i0 = 1  # 2019-01-01T00:00Z is the second row (the file starts 2018-12-31T23:00Z)
    day_prices = data.price_eur_mwh[i0:i0 + 48]
    mask = np.tile(np.array(shape) > 0, 2)
    assert s.energy_mwh == 12.0 and s.payment_eur == 12 * 35.0
    assert s.spot_value_eur == pytest.approx(day_prices[mask].sum())
    # Baseload 1 MW over all 8760 hours at the year's mean price: buyer gain ~ 0.
    base = FixedPriceContract(contract_id="y", buyer="b", seller="s",
                              delivery_start=start - timedelta(hours=1), delivery_hours=8760,
                              volume_mw=1.0, price_eur_mwh=38.80)
    y = settle(base, data)
    assert y.buyer_gain_vs_spot_eur == pytest.approx(data.price_eur_mwh.sum() - 38.80 * 8760)
    assert abs(y.buyer_gain_vs_spot_eur) < 50.0  # mean price 38.8034 EUR/MWh


def test_errors_name_the_field_and_contracts_decode_by_tag():
    late = FixedPriceContract(contract_id="x", volume_mw=1.0, price_eur_mwh=1.0,
                              **{**TERMS, "delivery_hours": 5})
    with pytest.raises(ValueError, match="delivery_start/delivery_hours"):
        settle(late, PRICES)
    naive = FixedPriceContract(contract_id="x", volume_mw=1.0, price_eur_mwh=1.0,
                               **{**TERMS, "delivery_start": datetime(2019, 6, 8, 10)})
    with pytest.raises(ValueError, match="delivery_start"):
        settle(naive, PRICES)
    bad_shape = ShapedPPA(contract_id="s", shape_mw=[1.0] * 3, price_eur_mwh=1.0, **TERMS)
    with pytest.raises(ValueError, match="shape_mw"):
        settle(bad_shape, PRICES)
    cfd = ContractForDifference(contract_id="c", volume_mw=10.0, strike_eur_mwh=45.0, **TERMS)
    wire = msgspec.msgpack.encode(cfd)
    assert msgspec.msgpack.decode(wire, type=Contract) == cfd
