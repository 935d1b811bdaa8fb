"""The ADMM agents: an aggregator that runs the rounds by messages, and sites that answer.

The logic is :class:`~coordination.admm.protocol.AdmmAggregation` (aggregator) and
:class:`~coordination.admm.site.AdmmSiteSolver` (site); these classes only move their
messages, arm the round deadline and write one trace row per ADMM iteration. The
sequence: ``docs/protocols/admm.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.timers import Timer
from vpp.coordination.admm.messages import AdmmDone, AdmmRound, AdmmSchedule
from vpp.coordination.admm.model import Coupling, SiteModel, TargetCoupling
from vpp.coordination.admm.protocol import (
    AdmmAggregation,
    AdmmResult,
    AdmmSettings,
    Outgoing,
)
from vpp.coordination.admm.site import DIRECT, AdmmSiteSolver
from vpp.coordination.admm.solution import LocalSolveError
from vpp.coordination.errors import ProtocolError

log = logging.getLogger(__name__)


class AdmmAggregatorAgent(Agent):
    """Runs ADMM negotiations with its sites over messages.

    Args:
        name: the agent's name.
        sites: the addresses (``host/name``) of the sites it coordinates.
        settings: tolerances, penalty, iteration cap, round deadline.
    """

    role = "aggregator"

    def __init__(self, name: str, sites: Sequence[str],
                 settings: AdmmSettings | None = None) -> None:
        super().__init__(name)
        self.sites = list(sites)
        self.settings = settings or AdmmSettings()
        self.negotiation: AdmmAggregation | None = None
        self.results: list[AdmmResult] = []
        self.step = -1
        self._timer: Timer | None = None
        self._recorded = 0
        self._conversation = ""
        self.on(AdmmSchedule, self._on_schedule)

    @property
    def conversation(self) -> str:
        """The id of the current negotiation."""
        return self._conversation

    @property
    def done(self) -> bool:
        """True when the current negotiation has ended."""
        return self.negotiation is not None and self.negotiation.done

    def begin(self, step: int, coupling: Coupling, horizon: int, dt_h: float) -> None:
        """Start negotiating ``coupling`` over ``horizon`` steps of ``dt_h`` hours."""
        if self.negotiation is not None and not self.negotiation.done:
            raise RuntimeError(f"ADMM negotiation {self.conversation} is still running")
        self.step = step
        self.negotiation = AdmmAggregation(self.sites, coupling, horizon, dt_h, self.settings)
        # read for every message of the negotiation: made once
        self._conversation = f"admm/{step}"
        self._recorded = 0
        self._emit(self.negotiation.start())

    def _on_schedule(self, envelope: Envelope, msg: AdmmSchedule) -> None:
        negotiation = self.negotiation
        if negotiation is None or envelope.conversation != self.conversation:
            raise ProtocolError(f"AdmmSchedule for {envelope.conversation!r} arrived outside "
                                f"its negotiation (now {self.conversation!r})")
        try:
            out = negotiation.on_schedule(envelope.sender, msg)
        except ProtocolError:
            self._emit(negotiation.take_after_error())
            raise
        self._emit(out)

    def _on_deadline(self) -> None:
        self._timer = None
        negotiation = self.negotiation
        if negotiation is not None and not negotiation.done:
            self.log.warning("%s: deadline of %s round %d passed; dropping %s", self.name,
                        self.conversation, negotiation.round, sorted(negotiation.waiting_for))
            self._emit(negotiation.on_deadline())

    def _emit(self, outgoing: list[Outgoing]) -> None:
        negotiation = self.negotiation
        assert negotiation is not None
        conversation = self._conversation
        i, n = 0, len(outgoing)
        while i < n:  # a round's signal is one body to every site: encoded once
            out = outgoing[i]
            j = i + 1
            while j < n and outgoing[j].body is out.body and outgoing[j].round == out.round:
                j += 1
            if j - i > 1:
                self.send_all([o.receiver for o in outgoing[i:j]], out.body,
                              conversation=conversation, round=out.round)
            else:
                self.send(out.receiver, out.body, conversation=conversation, round=out.round)
            i = j
        self._trace_rounds(negotiation)
        if self._timer is not None:
            if not outgoing and not negotiation.done:
                return  # still waiting within the same round
            self._timer.cancel()
            self._timer = None
        if negotiation.done:
            self.results.append(negotiation.result())
        elif outgoing:
            self._timer = self.host.call_later(self.settings.deadline_ms / 1000.0,
                                               self._on_deadline)

    def _trace_rounds(self, negotiation: AdmmAggregation) -> None:
        trace = self.host.trace
        records = negotiation.records
        if trace is None or len(records) == self._recorded:
            # (most schedules close no round: nothing new to write)
            self._recorded = len(records)
            return
        target = None
        if isinstance(negotiation.coupling, TargetCoupling):
            target = sum(negotiation.coupling.target_kw) / negotiation.horizon
        now = self.clock.now()
        for rec in records[self._recorded:]:
            trace.round(sim_time=now, step=self.step, conversation=self.conversation,
                        protocol="admm", round=rec.round, target_kw=target,
                        price=rec.price_mean_eur_mwh, primal_residual=rec.primal_residual,
                        dual_residual=rec.dual_residual, step_size=rec.rho, bids=rec.answers,
                        detail={"eps_pri": rec.eps_pri, "eps_dual": rec.eps_dual,
                                "active": rec.active, "dropped": rec.dropped})
        self._recorded = len(records)


class AdmmSiteAgent(Agent):
    """A site that answers each ADMM round with its local proximal step.

    Args:
        name: the site's name.
        model: its private model (devices, costs, constraints).
        solver: ``"direct"`` (OSQP on a hand-built QP) or a cvxpy solver name.
    """

    role = "site"

    def __init__(self, name: str, model: SiteModel, *, solver: str = DIRECT) -> None:
        super().__init__(name)
        self.model = model
        self.solver = AdmmSiteSolver(model, solver)
        self.solves = 0
        """Local proximal steps solved."""
        self.solve_failures = 0
        """Rounds the local solver could not answer (the site is then dropped)."""
        self.solve_s = 0.0
        """Wall seconds spent in the local solver."""
        self.on(AdmmRound, self._on_round)
        self.on(AdmmDone, self._on_done)

    @property
    def final(self) -> AdmmDone | None:
        """The last negotiation's outcome for this site, once told."""
        return self.solver.final

    def _on_round(self, envelope: Envelope, msg: AdmmRound) -> None:
        if envelope.round != msg.round:
            raise ProtocolError(f"AdmmRound.round {msg.round} differs from the envelope's "
                                f"round {envelope.round}")
        t0 = time.perf_counter()
        try:
            answer = self.solver.on_round(msg)
        except LocalSolveError as exc:
            # no answer: the aggregator drops this site at the round's deadline
            self.solve_s += time.perf_counter() - t0
            self.solve_failures += 1
            self.log.warning("site %s cannot answer round %d: %s", self.name, msg.round, exc)
            return
        self.solve_s += time.perf_counter() - t0
        self.solves += 1
        self.send(envelope.sender, answer, conversation=envelope.conversation,
                  round=envelope.round)

    def _on_done(self, envelope: Envelope, msg: AdmmDone) -> None:
        self.solver.on_done(msg)
