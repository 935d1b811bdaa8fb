"""Parameter checks that raise ``ValueError`` naming the offending field."""

from __future__ import annotations

import math


def finite(field: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{field} must be finite, got {value!r}")
    return x


def bounded(field: str, value: float, limit: float) -> float:
    """Return ``value`` if it is finite and its magnitude is at most ``limit``."""
    x = finite(field, value)
    if abs(x) > limit:
        raise ValueError(f"{field} must be at most {limit:g} in magnitude, got {value!r}")
    return x


def positive(field: str, value: float) -> float:
    """Return ``value`` if it is finite and > 0."""
    x = finite(field, value)
    if x <= 0.0:
        raise ValueError(f"{field} must be > 0, got {value!r}")
    return x


def non_negative(field: str, value: float) -> float:
    """Return ``value`` if it is finite and >= 0."""
    x = finite(field, value)
    if x < 0.0:
        raise ValueError(f"{field} must be >= 0, got {value!r}")
    return x


def fraction(field: str, value: float, *, open_low: bool = False) -> float:
    """Return ``value`` if it is in [0, 1] (or (0, 1] when ``open_low``)."""
    x = finite(field, value)
    if (x <= 0.0 if open_low else x < 0.0) or x > 1.0:
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"{field} must be in {interval}, got {value!r}")
    return x


def ordered(field_low: str, low: float, field_high: str, high: float) -> None:
    """Raise unless ``low <= high``."""
    if low > high:
        raise ValueError(f"{field_low} ({low!r}) must be <= {field_high} ({high!r})")


def time_step(field: str, dt: float) -> float:
    """Return a positive, finite time step."""
    return positive(field, dt)
