"""The portfolio aggregator of the hierarchical sharing ADMM, as a state machine.

The flat aggregation (``coordination/admm/protocol.py``) with regions standing for their
subtrees: each iteration it sends the price signal to its children (a
:class:`~.messages.RegionalRound` to each region, the ``AdmmRound`` to each site right
under it), adds up the :class:`~.messages.RegionalSums` (and its direct sites' schedules),
and runs the same coupling step, dual update, stopping test, penalty adaptation and
over-relaxation fallback, from sums alone (``admm_sums.py`` gives the expansions). The
settings are the flat run's (:class:`~vpp.coordination.admm.protocol.AdmmSettings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from vpp.coordination.admm.feasibility import (
    Stagnation,
    capacity_shortfall_kw,
    capped_price,
)
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import Coupling, MarketCoupling, TargetCoupling
from vpp.coordination.admm.protocol import AdmmSettings, IterationRecord, Outgoing
from vpp.coordination.errors import ProtocolError
from vpp.coordination.hierarchy.admm_sums import Children, Sums
from vpp.coordination.hierarchy.messages import (
    RegionalDone,
    RegionalRound,
    RegionalSums,
)
from vpp.coordination.hierarchy.topology import Topology


@dataclass(frozen=True)
class HierarchyAdmmResult:
    """The negotiation's outcome at the root (schedules stay with the regions).

    ``cost_eur`` is the sites' reported private costs (in market mode, minus the
    portfolio's market revenue); ``total_kw`` the sum of the included sites' schedules;
    ``dropped`` every dropped site with why; ``sites`` how many sites stayed included.
    ``infeasible`` and ``unserved_kwh`` as in the flat
    :class:`~vpp.coordination.admm.outcome.AdmmResult` (``price_eur_mwh`` capped likewise).
    """

    converged: bool
    reason: str
    iterations: int
    cost_eur: float
    site_cost_eur: float
    total_kw: np.ndarray
    price_eur_mwh: np.ndarray
    rho: float
    primal_residual: float
    dual_residual: float
    sites: int
    dropped: dict[str, str] = field(default_factory=dict)
    relaxation_dropped_at: int | None = None
    infeasible: bool = False
    unserved_kwh: np.ndarray | None = None


class HierarchicalAdmm:
    """The root's side of one ADMM negotiation through regions.

    Args:
        topology: the fleet's hierarchy (the root's children are called).
        coupling: the target schedule or the market position the root owns.
        horizon: steps in the schedules.
        dt_h: step length in hours.
        settings: tolerances, penalty, iteration cap, deadline (the flat run's).
    """

    def __init__(self, topology: Topology, coupling: Coupling, horizon: int, dt_h: float,
                 settings: AdmmSettings | None = None) -> None:
        if not isinstance(coupling, (TargetCoupling, MarketCoupling)):
            raise TypeError(f"coupling must be a TargetCoupling or MarketCoupling, "
                            f"got {type(coupling).__qualname__}")
        coupling.check(horizon)
        self.topology = topology
        self.coupling = coupling
        self.horizon = horizon
        self.dt_h = float(dt_h)
        self.settings = settings or AdmmSettings()
        self.rho = self.settings.rho
        self.children = Children(topology.root, topology, horizon)
        self.round = 0
        self.phase = "new"
        self.records: list[IterationRecord] = []
        zero = np.zeros(horizon)
        self.u = zero.copy()
        n = len(topology.sites)
        # the target negotiated: the coupling's, or what the sites' bounds can serve of it
        self._target = (np.asarray(coupling.target_kw, dtype=float)
                        if isinstance(coupling, TargetCoupling) else None)
        self._capacity_short = zero.copy()     # kW per step beyond the sites' bounds
        self._stagnation = Stagnation(self.settings.stagnation_window,
                                      self.settings.stagnation_tolerance)
        self._stagnated = False
        self._zbar = self._target / n if self._target is not None else zero.copy()
        self._xbar = zero.copy()
        self._last = Sums.zero(horizon)
        self._converged = False
        self._reason = ""
        self._r = math.inf
        self._s = math.inf
        self.alpha = self.settings.relaxation
        self._alpha_sent = self.alpha
        self._primal_ratios: list[float] = []
        self.relaxation_dropped_at: int | None = None
        self._pending_error: list[Outgoing] = []

    # -- state ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the negotiation has ended (converged or not)."""
        return self.phase == "done"

    @property
    def waiting_for(self) -> frozenset[str]:
        """The children the current iteration still waits for."""
        return frozenset(self.children.pending)

    @property
    def infeasible(self) -> bool:
        """True once the sites are known not to be able to meet the coupling."""
        return self._stagnated or bool(self._capacity_short.any())

    @property
    def price_eur_mwh(self) -> np.ndarray:
        """The current price estimate, ``-rho * u * 1000 / dt_h``."""
        return -self.rho * self.u * 1000.0 / self.dt_h

    # -- inputs --------------------------------------------------------------------------
    def start(self) -> list[Outgoing]:
        """Round 0: the first price signal to every child."""
        if self.phase != "new":
            raise RuntimeError("the negotiation has already started")
        self.phase = "running"
        return self._send_round()

    def on_schedule(self, site: str, msg: AdmmSchedule) -> list[Outgoing]:
        """A direct site's schedule; an invalid one drops the site and raises."""
        self._running("AdmmSchedule", site)
        try:
            self.children.on_schedule(site, msg)
        except ProtocolError:
            self._pending_error = self._after_answer()
            raise
        return self._after_answer()

    def on_sums(self, region: str, msg: RegionalSums) -> list[Outgoing]:
        """A region's sums; invalid ones drop its subtree and raise."""
        self._running("RegionalSums", region)
        try:
            self.children.on_sums(region, msg)
        except ProtocolError:
            self._pending_error = self._after_answer()
            raise
        return self._after_answer()

    def take_after_error(self) -> list[Outgoing]:
        """What handling an invalid message wants sent (the raise could not return it)."""
        out, self._pending_error = self._pending_error, []
        return out

    def on_deadline(self) -> list[Outgoing]:
        """The round's deadline passed: the children still awaited are dropped."""
        if self.phase != "running":
            return []
        self.children.on_deadline()
        return self._after_answer()

    # -- internals -----------------------------------------------------------------------
    def _running(self, kind: str, child: str) -> None:
        if self.phase != "running":
            raise ProtocolError(f"unexpected {kind} from {child} ({self.phase}): late")

    def _send_round(self) -> list[Outgoing]:
        signal = AdmmRound(
            round=self.round, horizon=self.horizon, dt_h=self.dt_h, rho=self.rho,
            scaled_price=self.u.tolist(), mean_imbalance=(self._xbar - self._zbar).tolist(),
            price_eur_mwh=self.price_eur_mwh.tolist(), deadline_ms=self.settings.deadline_ms,
            relaxation=self._alpha_sent)
        self.children.begin(signal, self.alpha)
        return [Outgoing(c, body, self.round) for c, body in
                self.children.relay(signal, self.alpha, self.settings.deadline_ms,
                                     RegionalRound)]

    def _after_answer(self) -> list[Outgoing]:
        if self.children.pending or self.phase != "running":
            return []
        return self._close_round()

    def _coupling_prox(self, xbar: np.ndarray, n_sites: int) -> np.ndarray:
        c = self.coupling
        if self._target is not None:
            return self._target / n_sites
        price = np.asarray(c.price_eur_mwh, dtype=float)
        free = xbar + self.u + price * self.dt_h / (1000.0 * self.rho)
        return np.clip(free, -c.import_max_kw / n_sites, c.export_max_kw / n_sites)

    def _close_round(self) -> list[Outgoing]:
        sums, dropped = self.children.close()
        self._last = sums
        n_sites = sums.sites
        if n_sites == 0:
            self._finish(False, f"every site was dropped by round {self.round}")
            return self._done_messages()
        if self._target is not None and (self.round == 0 or dropped):
            self._check_capacity()
        alpha = self.alpha
        xbar = sums.sum_x_hat / n_sites
        zbar = self._coupling_prox(xbar, n_sites)
        self.u = self.u + xbar - zbar
        d = xbar - zbar
        nd2 = n_sites * float(d @ d)
        r = math.sqrt(max(sums.sq_relax + 2.0 * float(d @ sums.sum_relax) + nd2, 0.0))
        s = self.rho * math.sqrt(max(sums.sq_step - 2.0 * float(d @ sums.sum_step) + nd2, 0.0))
        norm_z = math.sqrt(max(sums.sq_x_hat - 2.0 * float(d @ sums.sum_x_hat) + nd2, 0.0))
        n = n_sites * self.horizon
        st = self.settings
        eps_pri = math.sqrt(n) * st.eps_abs + st.eps_rel * max(math.sqrt(sums.sq_x), norm_z)
        eps_dual = (math.sqrt(n) * st.eps_abs
                    + st.eps_rel * self.rho * math.sqrt(n_sites) * float(np.linalg.norm(self.u)))
        rho_used = self.rho
        self._xbar, self._zbar = xbar, zbar
        self._r, self._s = r, s
        self._alpha_sent = alpha
        self.records.append(IterationRecord(
            round=self.round, primal_residual=r, dual_residual=s, eps_pri=eps_pri,
            eps_dual=eps_dual, rho=rho_used, price_mean_eur_mwh=float(self.price_eur_mwh.mean()),
            active=n_sites, answers=n_sites, dropped=[x.site for x in dropped]))
        if self.round >= 1 and r <= eps_pri and s <= eps_dual and not dropped:
            self._finish(True, "primal and dual residuals within tolerance")
            return self._done_messages()
        if self._stagnation.update(r, eps_pri):
            self._stagnated = True
            self._finish(False, f"the primal residual stayed at {r:.4g} (its tolerance "
                                f"{eps_pri:.3g}) for {st.stagnation_window} iterations: the "
                                f"sites cannot meet the coupling")
            return self._done_messages()
        if len(self.records) >= st.max_iterations:
            self._finish(False, f"iteration cap {st.max_iterations} reached")
            return self._done_messages()
        if st.relative_balance:
            self._adapt(r / max(eps_pri, 1e-300), s / max(eps_dual, 1e-300))
        else:
            self._adapt(r, s)
        self._check_stall(r / max(eps_pri, 1e-300))
        self.round += 1
        return self._send_round()

    def _check_stall(self, primal_ratio: float) -> None:
        ratios = self._primal_ratios
        ratios.append(primal_ratio)
        window = self.settings.stall_window
        if (self.alpha != 1.0 and len(ratios) > window and primal_ratio > 1.0
                and primal_ratio > 0.5 * ratios[-1 - window]):
            self.alpha = 1.0
            self.relaxation_dropped_at = self.round

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

    def _check_capacity(self) -> None:
        """Clip the target to the active children's summed bounds (when they all gave
        theirs); what is clipped is unserved (the flat aggregator's test)."""
        bounds = self.children.bounds_sum()
        if self._target is None or bounds is None:
            return
        low, high = bounds
        target = np.asarray(self.coupling.target_kw, dtype=float)
        self._capacity_short = capacity_shortfall_kw(target, low, high)
        self._target = np.where(self._capacity_short > 0.0, np.clip(target, low, high),
                                target)

    def _unserved_kw(self) -> np.ndarray:
        """Per step, signed (+ short of the target, - beyond it): the part of the target
        beyond the sites' bounds, plus after a stagnation what the last planned total
        misses of the rest (beyond the primal tolerance), as the flat aggregator says."""
        if self._target is None or not self.infeasible:
            return np.zeros(self.horizon)
        target = np.asarray(self.coupling.target_kw, dtype=float)
        unserved = np.sign(target - self._target) * self._capacity_short
        if self._stagnated and self._last.sites:
            miss = self._target - self._last.sum_x
            last = self.records[-1]
            miss[np.abs(miss) <= math.sqrt(max(last.active, 1)) * last.eps_pri] = 0.0
            unserved = unserved + miss
        return unserved

    def _final_price(self) -> np.ndarray:
        """The price estimate within the floor and the cap (at the cap where short of the
        target, at the floor where beyond it)."""
        unserved = self._unserved_kw()
        st = self.settings
        return capped_price(self.price_eur_mwh, unserved > 0.0, unserved < 0.0,
                            st.voll_eur_mwh, st.price_floor_eur_mwh)

    def _finish(self, converged: bool, reason: str) -> None:
        self.phase = "done"
        self.children.pending.clear()
        self._converged = converged
        self._reason = reason

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
        kids = self.children
        out = []
        for c in kids.children:
            included = c in kids.active
            if kids.is_site[c]:
                x = kids.schedule(c)
                out.append(Outgoing(c, AdmmDone(self.round, self._converged, iterations,
                                                included and x is not None,
                                                x.tolist() if included and x is not None
                                                else [], price), self.round))
            else:
                out.append(Outgoing(c, RegionalDone(self.round, self._converged, iterations,
                                                    included, price), self.round))
        return out

    def result(self) -> HierarchyAdmmResult:
        """The negotiation's outcome (only once it is done)."""
        if not self.done:
            raise RuntimeError("the ADMM negotiation is not finished")
        last = self._last
        cost = last.cost_eur
        if isinstance(self.coupling, MarketCoupling) and last.sites:
            price = np.asarray(self.coupling.price_eur_mwh, dtype=float)
            cost -= float(price @ last.sum_x) * self.dt_h / 1000.0
        return HierarchyAdmmResult(
            converged=self._converged, reason=self._reason, iterations=len(self.records),
            cost_eur=cost, site_cost_eur=last.cost_eur, total_kw=last.sum_x.copy(),
            price_eur_mwh=self._final_price(), rho=self.rho, primal_residual=self._r,
            dual_residual=self._s, sites=last.sites, dropped=dict(self.children.dropped),
            relaxation_dropped_at=self.relaxation_dropped_at, infeasible=self.infeasible,
            unserved_kwh=(np.abs(self._unserved_kw()) * self.dt_h if self.infeasible
                          else None))
