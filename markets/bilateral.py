"""Bilateral contracts settled against the day-ahead price series.

Contracts run for ``delivery_hours`` whole hours from ``delivery_start`` (a
timezone-aware datetime, compared in UTC).  Volumes in MW held for each hour, so
an hour's energy in MWh equals its MW.  Prices in EUR/MWh, money in EUR.

* ``FixedPriceContract`` (physical, baseload): the seller delivers ``volume_mw``
  every hour; the buyer pays ``price_eur_mwh`` per MWh.
* ``ContractForDifference`` (financial): each hour the buyer (the counterparty)
  pays the seller (the generator) ``(strike - spot) * volume``; a negative amount
  flows the other way.  ``two_way=False`` pays only when spot is below the strike;
  ``no_payment_below_eur_mwh`` suspends the payment in hours whose spot price is
  below that level (as some support schemes do for negative prices).
* ``ShapedPPA`` (physical, profile): the seller delivers ``shape_mw[h]`` in hour
  ``h`` at a fixed price.  A shape of 24 values repeats every day, counted from
  ``delivery_start``; otherwise it must have one value per delivery hour.

Settlement reports, over the delivery hours: the energy, the contract payment from
buyer to seller, the spot value of the same energy (energy x day-ahead price),
and the buyer's gain against buying that energy at the day-ahead price
(``spot_value - payment`` for physical contracts; ``-payment`` for a CfD, whose
energy is traded at spot separately).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Literal, Union

import msgspec
import numpy as np
from vpp.markets.data import PriceSeries

__all__ = [
    "FixedPriceContract",
    "ContractForDifference",
    "ShapedPPA",
    "Contract",
    "ContractSettlement",
    "settle",
]

logger = logging.getLogger(__name__)


class _Terms(msgspec.Struct, frozen=True, kw_only=True):
    """Fields common to every contract."""

    contract_id: str
    buyer: str
    seller: str
    delivery_start: datetime
    delivery_hours: int


class FixedPriceContract(_Terms, frozen=True, kw_only=True, tag="fixed_price"):
    """Physical baseload delivery of ``volume_mw`` every hour at ``price_eur_mwh``."""

    volume_mw: float
    price_eur_mwh: float


class ContractForDifference(_Terms, frozen=True, kw_only=True, tag="cfd"):
    """Financial difference payment ``(strike - spot) * volume_mw`` each hour."""

    volume_mw: float
    strike_eur_mwh: float
    two_way: bool = True
    no_payment_below_eur_mwh: float | None = None


class ShapedPPA(_Terms, frozen=True, kw_only=True, tag="shaped_ppa"):
    """Physical delivery of an hourly MW profile at a fixed ``price_eur_mwh``."""

    shape_mw: list[float]
    price_eur_mwh: float


Contract = Union[FixedPriceContract, ContractForDifference, ShapedPPA]


class ContractSettlement(msgspec.Struct, frozen=True):
    """Money of one contract over its delivery hours (EUR; positive = buyer pays seller)."""

    contract_id: str
    kind: Literal["fixed_price", "cfd", "shaped_ppa"]
    hours: int
    energy_mwh: float
    payment_eur: float
    spot_value_eur: float
    buyer_gain_vs_spot_eur: float
    average_spot_eur_mwh: float
    hourly_payment_eur: list[float]


def _delivery_prices(contract: _Terms, prices: PriceSeries) -> np.ndarray:
    """Day-ahead prices of the contract's delivery hours; ValueError names a missing hour."""
    start = contract.delivery_start
    if start.tzinfo is None:
        raise ValueError(f"delivery_start: {start} must be timezone-aware (UTC)")
    if contract.delivery_hours <= 0:
        raise ValueError(f"delivery_hours: {contract.delivery_hours} must be > 0")
    if start.minute or start.second or start.microsecond:
        raise ValueError(f"delivery_start: {start} must be on a whole hour")
    first = np.datetime64(start.astimezone(timezone.utc).replace(tzinfo=None), "s")
    wanted = first + np.arange(contract.delivery_hours) * np.timedelta64(3600, "s")
    stamps = prices.timestamps_utc.astype("datetime64[s]")
    idx = np.searchsorted(stamps, wanted)
    found = idx < stamps.size
    found[found] = stamps[idx[found]] == wanted[found]
    if not np.all(found):
        missing = wanted[np.argmin(found)]
        raise ValueError(
            f"delivery_start/delivery_hours: no day-ahead price for {missing} UTC "
            f"in {prices.source!r}"
        )
    return prices.price_eur_mwh[idx]


def _shape(contract: ShapedPPA) -> np.ndarray:
    """Hourly MW of a shaped PPA (a 24-value shape repeats daily)."""
    shape = np.asarray(contract.shape_mw, dtype=np.float64)
    n = contract.delivery_hours
    if shape.size == n:
        return shape
    if shape.size == 24:
        return shape[np.arange(n) % 24]
    raise ValueError(
        f"shape_mw: {shape.size} values; need 24 (daily) or delivery_hours = {n}"
    )


def settle(contract: Contract, prices: PriceSeries) -> ContractSettlement:
    """Settle a contract against the day-ahead price series (see the module docstring)."""
    spot = _delivery_prices(contract, prices)
    if isinstance(contract, FixedPriceContract):
        volume = np.full(spot.size, contract.volume_mw)
        hourly = contract.price_eur_mwh * volume
        kind = "fixed_price"
    elif isinstance(contract, ShapedPPA):
        volume = _shape(contract)
        hourly = contract.price_eur_mwh * volume
        kind = "shaped_ppa"
    elif isinstance(contract, ContractForDifference):
        volume = np.full(spot.size, contract.volume_mw)
        diff = contract.strike_eur_mwh - spot
        if not contract.two_way:
            diff = np.maximum(diff, 0.0)
        if contract.no_payment_below_eur_mwh is not None:
            diff = np.where(spot < contract.no_payment_below_eur_mwh, 0.0, diff)
        hourly = diff * volume
        kind = "cfd"
    else:
        raise TypeError(f"contract: unsupported contract type {type(contract).__name__}")
    if np.any(volume < 0.0):
        raise ValueError(f"volume_mw/shape_mw: contract {contract.contract_id!r} has a negative MW")
    energy = float(volume.sum())
    payment = float(hourly.sum())
    spot_value = float(np.dot(volume, spot))
    gain = -payment if kind == "cfd" else spot_value - payment
    return ContractSettlement(
        contract_id=contract.contract_id,
        kind=kind,
        hours=int(spot.size),
        energy_mwh=energy,
        payment_eur=payment,
        spot_value_eur=spot_value,
        buyer_gain_vs_spot_eur=gain,
        average_spot_eur_mwh=float(spot.mean()),
        hourly_payment_eur=hourly.tolist(),
    )
