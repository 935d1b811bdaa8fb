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
from dataclasses import dataclass, field

import msgspec
import numpy as np

from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import Coupling, MarketCoupling, TargetCoupling
from vpp.coordination.errors import ProtocolError


@dataclass(frozen=True)
class Outgoing:
    """A message the protocol wants sent to ``receiver`` (a site name) in ``round``."""

    receiver: str
    body: msgspec.Struct
    round: int


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

    def _target_mean(self, n: int) -> np.ndarray:
        if isinstance(self.coupling, TargetCoupling):
            return np.asarray(self.coupling.target_kw, dtype=float) / n
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
        self._pending.discard(site)
        if problem is not None:
            self._drop(site, f"invalid schedule in round {self.round}: {problem}")
            out = self._after_answer()
            self._pending_error = out
            raise ProtocolError(f"{site}: {problem}")
        self._answers[site] = schedule
        self._costs[site] = float(msg.local_cost_eur)
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

    def _coupling_prox(self, xbar: np.ndarray, n_sites: int) -> np.ndarray:
        c = self.coupling
        if isinstance(c, TargetCoupling):
            return np.asarray(c.target_kw, dtype=float) / n_sites
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

    def _done_messages(self) -> list[Outgoing]:
        price = self.price_eur_mwh.tolist()
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
        return AdmmResult(
            converged=self._converged, reason=self._reason, iterations=len(self.records),
            schedules_kw=schedules, site_cost_eur=costs, cost_eur=cost,
            price_eur_mwh=self.price_eur_mwh, rho=self.rho, primal_residual=self._r,
            dual_residual=self._s, dropped=dict(self.dropped),
            relaxation_dropped_at=self.relaxation_dropped_at)
