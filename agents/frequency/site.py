"""A site's real-time controller: the frequency rules bound to the ``frequency`` topic.

On each :class:`FrequencySample` the site decides at once with its
:class:`~coordination.frequency.rule.SiteFrequencyRule`, applies the decision (the battery
runs the new set-point until the next sample; load is shed, PV / wind curtailed), meters
it to the grid agent and, when a stage changed, reports to the aggregator. Nothing here
waits for anyone. See ``docs/protocols/frequency.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError
from vpp.coordination.frequency.messages import (
    FREQUENCY_TOPIC,
    EventClosed,
    FrequencyResponse,
    FrequencySample,
    ServiceReport,
    StageChange,
)
from vpp.coordination.frequency.rule import SiteFrequencyRule, store_limits
from vpp.physics.battery import Battery


class DeferredBookkeeping:
    """Runs the sites' bookkeeping once their host's pass is over.

    A site decides and applies on receipt; integrating its store over the last interval,
    metering and reporting can wait until every site of the host has applied the sample:
    the sites add themselves here and one zero-delay host timer (run after the pass's
    deliveries) does the rest. The store limits a site decides with are then those of the
    previous sample (one sample period old).

    Args:
        delay_s: wall seconds between the pass and the bookkeeping. 0 (the default) books
            as soon as the pass is over. A site process that shares few cores with many
            others (``vpp bench frequency --processes``) books a few milliseconds later,
            so that its metering does not hold a core while the other processes still
            have a sample to decide; the grid hears each response that much later (in
            wall-clock mode the delay must stay well inside the sample period).
    """

    def __init__(self, delay_s: float = 0.0) -> None:
        if not 0.0 <= delay_s < 10.0:
            raise ValueError(f"delay_s must be in [0, 10) seconds, got {delay_s!r}")
        self.delay_s = delay_s
        self.pending: list[FrequencySiteAgent] = []

    def add(self, site: FrequencySiteAgent) -> None:
        """Book ``site`` after this pass."""
        if not self.pending:
            site.host.call_later(self.delay_s, self.run)
        site.book_pending = True
        self.pending.append(site)

    def run(self) -> None:
        """Book every pending site (the host timer calls this)."""
        pending, self.pending = self.pending, []
        for site in pending:
            if site.book_pending:
                site.book()


class FrequencySiteAgent(Agent):
    """Decides on every frequency sample, on its own; meters and reports afterwards.

    Args:
        name: the site's name.
        rule: its frequency rule (service, shedding, curtailment).
        grid: the grid agent's address, metered after each sample (None: no metering).
        aggregator: where :class:`ServiceReport` goes (None: no reports).
        battery: the store behind the service, or None (then the service is limited by
            its contracted power only).
        on_applied: called with the sample's ``seq`` once its decision is applied (for
            benchmarks; not a control path).
        bookkeeping: shared by the sites of a host to book after the pass (see
            :class:`DeferredBookkeeping`); None books at once, before deciding.
    """

    role = "frequency-site"

    def __init__(self, name: str, rule: SiteFrequencyRule, *, grid: str | None = None,
                 aggregator: str | None = None, battery: Battery | None = None,
                 on_applied: Callable[[int], None] | None = None,
                 bookkeeping: DeferredBookkeeping | None = None) -> None:
        super().__init__(name)
        self.rule = rule
        self.grid = grid
        self.aggregator = aggregator
        self.battery = battery
        self.on_applied = on_applied
        self.bookkeeping = bookkeeping
        self.setpoint_kw = 0.0
        self.closed = False
        self.book_pending = False
        self._held_t: float | None = None
        self._held = (0.0, 0.0, 0.0)
        self._conversation = ""
        self.seq = -1
        self.t_s: float | None = None
        self.response_kwh = 0.0
        self.shed_kwh = 0.0
        self.curtailed_kwh = 0.0
        self.peak_response_kw = 0.0
        self.min_state_of_charge = battery.soc if battery is not None else None
        self._reported = 0
        self._f_low = 0.5 * rule.f0_hz
        self._f_high = 1.5 * rule.f0_hz
        self._update_limits()
        self.on(FrequencySample, self._on_sample)
        self.on(EventClosed, self._on_closed)

    def started(self) -> None:
        """Listen to the grid's samples."""
        self.host.subscribe(self, FREQUENCY_TOPIC)

    def refresh_limits(self) -> None:
        """Recompute the service's limits from the store (after a live reconfiguration)."""
        self._update_limits()

    def _update_limits(self) -> None:
        b = self.battery
        if b is None:
            return
        p = b.params
        cap = b.capacity_kwh
        up, down = store_limits(
            energy_kwh=b.energy_kwh, e_min_kwh=p.soc_min * cap, e_max_kwh=p.soc_max * cap,
            eta_c=p.eta_c, eta_d=p.eta_d, p_discharge_kw=p.p_discharge_max_kw,
            p_charge_kw=p.p_charge_max_kw, duration_h=self.rule.duration_h)
        self.rule.set_limits(up, down)

    def _on_sample(self, envelope: Envelope, sample: FrequencySample) -> None:
        f = sample.f_hz
        if sample.seq <= self.seq:
            raise ProtocolError(f"site {self.name}: sample {sample.seq} is not newer than "
                                f"{self.seq}")
        t = sample.t_s
        # the chained comparisons are false for NaN and for infinities
        if not (self._f_low <= f <= self._f_high and -1e12 < t < 1e12):
            raise ProtocolError(f"site {self.name}: sample {sample.seq} has f_hz={f!r} at "
                                f"t_s={sample.t_s!r}, outside [{self._f_low}, {self._f_high}]")
        book = self.bookkeeping
        if book is None:
            self._integrate_to(t)
        elif self.book_pending:
            # a second sample in the same pass: book the first before deciding anew
            self.book()
        self.seq = sample.seq
        self.t_s = t
        self._conversation = envelope.conversation
        rule = self.rule
        rule.decide(t, f)
        self.setpoint_kw = rule.response_kw
        if self.on_applied is not None:
            self.on_applied(sample.seq)
        if book is None:
            self._hold_and_meter()
        else:
            book.add(self)

    def book(self) -> None:
        """After a deferred pass: integrate what ran over the last interval (which
        refreshes the store's limits), then meter and report the present decision."""
        self.book_pending = False
        self._integrate_to(self.t_s)
        self._hold_and_meter()

    def _integrate_to(self, t_s: float) -> None:
        """Run the held decision from the last sample to ``t_s`` (zero-order hold)."""
        if self._held_t is None or t_s <= self._held_t:
            return
        dt_h = (t_s - self._held_t) / 3600.0
        self._held_t = t_s
        r = self._held[0]
        if self.battery is not None and r != 0.0:
            r = self.battery.step(r, dt_h).power_kw
            self._update_limits()
            soc = self.battery.soc
            if soc < self.min_state_of_charge:
                self.min_state_of_charge = soc
        self.response_kwh += r * dt_h
        self.shed_kwh += self._held[1] * dt_h
        self.curtailed_kwh += self._held[2] * dt_h

    def _hold_and_meter(self) -> None:
        rule = self.rule
        self._held_t = self.t_s
        self._held = (rule.response_kw, rule.shed_kw, rule.curtailed_kw)
        self._meter(self._conversation)

    def _meter(self, conversation: str) -> None:
        rule = self.rule
        if abs(rule.response_kw) > abs(self.peak_response_kw):
            self.peak_response_kw = rule.response_kw
        if self.grid is not None:
            self.send(self.grid, FrequencyResponse(
                self.seq, self.t_s, rule.delta_kw, rule.response_kw, rule.shed_kw,
                rule.curtailed_kw, None if self.battery is None else self.battery.soc),
                conversation=conversation, round=self.seq)
        if self._reported != len(rule.events) and self.aggregator is not None:
            self._report(conversation, self.t_s, final=False)

    def _report(self, conversation: str, t_s: float, final: bool) -> None:
        events = self.rule.events if final else self.rule.events[self._reported:]
        self._reported = len(self.rule.events)
        self.send(self.aggregator, ServiceReport(
            conversation.partition("/")[2] or conversation, final, t_s,
            [StageChange(*e) for e in events], self.response_kwh, self.shed_kwh,
            self.curtailed_kwh, self.peak_response_kw, self.min_state_of_charge),
            conversation=conversation, round=max(self.seq, 0))

    def _on_closed(self, envelope: Envelope, closed: EventClosed) -> None:
        self.closed = True
        self._integrate_to(closed.t_s)
        if self.aggregator is not None:
            self._report(envelope.conversation, closed.t_s, final=True)
