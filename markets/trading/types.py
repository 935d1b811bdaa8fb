"""The typed records of trading: signals in, orders out, fills, the storage unit, fees."""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
from vpp.physics.battery import BatteryParams

__all__ = ["MARKETS", "Fees", "Fill", "Order", "Rejection", "Signal", "StorageSpec"]

MARKETS = ("day_ahead", "intraday", "ancillary")
"""The markets a trader can use: energy day-ahead, energy intraday, FCR capacity."""

ENERGY_MARKETS = ("day_ahead", "intraday")
"""The markets whose positions the battery must deliver."""

QUANTITY_STEP_MW = 0.1
"""Order quantities are rounded to this grid (the continuous market's quantity tick)."""


class Signal(msgspec.Struct, frozen=True):
    """A strategy wants ``target_mw`` (positive: sold) in ``market`` for ``delivery_hour``.

    ``limit_price_eur_mwh`` bounds the price of the trade that gets there (None: any).
    For ``ancillary`` the target is the MW of capacity offered (>= 0) and the limit is
    in EUR/MW/h.
    """

    market: str
    delivery_hour: int
    target_mw: float
    limit_price_eur_mwh: float | None = None


class Order(msgspec.Struct, frozen=True):
    """One order: ``side`` (``buy``/``sell``) ``quantity_mw`` for one market and hour."""

    strategy: str
    market: str
    delivery_hour: int
    side: str
    quantity_mw: float
    limit_price_eur_mwh: float | None
    decided_hour: int

    @property
    def signed_mw(self) -> float:
        """The order's change of position (positive: sells)."""
        return self.quantity_mw if self.side == "sell" else -self.quantity_mw


class Fill(msgspec.Struct, frozen=True):
    """An executed order: price, fee and the hour it was decided."""

    order: Order
    price_eur_mwh: float
    fee_eur: float


class Rejection(msgspec.Struct, frozen=True):
    """An order that did not leave or did not trade; ``limit`` names why."""

    order: Order
    limit: str
    reason: str


class Fees(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fees per MWh traded (EUR/MWh) in each energy market, per MW offered in FCR."""

    day_ahead_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 0.1
    intraday_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    ancillary_eur_mw: Annotated[float, msgspec.Meta(ge=0)] = 0.0

    def of(self, market: str) -> float:
        """The fee per MWh (or MW) of ``market``."""
        return {"day_ahead": self.day_ahead_eur_mwh, "intraday": self.intraday_eur_mwh,
                "ancillary": self.ancillary_eur_mw}[market]


class StorageSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The trader's battery: energy (MWh), power (MW), round-trip efficiency, SoC window."""

    capacity_mwh: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    power_mw: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    round_trip_efficiency: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    soc_min: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.1
    soc_max: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.9
    initial_soc: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5

    def __post_init__(self) -> None:
        if not self.soc_min <= self.initial_soc <= self.soc_max:
            raise ValueError(f"initial_soc: {self.initial_soc} must lie in [soc_min, soc_max]"
                             f" = [{self.soc_min}, {self.soc_max}]")

    @property
    def eta(self) -> float:
        """The one-way efficiency (charge and discharge alike): sqrt of the round trip."""
        return math.sqrt(self.round_trip_efficiency)

    def battery(self) -> BatteryParams:
        """This battery as the one battery description (kWh, kW): ``power_mw`` both ways,
        :attr:`eta` each way, the same state-of-charge window and initial state."""
        kw_per_mw = 1000.0
        power_kw = self.power_mw * kw_per_mw
        return BatteryParams(capacity_kwh=self.capacity_mwh * kw_per_mw,
                             p_charge_max_kw=power_kw, p_discharge_max_kw=power_kw,
                             eta_c=self.eta, eta_d=self.eta, soc_min=self.soc_min,
                             soc_max=self.soc_max, soc_init=self.initial_soc)

    def scaled(self, share: float) -> StorageSpec:
        """The same battery with ``share`` of its energy and power (for a strategy's part)."""
        return msgspec.structs.replace(self, capacity_mwh=self.capacity_mwh * share,
                                       power_mw=self.power_mw * share)
