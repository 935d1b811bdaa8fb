"""A site's real-time controller: the frequency rules bound to the ``frequency`` topic.

On each :class:`FrequencySample` the site decides at once with its
:class:`~coordination.frequency.rule.SiteFrequencyRule`, applies the decision (the battery
runs the new set-point until the next sample; load is shed, PV / wind curtailed), meters
it to the grid agent and, when a stage changed, reports to the aggregator. Nothing here
waits for anyone. See ``docs/protocols/frequency.md``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from agents.agent import Agent
from agents.messages import Envelope
from coordination.errors import ProtocolError
from coordination.frequency.messages import (
    FREQUENCY_TOPIC,
    EventClosed,
    FrequencyResponse,
    FrequencySample,
    ServiceReport,
    StageChange,
)
from coordination.frequency.rule import SiteFrequencyRule, store_limits
from physics.battery import Battery

log = logging.getLogger(__name__)


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
    """

    role = "frequency-site"

    def __init__(self, name: str, rule: SiteFrequencyRule, *, grid: str | None = None,
                 aggregator: str | None = None, battery: Battery | None = None,
                 on_applied: Callable[[int], None] | None = None) -> None:
        super().__init__(name)
        self.rule = rule
        self.grid = grid
        self.aggregator = aggregator
        self.battery = battery
        self.on_applied = on_applied
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
        if not (math.isfinite(f) and self._f_low <= f <= self._f_high
                and math.isfinite(sample.t_s)):
            raise ProtocolError(f"site {self.name}: sample {sample.seq} has f_hz={f!r} at "
                                f"t_s={sample.t_s!r}, outside [{self._f_low}, {self._f_high}]")
        rule = self.rule
        # what ran since the last sample (zero-order hold), then the store's new limits
        if self.t_s is not None and sample.t_s > self.t_s:
            dt_h = (sample.t_s - self.t_s) / 3600.0
            r = rule.response_kw
            if self.battery is not None and r != 0.0:
                r = self.battery.step(r, dt_h).power_kw
                self._update_limits()
                soc = self.battery.soc
                if soc < self.min_state_of_charge:
                    self.min_state_of_charge = soc
            self.response_kwh += r * dt_h
            self.shed_kwh += rule.shed_kw * dt_h
            self.curtailed_kwh += rule.curtailed_kw * dt_h
        self.seq = sample.seq
        self.t_s = sample.t_s
        events = len(rule.events)
        delta = rule.decide(sample.t_s, f)
        if abs(rule.response_kw) > abs(self.peak_response_kw):
            self.peak_response_kw = rule.response_kw
        if self.on_applied is not None:
            self.on_applied(sample.seq)
        if self.grid is not None:
            self.send(self.grid, FrequencyResponse(
                sample.seq, sample.t_s, delta, rule.response_kw, rule.shed_kw,
                rule.curtailed_kw, None if self.battery is None else self.battery.soc),
                conversation=envelope.conversation, round=sample.seq)
        if len(rule.events) != events and self.aggregator is not None:
            self._report(envelope.conversation, sample.t_s, final=False)

    def _report(self, conversation: str, t_s: float, final: bool) -> None:
        events = self.rule.events if final else self.rule.events[self._reported:]
        self._reported = len(self.rule.events)
        self.send(self.aggregator, ServiceReport(
            conversation.partition("/")[2] or conversation, final, t_s,
            [StageChange(*e) for e in events], self.response_kwh, self.shed_kwh,
            self.curtailed_kwh, self.peak_response_kw, self.min_state_of_charge),
            conversation=conversation, round=max(self.seq, 0))

    def _on_closed(self, envelope: Envelope, closed: EventClosed) -> None:
        if self.aggregator is not None:
            self._report(envelope.conversation, closed.t_s, final=True)
