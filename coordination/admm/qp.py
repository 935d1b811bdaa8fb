"""A site's local ADMM step as a direct QP for OSQP: built once, updated and re-solved warm.

The decision vector ``y`` stacks the devices' variables (battery charge ``c``, discharge
``d``, energy ``e``; generation ``p``; load ``l``); the net schedule is ``x = M y`` with
``M = [-I, I, 0, I, -I]`` over the blocks present. The private cost is
``1/2 y'Qy + q0'y + const`` (``Q`` diagonal), the same cost as ``formulation.py`` (a test
checks both give the same step). Each round only ``q = q0 - rho M'v`` changes, and ``P``'s
values when ``rho`` changes (its sparsity pattern never does), so OSQP keeps its
factorisation pattern and starts from the last solution.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import osqp
import scipy.sparse as sp
from vpp.coordination.admm.model import SiteModel
from vpp.coordination.admm.osqp_note import osqp_output_filtered
from vpp.coordination.admm.solution import LocalSolution, LocalSolveError

log = logging.getLogger(__name__)

_SETTINGS = {"verbose": False, "eps_abs": 1e-4, "eps_rel": 1e-4, "max_iter": 100_000,
             "polishing": False, "warm_starting": True, "check_termination": 5}
"""OSQP settings of a negotiation round. A round's step need not be exact (the next round
corrects it, and warm starts keep the error shrinking): measured on the bench instances,
1e-4 without polishing (which failed on about two solves in three, at the price of a
factorisation each) takes about a quarter of the time per solve of 1e-7 with polishing,
for an unchanged ADMM cost gap. The termination test every 5 iterations (not 25) lets a
warm start end early."""

_EXACT = {"eps_abs": 1e-7, "eps_rel": 1e-7, "polishing": True}
"""Settings of an exact step (``solve(..., exact=True)``): the site's final dispatch."""


