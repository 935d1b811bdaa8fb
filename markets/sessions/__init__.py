"""Transport-free market sessions: validation, gate closure, clearing and who is told what.

Each session takes a message body with its sender's address and the clock time, and
returns what to send: :class:`Outgoing` (addressed) and :class:`Publication` (broadcast on
a topic). The agents in ``agents/markets/exchange.py`` only move these. See
``docs/protocols/markets.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for one agent: ``body`` to the address ``receiver``."""

    receiver: str
    body: msgspec.Struct


@dataclass(frozen=True, slots=True)
class Publication:
    """A broadcast: ``body`` on ``topic``."""

    topic: str
    body: msgspec.Struct


Out = Outgoing | Publication
"""Anything a session asks its agent to send or publish."""


class GateClosedError(ValueError):
    """Raised by a session's ``close`` when it has already been cleared."""
