"""The ADMM negotiation as two state machines, driven message by message (no sockets).

:class:`AdmmAggregation` is the aggregator's side: it sends each round's price signal,
gathers the schedules, updates the coupling and the scaled dual, tests the residuals
(absolute + relative tolerances), balances the penalty and drops silent sites.
:class:`AdmmSiteSolver` is a site's side: it answers each round with the solution of its
proximal problem. The sequence and rules: ``docs/protocols/admm.md``; the algorithm is
the sharing form of Boyd et al. (2011), sections 3.3, 3.4.1 and 7.3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np
from vpp.coordination.admm.feasibility import (
    Stagnation,
    capacity_shortfall_kw,
    capped_price,
    check_bounds,
)
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import Coupling, MarketCoupling, TargetCoupling
from vpp.coordination.admm.outcome import AdmmResult, AdmmSettings, IterationRecord
from vpp.coordination.errors import ProtocolError

__all__ = ["AdmmAggregation", "AdmmResult", "AdmmSettings", "IterationRecord", "Outgoing"]


@dataclass(frozen=True)
class Outgoing:
    """A message the protocol wants sent to ``receiver`` (a site name) in ``round``."""

    receiver: str
    body: msgspec.Struct
    round: int


class AdmmAggregation:
    """The aggregator's side of one ADMM negotiation.

    Args:
        sites: the names of the sites called, in a fixed order.
        coupling: the target schedule or the market position the aggregator owns.
        horizon: steps in the schedules.
        dt_h: step length in hours.
        settings: tolerances, penalty, iteration cap, deadline.
    """

    def __init__(self, sites: Sequence[str], coupling: Coupling, horizon: int, dt_h: float,
                 settings: AdmmSettings | None = None) -> None:
        if len(set(sites)) != len(sites):
            raise ValueError("site names in an ADMM negotiation must be unique")
        if not isinstance(coupling, (TargetCoupling, MarketCoupling)):
            raise TypeError(f"coupling must be a TargetCoupling or MarketCoupling, "
                            f"got {type(coupling).__qualname__}")
        coupling.check(horizon)
        self.sites = list(sites)
        self.coupling = coupling
        self.horizon = horizon
        self.dt_h = float(dt_h)
        self.settings = settings or AdmmSettings()
        self.rho = self.settings.rho
        self.round = 0
        self.phase = "new"
        self.records: list[IterationRecord] = []
        self.active: list[str] = list(self.sites)
        self.dropped: dict[str, str] = {}
        self._pending: set[str] = set()
        self._answers: dict[str, np.ndarray] = {}
        self._costs: dict[str, float] = {}
        self._round_dropped: list[str] = []
        self._pending_error: list[Outgoing] = []
        zero = np.zeros(horizon)
        # the target negotiated: the coupling's, or what the sites' bounds can serve of it
        self._target = (np.asarray(coupling.target_kw, dtype=float)
                        if isinstance(coupling, TargetCoupling) else None)
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._capacity_short = zero.copy()     # kW per step beyond the sites' bounds
        self._stagnation = Stagnation(self.settings.stagnation_window,
                                      self.settings.stagnation_tolerance)
        self._stagnated = False
        self.u = zero.copy()
        self._x: dict[str, np.ndarray] = {s: zero.copy() for s in self.sites}
        self._zbar = self._target_mean(len(self.sites)) if self.sites else zero.copy()
        self._xbar = zero.copy()
        self._z: dict[str, np.ndarray] = {s: self._zbar.copy() for s in self.sites}
        self._converged = False
        self._reason = ""
        self._r = math.inf
        self.alpha = self.settings.relaxation  # over-relaxation of the next close
        self._alpha_sent = self.alpha  # the one the last close used, as the sites need it
        self._primal_ratios: list[float] = []
        self.relaxation_dropped_at: int | None = None
        self._s = math.inf

    # -- state -------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the negotiation has ended (converged or not)."""
        return self.phase == "done"

    @property
    def waiting_for(self) -> frozenset[str]:
        """The sites whose schedule the current round still waits for."""
        return frozenset(self._pending)

    @property
    def price_eur_mwh(self) -> np.ndarray:
        """The current price estimate, ``-rho * u * 1000 / dt_h``."""
        return -self.rho * self.u * 1000.0 / self.dt_h

    @property
    def infeasible(self) -> bool:
        """True once the sites are known not to be able to meet the coupling."""
        return self._stagnated or bool(self._capacity_short.any())

    def _target_mean(self, n: int) -> np.ndarray:
        if self._target is not None:
            return self._target / n
        return np.zeros(self.horizon)

    # -- inputs ------------------------------------------------------------------------
    def start(self) -> list[Outgoing]:
        """Round 0: the first price signal to every site."""
        if self.phase != "new":
            raise RuntimeError("the negotiation has already started")
        if not self.sites:
            self._finish(False, "no sites")
            return []
        self.phase = "running"
        return self._send_round()

    def on_schedule(self, site: str, msg: AdmmSchedule) -> list[Outgoing]:
        """A site's schedule for the current round; the next round goes out when all are in.

        Raises :class:`ProtocolError` for a late, duplicate or unknown sender (ignored),
        and for an invalid schedule (its sender is dropped first).
        """
        if site not in self.sites:
            raise ProtocolError(f"AdmmSchedule from {site}, which was not called")
        if self.phase != "running" or site not in self._pending or msg.round != self.round:
            raise ProtocolError(f"unexpected AdmmSchedule from {site} for round {msg.round} "
                                f"(now round {self.round}, {self.phase}): late or duplicate")
        problem = None
        if len(msg.schedule_kw) != self.horizon:
            problem = (f"AdmmSchedule.schedule_kw has {len(msg.schedule_kw)} values, "
                       f"expected {self.horizon}")
        else:
            schedule = np.asarray(msg.schedule_kw, dtype=float)
            # math.isfinite over the decoded list: a few times cheaper than numpy's on
            # one site's 24-96 values, and this runs for every site every round
            if not all(map(math.isfinite, msg.schedule_kw)):
                problem = "AdmmSchedule.schedule_kw has a non-finite value"
            elif not math.isfinite(msg.local_cost_eur):
                problem = "AdmmSchedule.local_cost_eur is not finite"
            elif msg.low_kw or msg.high_kw:
                problem = check_bounds(msg.low_kw, msg.high_kw, self.horizon)
        self._pending.discard(site)
        if problem is not None:
            self._drop(site, f"invalid schedule in round {self.round}: {problem}")
            out = self._after_answer()
            self._pending_error = out
            raise ProtocolError(f"{site}: {problem}")
        self._answers[site] = schedule
        self._costs[site] = float(msg.local_cost_eur)
        if msg.round == 0 and msg.low_kw:
            self._bounds[site] = (np.asarray(msg.low_kw, dtype=float),
                                  np.asarray(msg.high_kw, dtype=float))
        return self._after_answer()

    def take_after_error(self) -> list[Outgoing]:
        """What an invalid schedule's handling wants sent (the raise could not return it)."""
        out, self._pending_error = self._pending_error, []
        return out

    def on_deadline(self) -> list[Outgoing]:
        """The round's deadline passed: every site still awaited is dropped."""
        if self.phase != "running":
            return []
        for site in [s for s in self.active if s in self._pending]:
            self._drop(site, f"missed the deadline of round {self.round}")
        self._pending.clear()
        return self._after_answer()

    # -- internals ---------------------------------------------------------------------
    def _drop(self, site: str, reason: str) -> None:
        self.dropped[site] = reason
        self._round_dropped.append(site)
        self.active = [s for s in self.active if s != site]
        self._x.pop(site, None)
        self._z.pop(site, None)
        self._answers.pop(site, None)
        self._costs.pop(site, None)

    def _send_round(self) -> list[Outgoing]:
        self._pending = set(self.active)
        self._answers = {}
        self._round_dropped = []
        signal = AdmmRound(
            round=self.round, horizon=self.horizon, dt_h=self.dt_h, rho=self.rho,
            scaled_price=self.u.tolist(), mean_imbalance=(self._xbar - self._zbar).tolist(),
            price_eur_mwh=self.price_eur_mwh.tolist(), deadline_ms=self.settings.deadline_ms,
            relaxation=self._alpha_sent)
        return [Outgoing(s, signal, self.round) for s in self.active]

    def _after_answer(self) -> list[Outgoing]:
        if self._pending or self.phase != "running":
            return []
        return self._close_round()

    def _close_round(self) -> list[Outgoing]:
        n_sites = len(self.active)
        if n_sites == 0:
            self._finish(False, f"every site was dropped by round {self.round}")
            return self._done_messages()
        if self._target is not None and (self.round == 0 or self._round_dropped):
            self._check_capacity()
        x = np.stack([self._answers[s] for s in self.active])
        z_prev = np.stack([self._z[s] for s in self.active])
        alpha = self.alpha
        # over-relaxation (sec. 3.4.3): the coupling sees alpha x + (1 - alpha) z_prev
        x_hat = x if alpha == 1.0 else alpha * x + (1.0 - alpha) * z_prev
        xbar = x_hat.mean(axis=0)
        zbar = self._coupling_prox(xbar, n_sites)
        self.u = self.u + xbar - zbar
        z = x_hat - xbar + zbar
        n = n_sites * self.horizon
        # r = |x - z| over the stacked schedules; sqrt(N) |xbar - zbar| when alpha = 1
        r = (math.sqrt(n_sites) * float(np.linalg.norm(xbar - zbar)) if alpha == 1.0
             else float(np.linalg.norm(x - z)))
        s = self.rho * float(np.linalg.norm(z - z_prev))
        eps_pri = (math.sqrt(n) * self.settings.eps_abs
                   + self.settings.eps_rel * max(float(np.linalg.norm(x)),
                                                 float(np.linalg.norm(z))))
        eps_dual = (math.sqrt(n) * self.settings.eps_abs
                    + self.settings.eps_rel * self.rho * math.sqrt(n_sites)
                    * float(np.linalg.norm(self.u)))
        rho_used = self.rho
        self._xbar, self._zbar = xbar, zbar
        for i, site in enumerate(self.active):
            self._x[site] = x[i]
            self._z[site] = z[i]
        self._r, self._s = r, s
        self._alpha_sent = alpha
        self.records.append(IterationRecord(
            round=self.round, primal_residual=r, dual_residual=s, eps_pri=eps_pri,
            eps_dual=eps_dual, rho=rho_used, price_mean_eur_mwh=float(self.price_eur_mwh.mean()),
            active=n_sites, answers=len(self._answers), dropped=list(self._round_dropped)))
        iterations = self.round + 1
        if self.round >= 1 and r <= eps_pri and s <= eps_dual and not self._round_dropped:
            self._finish(True, "primal and dual residuals within tolerance")
            return self._done_messages()
        if self._stagnation.update(r, eps_pri):
            self._stagnated = True
            window = self.settings.stagnation_window
            self._finish(False, f"the primal residual stayed at {r:.4g} (its tolerance "
                                f"{eps_pri:.3g}) for {window} iterations: the sites cannot "
                                f"meet the coupling")
            return self._done_messages()
        if iterations >= self.settings.max_iterations:
            self._finish(False, f"iteration cap {self.settings.max_iterations} reached")
            return self._done_messages()
        if self.settings.relative_balance:
            # residuals relative to their own scales (Wohlberg 2017): unit-free ratios
            self._adapt(r / max(eps_pri, 1e-300), s / max(eps_dual, 1e-300))
        else:
            self._adapt(r, s)
        self._check_stall(r / max(eps_pri, 1e-300))
        self.round += 1
        return self._send_round()

    def _check_stall(self, primal_ratio: float) -> None:
        """Fall back to alpha = 1 if the primal residual has not halved in a window."""
        ratios = self._primal_ratios
        ratios.append(primal_ratio)
        window = self.settings.stall_window
        if (self.alpha != 1.0 and len(ratios) > window and primal_ratio > 1.0
                and primal_ratio > 0.5 * ratios[-1 - window]):
            self.alpha = 1.0
            self.relaxation_dropped_at = self.round

    def _check_capacity(self) -> None:
        """Clip the target to the active sites' summed bounds (when they all gave theirs);
        what is clipped is unserved."""
        if self._target is None or not all(s in self._bounds for s in self.active):
            return
        low = np.sum([self._bounds[s][0] for s in self.active], axis=0)
        high = np.sum([self._bounds[s][1] for s in self.active], axis=0)
        target = np.asarray(self.coupling.target_kw, dtype=float)
        self._capacity_short = capacity_shortfall_kw(target, low, high)
        self._target = np.where(self._capacity_short > 0.0, np.clip(target, low, high),
                                target)

    def _coupling_prox(self, xbar: np.ndarray, n_sites: int) -> np.ndarray:
        c = self.coupling
        if self._target is not None:
            return self._target / n_sites
        price = np.asarray(c.price_eur_mwh, dtype=float)
        free = xbar + self.u + price * self.dt_h / (1000.0 * self.rho)
        return np.clip(free, -c.import_max_kw / n_sites, c.export_max_kw / n_sites)

    def _adapt(self, r: float, s: float) -> None:
        st = self.settings
        if (not st.adapt or self.round + 1 > st.adapt_until
                or (self.round + 1) % st.adapt_every):
            return
        if r > st.mu * s:
            self.rho *= st.tau
            self.u = self.u / st.tau
        elif s > st.mu * r:
            self.rho /= st.tau
            self.u = self.u * st.tau

    def _finish(self, converged: bool, reason: str) -> None:
        self.phase = "done"
        self._pending.clear()
        self._converged = converged
        self._reason = reason

    def _unserved_kw(self) -> np.ndarray:
        """Per step, signed (+ short of the target, - beyond it): the part of the target
        beyond the sites' bounds, plus after a stagnation what the last schedules miss of
        the rest (beyond the primal tolerance)."""
        target = (np.asarray(self.coupling.target_kw, dtype=float)
                  if self._target is not None else None)
        if target is None or not self.infeasible:
            return np.zeros(self.horizon)
        unserved = np.sign(target - self._target) * self._capacity_short
        if self._stagnated and self.active:
            total = np.sum([self._x[s] for s in self.active], axis=0)
            miss = self._target - total
            last = self.records[-1]
            miss[np.abs(miss) <= math.sqrt(max(last.active, 1)) * last.eps_pri] = 0.0
            unserved = unserved + miss
        return unserved

    def _final_price(self) -> np.ndarray:
        """The price estimate within the floor and the cap; at the cap in the steps short of
        the target, at the floor in those beyond it."""
        unserved = self._unserved_kw()
        st = self.settings
        return capped_price(self.price_eur_mwh, unserved > 0.0, unserved < 0.0,
                            st.voll_eur_mwh, st.price_floor_eur_mwh)

    def _done_messages(self) -> list[Outgoing]:
        if self._capacity_short.any():
            short = float(self._capacity_short.sum()) * self.dt_h
            steps = int(np.count_nonzero(self._capacity_short))
            self._reason = (f"the target is beyond the sites' capacity in {steps} step(s), "
                            f"{short:.6g} kWh; "
                            + (self._reason if self._stagnated
                               else f"the servable rest: {self._reason}"))
        if self.infeasible:
            self._reason = f"infeasible: {self._reason}"
        price = self._final_price().tolist()
        iterations = len(self.records)
        out = []
        for site in self.sites:
            included = site in self.active
            schedule = self._x[site].tolist() if included else []
            out.append(Outgoing(site, AdmmDone(self.round, self._converged, iterations,
                                               included, schedule, price), self.round))
        return out

    def result(self) -> AdmmResult:
        """The negotiation's outcome (only once it is done)."""
        if not self.done:
            raise RuntimeError("the ADMM negotiation is not finished")
        schedules = {s: self._x[s].copy() for s in self.active}
        costs = {s: self._costs[s] for s in self.active if s in self._costs}
        cost = sum(costs.values())
        if isinstance(self.coupling, MarketCoupling) and schedules:
            total = np.sum(list(schedules.values()), axis=0)
            price = np.asarray(self.coupling.price_eur_mwh, dtype=float)
            cost -= float(price @ total) * self.dt_h / 1000.0
        unserved = np.abs(self._unserved_kw()) * self.dt_h if self.infeasible else None
        return AdmmResult(
            converged=self._converged, reason=self._reason, iterations=len(self.records),
            schedules_kw=schedules, site_cost_eur=costs, cost_eur=cost,
            price_eur_mwh=self._final_price(), rho=self.rho, primal_residual=self._r,
            dual_residual=self._s, dropped=dict(self.dropped),
            relaxation_dropped_at=self.relaxation_dropped_at, infeasible=self.infeasible,
            unserved_kwh=unserved)