class DirectLocalProblem:
    """The proximal problem of one site as an OSQP instance (same interface as
    :class:`~coordination.admm.local.LocalProblem`).

    Args:
        site: the site's private model.
    """

    def __init__(self, site: SiteModel) -> None:
        self.site = site
        T, dt = site.horizon, site.dt_h
        eye = sp.identity(T, format="csc")
        blocks: list[tuple[str, int]] = []  # (name, size)
        m_cols, qdiag, q0, lo, hi = [], [], [], [], []
        const = 0.0
        b = site.battery
        if b is not None:
            e_lo = np.full(T + 1, b.e_min_kwh)
            e_hi = np.full(T + 1, b.e_max_kwh)
            e_lo[0] = e_hi[0] = b.e_init_kwh
            e_lo[T] = max(b.e_min_kwh, b.e_final_min_kwh)
            for name, pmax, sign in (("charge", b.p_charge_max_kw, -1.0),
                                     ("discharge", b.p_discharge_max_kw, 1.0)):
                blocks.append((name, T))
                m_cols.append(sign * eye)
                qdiag.append(np.full(T, 2.0 * b.wear_eur_kw2h * dt))
                q0.append(np.full(T, b.degradation_eur_kwh * dt))
                lo.append(np.zeros(T))
                hi.append(np.full(T, pmax))
            blocks.append(("energy", T + 1))
            m_cols.append(sp.csc_matrix((T, T + 1)))
            qdiag.append(np.zeros(T + 1))
            q0.append(np.zeros(T + 1))
            lo.append(e_lo)
            hi.append(e_hi)
        g = site.generator
        if g is not None:
            avail = np.asarray(g.available_kw, dtype=float)
            blocks.append(("generation", T))
            m_cols.append(eye)
            qdiag.append(np.full(T, 2.0 * (g.fuel_quad + g.curtail_quad) * dt))
            q0.append(np.full(T, (g.fuel_eur_mwh - g.curtail_eur_mwh) * dt / 1000.0)
                      - 2.0 * g.curtail_quad * dt * avail)
            const += g.curtail_eur_mwh * dt / 1000.0 * avail.sum()
            const += g.curtail_quad * dt * float(avail @ avail)
            lo.append(np.zeros(T))
            hi.append(avail)
        ld = site.load
        if ld is not None:
            base = np.asarray(ld.baseline_kw, dtype=float)
            blocks.append(("load", T))
            m_cols.append(-eye)
            qdiag.append(np.full(T, 2.0 * ld.discomfort_quad * dt))
            q0.append(-2.0 * ld.discomfort_quad * dt * base)
            const += ld.discomfort_quad * dt * float(base @ base)
            lo.append(np.asarray(ld.min_kw, dtype=float))
            hi.append(np.asarray(ld.max_kw, dtype=float))
        self.M = sp.hstack(m_cols, format="csc")
        self.Q = np.concatenate(qdiag)
        self.q0 = np.concatenate(q0)
        if site.tariff_eur_mwh:
            self.q0 = self.q0 - (dt / 1000.0) * (self.M.T @ np.asarray(site.tariff_eur_mwh))
        self.const = const
        # small (T x n) dense copies: a dense product costs a microsecond, scipy's far more
        self._m_dense = self.M.toarray()
        self._mt_dense = np.ascontiguousarray(self._m_dense.T)
        n = self.M.shape[1]
        self.slices: dict[str, slice] = {}
        start = 0
        for name, size in blocks:
            self.slices[name] = slice(start, start + size)
            start += size
        rows = [sp.identity(n, format="csc")]
        lows, highs = [np.concatenate(lo)], [np.concatenate(hi)]
        if b is not None:
            dyn = sp.lil_matrix((T, n))
            c0, d0, e0 = (self.slices[k].start for k in ("charge", "discharge", "energy"))
            for t in range(T):
                dyn[t, e0 + t + 1] = 1.0
                dyn[t, e0 + t] = -1.0
                dyn[t, c0 + t] = -b.eta_c * dt
                dyn[t, d0 + t] = dt / b.eta_d
            rows.append(dyn.tocsc())
            lows.append(np.zeros(T))
            highs.append(np.zeros(T))
        if ld is not None:
            row = sp.lil_matrix((1, n))
            for col in range(self.slices["load"].start, self.slices["load"].stop):
                row[0, col] = 1.0
            rows.append(row.tocsc())
            total = float(np.sum(ld.baseline_kw))
            lows.append(np.array([total]))
            highs.append(np.array([total]))
        self.A = sp.vstack(rows, format="csc")
        self._box_lo, self._box_hi = lows[0], highs[0]
        self.l = np.concatenate(lows)
        self.u = np.concatenate(highs)
        mtm = (self.M.T @ self.M).tocsc()
        pattern = sp.triu(sp.diags(self.Q + 1.0) + mtm, format="csc")
        pattern.sort_indices()
        rows_of = pattern.indices
        cols_of = np.repeat(np.arange(n), np.diff(pattern.indptr))
        diag = rows_of == cols_of
        self._p_fixed = np.where(diag, self.Q[rows_of], 0.0)
        mtm_triu = sp.triu(mtm, format="csc")
        self._p_rho = np.asarray(mtm_triu[rows_of, cols_of]).ravel()
        self._pattern = pattern
        # set up (and factorise) now, not in the first round: a round has a deadline
        self._rho = 1.0
        P = self._pattern.copy()
        P.data = self._p_data(self._rho)
        self._solver = osqp.OSQP()
        self._solver.setup(P, self.q0, self.A, self.l, self.u, **_SETTINGS)
        self.solves = 0
        self.inner_iterations = 0

    def _p_data(self, rho: float) -> np.ndarray:
        return self._p_fixed + rho * self._p_rho

    def cost(self, y: np.ndarray) -> float:
        """The private cost (EUR) of the device variables ``y``."""
        return float(0.5 * y @ (self.Q * y) + self.q0 @ y + self.const)

    def solve(self, rho: float, center: np.ndarray, exact: bool = False) -> LocalSolution:
        """``argmin f(x) + rho/2 |x - center|^2``; raise :class:`LocalSolveError` if none.

        A round's step stops at OSQP tolerance 1e-4; ``exact`` solves to 1e-7 and polishes
        (device constraints then hold to rounding, e.g. a battery's energy balance).
        """
        if not (math.isfinite(rho) and rho > 0):
            raise LocalSolveError(f"site {self.site.name}: rho must be > 0, got {rho!r}")
        q = self.q0 - rho * (self._mt_dense @ np.asarray(center, dtype=float))
        if rho != self._rho:
            self._solver.update(q=q, Px=self._p_data(rho))
        else:
            self._solver.update(q=q)
        self._rho = rho
        if exact:
            self._solver.update_settings(**_EXACT)
            with osqp_output_filtered():  # a polish with no active set prints (osqp#785)
                result = self._solver.solve(raise_error=False)
            self._solver.update_settings(**{k: _SETTINGS[k] for k in _EXACT})
        else:
            result = self._solver.solve(raise_error=False)
        status = result.info.status
        if status not in ("solved", "solved inaccurate"):
            raise LocalSolveError(f"site {self.site.name}: OSQP says {status}")
        if status != "solved":
            log.warning("site %s: local solve %s", self.site.name, status)
        self.solves += 1
        self.inner_iterations += result.info.iter
        # an unpolished answer keeps its bounds to OSQP's tolerance only: clip onto the boxes
        y = np.clip(result.x, self._box_lo, self._box_hi)
        # ``y`` is this solve's own array (np.clip made it): its slices need no copies
        parts = {name: y[s] for name, s in self.slices.items()}
        return LocalSolution(self._m_dense @ y, self.cost(y), parts)
