"""The values around an ADMM negotiation: its settings, one iteration's record, its result.

Kept apart from the state machine (:mod:`.protocol`, which re-exports them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from vpp.coordination.admm.feasibility import PRICE_FLOOR_EUR_MWH, VOLL_EUR_MWH


@dataclass(frozen=True)
class AdmmSettings:
    """Tolerances, penalty and its adaptation, iteration cap, round deadline.

    ``eps_abs`` is in kW per element, ``eps_rel`` is relative. Residual balancing
    multiplies or divides ``rho`` by ``tau`` when one residual is over ``mu`` times the
    other; with ``relative_balance`` (default) the residuals are first divided by their
    tolerances ``eps_pri`` and ``eps_dual``, which makes the test unit-free (Wohlberg 2017)
    and, measured on random instances, halves the iterations. It acts at most every
    ``adapt_every`` iterations and not after iteration ``adapt_until``: the penalty must
    settle for ADMM's convergence guarantee to hold, and balancing left on can cycle
    between two values. ``adapt = False`` (the default) keeps rho fixed: from the default
    ``rho`` (about price scale over a site's kW scale), balancing was measured to double the
    iterations on the bench instances. ``relaxation`` is the over-relaxation factor alpha
    in (0, 2) (Boyd sec. 3.4.3); 1.6 by default. Over-relaxation can make nearly linear
    sites cycle (measured with 1.8 on 100 sites: the primal residual stuck at ten times its
    tolerance), so when the primal residual (relative to its tolerance) has not halved over
    ``stall_window`` iterations the aggregator falls back to ``alpha = 1`` for the rest of
    the negotiation (``relaxation_dropped_at`` in the result says when).

    An infeasible coupling (:mod:`.feasibility`): when the primal residual has stayed above
    its tolerance and moved by at most ``stagnation_tolerance`` (relative) over
    ``stagnation_window`` iterations, the negotiation stops, infeasible. Prices are kept in
    ``[price_floor_eur_mwh, voll_eur_mwh]``, and set to those in steps with unserved energy.
    """

    rho: float = 0.005
    eps_abs: float = 1e-4
    eps_rel: float = 1e-5
    max_iterations: int = 500
    adapt: bool = False
    mu: float = 10.0
    tau: float = 2.0
    adapt_every: int = 1
    adapt_until: int = 100
    relative_balance: bool = True
    relaxation: float = 1.6
    stall_window: int = 20
    deadline_ms: int = 2000
    stagnation_window: int = 50
    stagnation_tolerance: float = 1e-3
    voll_eur_mwh: float = VOLL_EUR_MWH
    price_floor_eur_mwh: float = PRICE_FLOOR_EUR_MWH

    def __post_init__(self) -> None:
        for name in ("rho", "eps_abs", "mu", "tau"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"AdmmSettings.{name} must be > 0, got {value!r}")
        if not (math.isfinite(self.eps_rel) and self.eps_rel >= 0):
            raise ValueError(f"AdmmSettings.eps_rel must be >= 0, got {self.eps_rel!r}")
        if self.max_iterations < 1:
            raise ValueError(f"AdmmSettings.max_iterations must be >= 1, "
                             f"got {self.max_iterations!r}")
        if self.adapt_until < 0:
            raise ValueError(f"AdmmSettings.adapt_until must be >= 0, got {self.adapt_until!r}")
        if not (math.isfinite(self.relaxation) and 0.0 < self.relaxation < 2.0):
            raise ValueError(f"AdmmSettings.relaxation must be in (0, 2), "
                             f"got {self.relaxation!r}")
        if self.stall_window < 1:
            raise ValueError(f"AdmmSettings.stall_window must be >= 1, "
                             f"got {self.stall_window!r}")
        if self.adapt_every < 1:
            raise ValueError(f"AdmmSettings.adapt_every must be >= 1, got {self.adapt_every!r}")
        if self.stagnation_window < 1:
            raise ValueError(f"AdmmSettings.stagnation_window must be >= 1, "
                             f"got {self.stagnation_window!r}")
        if not (math.isfinite(self.stagnation_tolerance) and self.stagnation_tolerance >= 0):
            raise ValueError(f"AdmmSettings.stagnation_tolerance must be >= 0, "
                             f"got {self.stagnation_tolerance!r}")
        if not (math.isfinite(self.voll_eur_mwh) and math.isfinite(self.price_floor_eur_mwh)
                and self.price_floor_eur_mwh < self.voll_eur_mwh):
            raise ValueError(f"AdmmSettings.price_floor_eur_mwh must be below voll_eur_mwh, "
                             f"got {self.price_floor_eur_mwh!r} and {self.voll_eur_mwh!r}")


@dataclass(frozen=True)
class IterationRecord:
    """One ADMM iteration, for the trace's ``rounds`` table."""

    round: int
    primal_residual: float
    dual_residual: float
    eps_pri: float
    eps_dual: float
    rho: float
    price_mean_eur_mwh: float
    active: int
    answers: int
    dropped: list[str]


@dataclass(frozen=True)
class AdmmResult:
    """The outcome of a negotiation; ``converged`` is False when it stopped otherwise.

    ``schedules_kw`` hold the last schedules of the sites still included; ``dropped``
    names each dropped site with why. ``cost_eur`` is the sites' reported private costs
    (plus, in market mode, the portfolio's market cost).

    ``infeasible`` is True when the sites cannot meet the coupling (found by their capacity
    bounds before the first update, or by the primal residual's stagnation);
    ``unserved_kwh`` then holds the energy each step misses (``None`` otherwise). After a
    bounds check the negotiation serves what can be served and may still converge
    (``converged`` describes that negotiation); after a stagnation it stops unconverged.
    ``price_eur_mwh`` is capped (``AdmmSettings.voll_eur_mwh`` and
    ``price_floor_eur_mwh``).
    """

    converged: bool
    reason: str
    iterations: int
    schedules_kw: dict[str, np.ndarray]
    site_cost_eur: dict[str, float]
    cost_eur: float
    price_eur_mwh: np.ndarray
    rho: float
    primal_residual: float
    dual_residual: float
    dropped: dict[str, str] = field(default_factory=dict)
    relaxation_dropped_at: int | None = None
    infeasible: bool = False
    unserved_kwh: np.ndarray | None = None
