"""The ``realtime`` problem kind: a battery's answer to the grid frequency, by a local rule.

The rule is the project's droop curve (``coordination/frequency/``: the same curve and store
limits the site agents use), parametrized as the reference library's call is. With
``df = f - f_nominal``::

    response_kw = 0                                                    if |df| <= deadband
    response_kw = -sign(df) * (|df| - deadband) / (droop_pu * f_nominal) * p_rated_kw

(full activation at ``deadband + droop_pu * f_nominal``), so less power is injected when
the frequency is high and more when it is low. The set-point is the scheduled power plus the
response, limited by the power rating and by the energy the battery can sustain for
``sustain_h`` hours (state-of-charge limits, both efficiencies). The nominal frequency is
50 or 60 Hz, whichever is nearer unless given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from vpp.coordination.frequency.curves import DroopCurve
from vpp.coordination.frequency.rule import store_limits
from vpp.coordination.frequency.specs import DroopSpec
from vpp.coordination.planning.results import (
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    ProblemKind,
    register_kind,
)


@dataclass(frozen=True)
class RealtimeProblem:
    """A battery's state at one instant and the frequency it sees.

    ``scheduled_kw`` is the set-point of its plan (positive = discharge); the others are
    ratings (kW, kWh, fractions, Hz, hours).
    """

    frequency_hz: float
    state_of_charge: float
    p_rated_kw: float = 250.0
    capacity_kwh: float = 1000.0
    scheduled_kw: float = 0.0
    nominal_hz: float | None = None
    droop_pu: float = 0.05
    deadband_hz: float = 0.01
    soc_min: float = 0.1
    soc_max: float = 0.9
    eta_c: float = 0.95
    eta_d: float = 0.95
    sustain_h: float = 0.25
    kind: str = "realtime"

    def __post_init__(self) -> None:
        def need(name: str, ok: bool) -> None:
            if not ok:
                raise ValueError(f"realtime.{name} is out of range: {getattr(self, name)!r}")

        for name in ("frequency_hz", "state_of_charge", "p_rated_kw", "capacity_kwh",
                     "scheduled_kw", "droop_pu", "deadband_hz", "sustain_h"):
            need(name, math.isfinite(getattr(self, name)))
        need("frequency_hz", 30.0 < self.frequency_hz < 80.0)
        need("state_of_charge", 0.0 <= self.state_of_charge <= 1.0)
        need("p_rated_kw", self.p_rated_kw >= 0.0)
        need("capacity_kwh", self.capacity_kwh > 0.0)
        need("droop_pu", self.droop_pu > 0.0)
        need("deadband_hz", self.deadband_hz >= 0.0)
        need("sustain_h", self.sustain_h > 0.0)
        need("soc_max", 0.0 <= self.soc_min <= self.soc_max <= 1.0)
        need("eta_c", 0.0 < self.eta_c <= 1.0)
        need("eta_d", 0.0 < self.eta_d <= 1.0)
        if self.nominal_hz is not None:
            need("nominal_hz", self.nominal_hz in (50.0, 60.0))

    @property
    def f_nominal_hz(self) -> float:
        """The nominal frequency: given, or 50/60 Hz, whichever is nearer."""
        if self.nominal_hz is not None:
            return self.nominal_hz
        return 60.0 if abs(self.frequency_hz - 60.0) < abs(self.frequency_hz - 50.0) else 50.0


@dataclass(frozen=True)
class DroopAnswer:
    """The rule's answer: what was asked, what the battery can give, and what limited it."""

    setpoint_kw: float
    requested_response_kw: float
    response_kw: float
    active: bool
    limited_by: str | None


def droop_response(problem: RealtimeProblem) -> DroopAnswer:
    """Apply the droop rule of the module docstring."""
    pr = problem
    f0 = pr.f_nominal_hz
    curve = DroopCurve(DroopSpec(f0_hz=f0, deadband_hz=pr.deadband_hz,
                                 full_hz=pr.deadband_hz + pr.droop_pu * f0))
    requested = curve.fraction(pr.frequency_hz) * pr.p_rated_kw
    wanted = pr.scheduled_kw + requested
    up, down = store_limits(
        energy_kwh=pr.state_of_charge * pr.capacity_kwh,
        e_min_kwh=pr.soc_min * pr.capacity_kwh, e_max_kwh=pr.soc_max * pr.capacity_kwh,
        eta_c=pr.eta_c, eta_d=pr.eta_d, p_discharge_kw=pr.p_rated_kw,
        p_charge_kw=pr.p_rated_kw, duration_h=pr.sustain_h)
    setpoint, limited = wanted, None
    if wanted > up:
        setpoint = up
        limited = "power rating" if up == pr.p_rated_kw else "stored energy (state of charge)"
    elif wanted < -down:
        setpoint = -down
        limited = "power rating" if down == pr.p_rated_kw else "room to charge (state of charge)"
    return DroopAnswer(setpoint, requested, setpoint - pr.scheduled_kw, requested != 0.0,
                       limited)


class DroopRealtimePlugin(OptimizationPlugin):
    """The droop rule as a plug-in; it runs in the caller's process (microseconds)."""

    isolated = False

    def __init__(self) -> None:
        super().__init__("droop_rule", "1.0")

    def validate_problem(self, problem: object) -> bool:
        """Realtime problems only."""
        return isinstance(problem, RealtimeProblem)

    def solve(self, problem: RealtimeProblem, timeout_ms: int | None = None) -> OptimizationResult:
        """The set-point; ``objective_value`` is the response shortfall (kW) against the rule."""
        a = droop_response(problem)
        return OptimizationResult(
            status=OptimizationStatus.SUCCESS,
            objective_value=abs(a.requested_response_kw - a.response_kw),
            solution={"battery_power_setpoint": a.setpoint_kw,
                      "frequency_response_kw": a.response_kw,
                      "requested_response_kw": a.requested_response_kw,
                      "frequency_response_active": a.active,
                      "nominal_frequency": problem.f_nominal_hz,
                      "limited_by": a.limited_by},
            method=self.name)


def _fallback(problem: RealtimeProblem, reason: str) -> OptimizationResult:
    """Hold the scheduled set-point (no frequency response), within the battery's limits;
    its cost is the whole requested response, unserved."""
    a = droop_response(replace(problem, frequency_hz=problem.f_nominal_hz))
    shortfall = abs(droop_response(problem).requested_response_kw)
    return OptimizationResult(
        status=OptimizationStatus.FALLBACK_USED, objective_value=shortfall,
        solution={"battery_power_setpoint": a.setpoint_kw, "frequency_response_kw": 0.0,
                  "frequency_response_active": False},
        metadata={"fallback_cost": shortfall, "fallback_cost_unit": "kW of response not given"},
        method="hold the scheduled set-point", fallback_used=True, fallback_reason=reason)


def _check(problem: RealtimeProblem, solution: dict) -> tuple[str | None, dict]:
    value = solution.get("battery_power_setpoint")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "the solution has no finite battery_power_setpoint", {}
    if abs(value) > problem.p_rated_kw + 1e-6:
        return f"set-point {value} kW exceeds the rating {problem.p_rated_kw} kW", {}
    return None, {}


register_kind(ProblemKind("realtime", DroopRealtimePlugin, _fallback, _check))
