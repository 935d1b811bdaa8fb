"""Units and currencies of a series, converted to the project's internal units.

Internal units: prices in the data's currency per MWh (``EUR/MWh``, ``USD/MWh``...) and
capacity prices per MW and hour (``EUR/MW/h``); power in MW, energy in MWh, frequency in Hz,
temperature in degC, pressure in Pa, irradiance in W/m2, speed in m/s, shares as fractions
(``1``). A price's currency is kept, never converted (no exchange rate is assumed): it rides
with the series so that reports can show it.

Written as ``EUR/MWh``, ``USD/MWh``, ``€/MWh``, ``$/kWh``, ``£/MWh``, ``c/kWh`` (cents of
the ``currency`` the mapping names), ``c€/kWh``, ``¢/kWh`` (US cents unless ``currency``
says otherwise), ``EUR/kWh``, ``EUR/MW/h``; ``kW``, ``GW``, ``kWh``, ``K``, ``hPa``, ``%``...
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Conversion", "conversion", "currency_of", "is_currency"]

_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY"}
_CENTS = {"c": None, "ct": None, "cent": None, "cents": None, "c€": "EUR", "ct€": "EUR",
          "¢": "USD", "c$": "USD"}
_PHYSICAL = {
    "MW": ("MW", 1.0, 0.0), "kW": ("MW", 1e-3, 0.0), "W": ("MW", 1e-6, 0.0),
    "GW": ("MW", 1e3, 0.0),
    "MWh": ("MWh", 1.0, 0.0), "kWh": ("MWh", 1e-3, 0.0), "Wh": ("MWh", 1e-6, 0.0),
    "GWh": ("MWh", 1e3, 0.0),
    "Hz": ("Hz", 1.0, 0.0), "mHz": ("Hz", 1e-3, 0.0),
    "degC": ("degC", 1.0, 0.0), "°C": ("degC", 1.0, 0.0), "C": ("degC", 1.0, 0.0),
    "K": ("degC", 1.0, -273.15),
    "Pa": ("Pa", 1.0, 0.0), "hPa": ("Pa", 100.0, 0.0), "kPa": ("Pa", 1e3, 0.0),
    "W/m2": ("W/m2", 1.0, 0.0), "W/m²": ("W/m2", 1.0, 0.0), "kW/m2": ("W/m2", 1e3, 0.0),
    "m/s": ("m/s", 1.0, 0.0), "km/h": ("m/s", 1 / 3.6, 0.0),
    "1": ("1", 1.0, 0.0), "pu": ("1", 1.0, 0.0), "%": ("1", 0.01, 0.0),
    "V": ("V", 1.0, 0.0), "kV": ("V", 1e3, 0.0), "deg": ("deg", 1.0, 0.0),
}
_PER_ENERGY = {"MWh": 1.0, "kWh": 1e3, "Wh": 1e6, "GWh": 1e-3}
_CODE = re.compile(r"^[A-Z]{3}$")


def is_currency(code: str) -> bool:
    """True for a three-letter ISO 4217 style code (``EUR``, ``USD``...)."""
    return bool(_CODE.match(code))


@dataclass(frozen=True, slots=True)
class Conversion:
    """``internal = value * factor + offset``, in ``unit``; ``currency`` for a price."""

    unit: str
    factor: float
    offset: float = 0.0
    currency: str | None = None

    def apply(self, values):
        """The values in the internal unit (the same object when nothing changes)."""
        if self.factor == 1.0 and self.offset == 0.0:
            return values
        return values * self.factor + self.offset


def _money(text: str, currency: str | None) -> tuple[str, float] | None:
    """The currency and the factor to whole units of it, for a price's numerator."""
    if text in _SYMBOLS:
        return _SYMBOLS[text], 1.0
    if is_currency(text):
        return text, 1.0
    if text in _CENTS:
        implied = _CENTS[text]
        code = currency or implied
        if code is None:
            raise ValueError(f"{text}/... is a price in cents: say which currency "
                             f"(`currency: EUR`)")
        return code, 0.01
    return None


def conversion(unit: str | None, currency: str | None = None) -> Conversion | None:
    """How to bring values in ``unit`` to the internal unit; None when ``unit`` is None
    (the values are taken as they are, unit unknown).

    Raises:
        ValueError: an unknown unit, a price in cents without a currency, or a unit whose
            currency differs from ``currency``.
    """
    if unit is None:
        return None
    text = unit.strip().replace(" ", "")
    if text in _PHYSICAL:
        internal, factor, offset = _PHYSICAL[text]
        return Conversion(internal, factor, offset)
    parts = text.split("/")
    if len(parts) in (2, 3):
        money = _money(parts[0], currency)
        if money is not None:
            code, scale = money
            if currency is not None and code != currency:
                raise ValueError(f"unit {unit!r} is in {code}, but `currency` says {currency}")
            if len(parts) == 2 and parts[1] in _PER_ENERGY:
                return Conversion(f"{code}/MWh", scale * _PER_ENERGY[parts[1]], 0.0, code)
            per_power = {"MW": 1.0, "kW": 1e3}
            if len(parts) == 3 and parts[1] in per_power and parts[2] == "h":
                return Conversion(f"{code}/MW/h", scale * per_power[parts[1]], 0.0, code)
            if len(parts) == 2 and parts[1] in ("MWh/h",):
                return Conversion(f"{code}/MW/h", scale, 0.0, code)
    raise ValueError(f"unknown unit {unit[:40]!r} (prices: EUR/MWh, USD/MWh, €/MWh, $/kWh, "
                     f"c/kWh with `currency`, EUR/MW/h; power: W, kW, MW, GW; energy: kWh, "
                     f"MWh; Hz, degC, K, Pa, hPa, W/m2, m/s, %, 1)")


def currency_of(unit: str | None, currency: str | None = None) -> str | None:
    """The currency a unit names (or ``currency`` for cents), None for a physical unit."""
    conv = conversion(unit, currency)
    return None if conv is None else conv.currency
