"""The operations' message kinds, broadcast on the ``ops`` topic (so each is traced)."""

from __future__ import annotations

from typing import Any

import msgspec

OPS_TOPIC = "ops"
"""The topic of reloads and alerts."""


class FieldChange(msgspec.Struct, array_like=True, frozen=True):
    """One field of a configuration that changed: its path (``$.negotiation.max_rounds``),
    the value before and after."""

    path: str
    old: Any
    new: Any


class ConfigReloaded(msgspec.Struct, frozen=True):
    """A validated edit: ``applied`` took effect from step ``from_step``; ``restart``
    lists the changes that need a restart (they did not take effect)."""

    source: str
    version: int
    from_step: int
    applied: list[FieldChange]
    restart: list[FieldChange]
    apply_ms: float


class ReloadRejected(msgspec.Struct, frozen=True):
    """An edit that did not validate; the running configuration stays. ``error`` names
    the file and the field."""

    source: str
    error: str


class AlertRaised(msgspec.Struct, frozen=True):
    """An alert rule's condition held for its hold time."""

    rule: str
    subject: str
    metric: str
    value: float
    threshold: float
    severity: str
    message: str


class AlertCleared(msgspec.Struct, frozen=True):
    """An alert's condition no longer holds."""

    rule: str
    subject: str
    metric: str
    value: float


OPS_KINDS = (ConfigReloaded, ReloadRejected, AlertRaised, AlertCleared)
