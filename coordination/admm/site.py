"""A site's side of the ADMM negotiation: answer each round with its proximal step."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
from vpp.coordination.admm.feasibility import net_bounds_kw
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import SiteModel
from vpp.coordination.admm.qp import DirectLocalProblem
from vpp.coordination.admm.solution import LocalSolution, LocalSolveError
from vpp.coordination.errors import ProtocolError

if TYPE_CHECKING:
    from vpp.coordination.admm.local import LocalProblem

log = logging.getLogger(__name__)

DIRECT = "direct"
"""The local solver by default: the direct OSQP form (``qp.py``); any other name is a
cvxpy solver for the parametrized form (``local.py``)."""


class AdmmSiteSolver:
    """Keeps the site's last schedule and answers each :class:`AdmmRound`.

    Round 0 starts a negotiation (the previous schedule is all zeros); a later round must
    follow the last one answered. The local problem is built once, here.

    Args:
        site: the site's private model.
        solver: ``"direct"`` (OSQP on the QP built by hand, the fast path) or a cvxpy
            solver name (``"CLARABEL"``, ``"OSQP"``) for the cvxpy-parameter form.
    """

    def __init__(self, site: SiteModel, solver: str = DIRECT) -> None:
        self.site = site
        self.local: LocalProblem | DirectLocalProblem
        if solver == DIRECT:
            self.local = DirectLocalProblem(site)
        else:  # cvxpy is imported only when a site asks for it
            from vpp.coordination.admm.local import LocalProblem
            self.local = LocalProblem(site, solver)
        self.previous = np.zeros(site.horizon)
        self.consensus = np.zeros(site.horizon)
        self._last_step: tuple[float, np.ndarray] | None = None
        self.last_round = -1
        self.last_solution: LocalSolution | None = None
        self.final: AdmmDone | None = None
        self.final_exact = False
        low, high = net_bounds_kw(site)
        self.bounds_kw = (low.tolist(), high.tolist())

    def on_round(self, msg: AdmmRound) -> AdmmSchedule:
        """Solve ``min f(x) + rho/2 |x - (x_relaxed - imbalance - u)|^2``; return the schedule.

        ``x_relaxed`` is ``x_prev`` in round 0 and without over-relaxation, else
        ``alpha * x_prev + (1 - alpha) * z_prev``.

        Raises :class:`ProtocolError` for a signal that does not fit this site (the field
        is named) and :class:`~coordination.admm.local.LocalSolveError` if the solve fails.
        """
        T = self.site.horizon
        if msg.horizon != T or len(msg.scaled_price) != T or len(msg.mean_imbalance) != T:
            raise ProtocolError(f"AdmmRound.horizon/scaled_price/mean_imbalance must have "
                                f"{T} steps for site {self.site.name}, got {msg.horizon}, "
                                f"{len(msg.scaled_price)}, {len(msg.mean_imbalance)}")
        if not math.isclose(msg.dt_h, self.site.dt_h):
            raise ProtocolError(f"AdmmRound.dt_h is {msg.dt_h}, site {self.site.name} "
                                f"plans with {self.site.dt_h}")
        if not (math.isfinite(msg.rho) and msg.rho > 0):
            raise ProtocolError(f"AdmmRound.rho must be > 0, got {msg.rho!r}")
        alpha = msg.relaxation
        if not (math.isfinite(alpha) and 0.0 < alpha < 2.0):
            raise ProtocolError(f"AdmmRound.relaxation must be in (0, 2), got {alpha!r}")
        if msg.round == 0:
            relaxed = np.zeros(T)
        elif msg.round != self.last_round + 1:
            raise ProtocolError(f"AdmmRound.round is {msg.round}, site {self.site.name} "
                                f"answered round {self.last_round} last")
        elif alpha == 1.0:
            relaxed = self.previous
        else:
            relaxed = alpha * self.previous + (1.0 - alpha) * self.consensus
        u = np.array(msg.scaled_price, dtype=float)
        center = relaxed - np.array(msg.mean_imbalance, dtype=float)
        center -= u
        # ``relaxed`` is finite (zeros or past solutions): a non-finite value in either
        # list makes the centre non-finite, so one test checks both
        if not np.isfinite(center).all():
            raise ProtocolError("AdmmRound.scaled_price or mean_imbalance is not finite")
        if msg.round == 0:
            self.previous = relaxed
            self.final = None
        solution = self.local.solve(msg.rho, center)
        self._last_step = (msg.rho, center)
        self.consensus = center + u  # z of this round: what the aggregator holds for us
        self.previous = solution.schedule_kw
        self.last_round = msg.round
        self.last_solution = solution
        if msg.round == 0:   # with the bounds of its net power, once per negotiation
            return AdmmSchedule(msg.round, solution.schedule_kw.tolist(), solution.cost_eur,
                                *self.bounds_kw)
        return AdmmSchedule(msg.round, solution.schedule_kw.tolist(), solution.cost_eur)

    def on_done(self, msg: AdmmDone) -> None:
        """Keep the negotiation's outcome for this site.

        A round's step is solved to a working tolerance; an included site re-solves its last
        step exactly, so that its dispatch (``last_solution``) keeps every device constraint
        to rounding. If that fails the round's solution stays, ``final_exact`` says so and
        the failure is logged.
        """
        self.final = msg
        self.final_exact = False
        if msg.included and self._last_step is not None:
            rho, center = self._last_step
            try:
                self.last_solution = self.local.solve(rho, center, exact=True)
            except LocalSolveError as exc:
                log.warning("site %s: exact final step failed, keeping the round's: %s",
                            self.site.name, exc)
                return
            self.final_exact = True
