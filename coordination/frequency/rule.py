"""One site's frequency rule: a service (droop or trigger) within its limits, staged load
shedding and over-frequency curtailment, decided from one frequency sample.

:meth:`SiteFrequencyRule.decide` is the hot path: plain floats, thresholds precomputed,
no allocation unless a stage fires. The limits from the state of charge are set by the
binding after each apply (:meth:`SiteFrequencyRule.set_limits`, :func:`store_limits`).
"""

from __future__ import annotations

import math

from vpp.coordination.frequency.curtailment import OverFrequencyCurtailment
from vpp.coordination.frequency.curves import DroopCurve
from vpp.coordination.frequency.specs import (
    CurtailmentSpec,
    DroopSpec,
    ServiceSpec,
    SheddingSpec,
    TriggerSpec,
)
from vpp.coordination.frequency.stages import Stage, StageEvent


def store_limits(*, energy_kwh: float, e_min_kwh: float, e_max_kwh: float, eta_c: float,
                 eta_d: float, p_discharge_kw: float, p_charge_kw: float,
                 duration_h: float) -> tuple[float, float]:
    """The (up, down) kW a store can sustain for ``duration_h`` within its power rating.

    Up (discharge) is limited by the energy above ``e_min_kwh`` delivered through
    ``eta_d``; down (charge) by the room below ``e_max_kwh`` filled through ``eta_c``.
    """
    up = max(energy_kwh - e_min_kwh, 0.0) * eta_d / duration_h
    down = max(e_max_kwh - energy_kwh, 0.0) / (eta_c * duration_h)
    return min(up, p_discharge_kw), min(down, p_charge_kw)


class SiteFrequencyRule:
    """What one site does for a frequency sample, on its own.

    Args:
        f0_hz: the grid's nominal frequency (50 or 60).
        service: the contracted service (a droop or a trigger), or None.
        contracted_kw: the service's full power.
        shedding: the UFLS scheme for the site's sheddable load, or None.
        sheddable_kw: the load the scheme's fractions apply to.
        curtailment: over-frequency curtailment of the site's PV and wind, or None.
        renewable_kw: the PV and wind output available now.

    After :meth:`decide`: ``response_kw`` (the service's injection change, + = more
    injection), ``shed_kw`` (load shed), ``curtailed_kw`` (renewable output cut) and
    ``delta_kw = response_kw + shed_kw - curtailed_kw``; ``events`` lists every stage that
    fired.
    """

    __slots__ = ("f0_hz", "service", "contracted_kw", "duration_h", "_droop", "_trigger",
                 "sheddable_kw", "_stages", "_max_trip_hz", "_shed_busy", "_shed_fraction",
                 "_curtail", "_curtail_start_hz", "renewable_kw", "up_kw", "down_kw", "response_kw", "shed_kw",
                 "curtailed_kw", "delta_kw", "events")

    def __init__(self, *, f0_hz: float, service: ServiceSpec | None = None,
                 contracted_kw: float = 0.0, shedding: SheddingSpec | None = None,
                 sheddable_kw: float = 0.0, curtailment: CurtailmentSpec | None = None,
                 renewable_kw: float = 0.0) -> None:
        for name, value in (("contracted_kw", contracted_kw), ("sheddable_kw", sheddable_kw),
                            ("renewable_kw", renewable_kw)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name, spec in (("service", service), ("shedding", shedding),
                           ("curtailment", curtailment)):
            if spec is not None and spec.f0_hz != f0_hz:
                raise ValueError(f"{name}: it is for {spec.f0_hz:g} Hz grids, the grid is "
                                 f"{f0_hz:g} Hz")
        self.f0_hz = float(f0_hz)
        self.contracted_kw = float(contracted_kw)
        self.set_service(service)
        self.sheddable_kw = float(sheddable_kw)
        self._stages = [] if shedding is None else [
            Stage("ufls", i + 1, s.trip_hz, s.delay_s, s.restore_hz, s.restore_delay_s,
                  s.fraction) for i, s in enumerate(shedding.stages)]
        self._max_trip_hz = max((s.trip_hz for s in self._stages), default=-math.inf)
        self._shed_busy = False
        self._shed_fraction = 0.0
        self._curtail = None if curtailment is None else OverFrequencyCurtailment(curtailment)
        self._curtail_start_hz = math.inf if curtailment is None else curtailment.start_hz
        self.renewable_kw = float(renewable_kw)
        # without a store, the service is limited by the contracted power only
        self.up_kw = self.contracted_kw
        self.down_kw = self.contracted_kw
        self.response_kw = 0.0
        self.shed_kw = 0.0
        self.curtailed_kw = 0.0
        self.delta_kw = 0.0
        self.events: list[StageEvent] = []

    def set_service(self, service: ServiceSpec | None) -> None:
        """Answer with ``service`` from the next sample on (a live reconfiguration; a
        trigger service starts untripped)."""
        if service is not None and service.f0_hz != self.f0_hz:
            raise ValueError(f"service: it is for {service.f0_hz:g} Hz grids, the grid is "
                             f"{self.f0_hz:g} Hz")
        self.service = service
        self.duration_h = service.duration_min / 60.0 if service is not None else 0.25
        self._droop = DroopCurve(service) if isinstance(service, DroopSpec) else None
        self._trigger = (Stage("service", 0, service.trigger_hz, service.delay_s,
                               service.restore_hz, service.restore_delay_s)
                         if isinstance(service, TriggerSpec) else None)

    def set_limits(self, up_kw: float, down_kw: float) -> None:
        """The most the service may inject (``up_kw``) and absorb (``down_kw``) now."""
        self.up_kw = up_kw if up_kw > 0.0 else 0.0
        self.down_kw = down_kw if down_kw > 0.0 else 0.0

    @property
    def stages_tripped(self) -> list[int]:
        """The numbers of the UFLS stages now shedding load."""
        return [s.index for s in self._stages if s.tripped]

    def decide(self, t_s: float, f_hz: float) -> float:
        """Decide on one sample at time ``t_s``; return ``delta_kw`` (+ = more injection)."""
        if self._droop is not None:
            r = self._droop.fraction(f_hz) * self.contracted_kw
        elif self._trigger is not None:
            ev = self._trigger.update(t_s, f_hz)
            if ev is not None:
                self.events.append(ev)
            r = self.contracted_kw if self._trigger.tripped else 0.0
        else:
            r = 0.0
        if r > self.up_kw:
            r = self.up_kw
        elif r < -self.down_kw:
            r = -self.down_kw
        self.response_kw = r
        if self._shed_busy or f_hz <= self._max_trip_hz + 1e-9:
            self._shed(t_s, f_hz)
        shed = self._shed_fraction * self.sheddable_kw
        self.shed_kw = shed
        curtail = self._curtail
        if curtail is not None and (curtail.active or f_hz > self._curtail_start_hz):
            was = curtail.active
            cut = curtail.update(f_hz, self.renewable_kw)
            if was != curtail.active:
                self.events.append(StageEvent(t_s, "curtailment", 1,
                                              "trip" if not was else "restore", f_hz))
        else:
            cut = 0.0
        self.curtailed_kw = cut
        delta = r + shed - cut
        self.delta_kw = delta
        return delta

    def _shed(self, t_s: float, f_hz: float) -> None:
        busy = False
        fraction = 0.0
        for stage in self._stages:
            ev = stage.update(t_s, f_hz)
            if ev is not None:
                self.events.append(ev)
            if stage.tripped:
                fraction += stage.fraction
                busy = True
            elif stage.timing:
                busy = True
        self._shed_busy = busy
        self._shed_fraction = fraction
