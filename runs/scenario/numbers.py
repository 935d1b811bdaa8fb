"""Numbers in a scenario: finite, and within physical caps stated once, by unit.

Fields are named by their unit (``p_max_kw``, ``capacity_kwh``, ``cost_eur_mwh``), so one
walk over a validated scenario checks every number: each must be finite (YAML's ``.nan``
and ``.inf`` are refused), and one in a unit below must not exceed its cap in magnitude.
The caps are far above any real device or fleet, and low enough that sums over a fleet
and a year stay exact in floating point: a device of ``p_max_kw: 1e308`` is refused
here, naming the field, rather than overflowing a sum later.

A strategy's ``params`` are the plug-in's to check and are not walked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import msgspec
from vpp.physics._validate import bounded

__all__ = ["CAPS", "check_numbers"]

CAPS: dict[str, tuple[float, str]] = {
    "_kw": (1e8, "100 GW"),
    "_mw": (1e5, "100 GW"),
    "_kva": (1e8, "100 GVA"),
    "_kwh": (1e10, "10 TWh"),
    "_eur_mwh": (1e5, "100,000 EUR/MWh"),
    "_eur_mw_h": (1e5, "100,000 EUR/MW/h"),
    "_eur_kw2h": (1e5, "100,000 EUR/kW^2/h"),
    "_eur": (1e12, "10^12 EUR"),
}
"""Unit suffix -> (largest magnitude, the cap in words). The longest suffix that a field's
name ends with applies; fields in other units are only checked to be finite."""

_SUFFIXES = sorted(CAPS, key=len, reverse=True)
_SKIP = frozenset({"params"})


def _cap(name: str) -> tuple[float, str] | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return CAPS[suffix]
    return None


def check_numbers(value: Any, fail: Callable[[str, str], None], path: str = "",
                  name: str = "") -> None:
    """Walk ``value`` (msgspec Structs, lists, tuples, dicts, numbers) and call
    ``fail(field path, message)`` at the first number that is not finite or is beyond
    the cap of its field's unit (:data:`CAPS`)."""
    stack: list[tuple[Any, str, str]] = [(value, path, name)]
    while stack:
        obj, where, field = stack.pop()
        if isinstance(obj, float):
            cap = _cap(field)
            try:
                bounded(field or "value", obj, cap[0] if cap else math.inf)
            except ValueError as exc:
                fail(where, str(exc) + (f" (the cap: {cap[1]})" if cap and
                                        math.isfinite(obj) else ""))
        elif isinstance(obj, msgspec.Struct):
            for key in reversed(obj.__struct_fields__):
                if key not in _SKIP:
                    stack.append((getattr(obj, key), f"{where}.{key}" if where else key, key))
        elif isinstance(obj, (list, tuple)):
            stack.extend((item, f"{where}[{i}]", field)
                         for i, item in reversed(list(enumerate(obj))))
        elif isinstance(obj, dict):
            stack.extend((item, f"{where}.{key}", field) for key, item in obj.items())
