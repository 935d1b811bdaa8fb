"""Message kinds of the ADMM negotiation (``docs/protocols/admm.md``).

Power in kW (positive = injection), one value per step of the horizon; prices in EUR/MWh;
``rho`` in EUR/kW^2 (the penalty of the proximal term); ``scaled_price`` is the scaled
dual ``u`` (kW), so that the price is ``-rho * u * 1000 / dt_h``.
"""

from __future__ import annotations

import msgspec


class AdmmRound(msgspec.Struct, frozen=True):
    """Aggregator -> site: the price signal of iteration ``round``; answer a schedule.

    ``relaxation`` is the over-relaxation factor ``alpha`` (1 = none): from round 1 on a
    site centres its step on ``alpha * x_prev + (1 - alpha) * z_prev`` instead of ``x_prev``
    (``z_prev``, its last consensus value, is its last centre plus the ``scaled_price`` it
    came with).
    """

    round: int
    horizon: int
    dt_h: float
    rho: float
    scaled_price: list[float]
    mean_imbalance: list[float]
    price_eur_mwh: list[float]
    deadline_ms: int
    relaxation: float = 1.0


class AdmmSchedule(msgspec.Struct, frozen=True):
    """Site -> aggregator: the site's schedule for iteration ``round`` and its private cost.

    In round 0 a site also sends ``low_kw`` and ``high_kw``: the lowest and highest net
    power it could have in each step (necessary bounds,
    :func:`~vpp.coordination.admm.feasibility.net_bounds_kw`), from which the aggregator
    tells a target the fleet cannot meet before the first update. Empty: not given.
    """

    round: int
    schedule_kw: list[float]
    local_cost_eur: float
    low_kw: list[float] = []
    high_kw: list[float] = []


class AdmmDone(msgspec.Struct, frozen=True):
    """Aggregator -> site: the negotiation ended; the site's final schedule and the price.

    ``included`` is False for a site dropped during the negotiation (its schedule is then
    empty and counts for nothing).
    """

    round: int
    converged: bool
    iterations: int
    included: bool
    schedule_kw: list[float]
    price_eur_mwh: list[float]


ADMM_KINDS: tuple[type[msgspec.Struct], ...] = (AdmmRound, AdmmSchedule, AdmmDone)
"""Every message kind of this protocol, for registering with a runtime."""
