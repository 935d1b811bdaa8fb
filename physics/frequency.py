"""Aggregate grid frequency: a single-machine swing equation with governor droop.

Per unit on the system base ``S`` (MW), with ``df = (f - f0) / f0``::

    2 H d(df)/dt = p_gov + p_vpp - p_loss - D * df
    T_g d(p_gov)/dt = -df / R - p_gov

``H`` is the aggregate inertia constant (s), ``D`` the load damping (pu power per pu
frequency), ``R`` the droop of the rest of the system's primary response (pu) acting
through a first-order lag ``T_g`` (s). ``p_loss`` comes from disturbance events
(loss of infeed of X MW at time t), ``p_vpp`` is the external (VPP) injection passed to
each :meth:`GridFrequency.step`, so the VPP's response feeds back on the frequency.

Consequences the tests check: the initial RoCoF after losing ``dP`` MW is
``-dP * f0 / (2 H S)``; the settling frequency is ``f0 * (1 - (dP - P_vpp) / (S (D + 1/R)))``.
Integration is classical Runge-Kutta (4th order) in plain floats; a step that spans an
event is split at the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from vpp.physics._validate import finite, non_negative, positive


@dataclass(frozen=True, slots=True)
class LossOfInfeed:
    """A disturbance: ``mw`` of generation trips at ``t_s`` (negative ``mw`` = load trip)."""

    t_s: float
    mw: float


@dataclass(frozen=True, slots=True)
class GridParams:
    """Aggregate system parameters (see the module docstring)."""

    f0_hz: float = 50.0
    inertia_h_s: float = 5.0
    s_base_mw: float = 30000.0
    damping_pu: float = 1.0
    droop_pu: float = 0.05
    governor_time_constant_s: float = 5.0
    events: tuple[LossOfInfeed, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.f0_hz not in (50.0, 60.0):
            raise ValueError(f"grid.f0_hz must be 50 or 60, got {self.f0_hz!r}")
        positive("grid.inertia_h_s", self.inertia_h_s)
        positive("grid.s_base_mw", self.s_base_mw)
        non_negative("grid.damping_pu", self.damping_pu)
        positive("grid.droop_pu", self.droop_pu)
        positive("grid.governor_time_constant_s", self.governor_time_constant_s)
        for i, ev in enumerate(self.events):
            if not isinstance(ev, LossOfInfeed):
                raise ValueError(f"grid.events[{i}] must be a LossOfInfeed, got {ev!r}")
            non_negative(f"grid.events[{i}].t_s", ev.t_s)
            finite(f"grid.events[{i}].mw", ev.mw)

    def settling_frequency_hz(self, lost_mw: float, vpp_mw: float = 0.0) -> float:
        """Steady-state frequency after losing ``lost_mw`` with ``vpp_mw`` injected."""
        beta = self.damping_pu + 1.0 / self.droop_pu
        return self.f0_hz * (1.0 - (lost_mw - vpp_mw) / (self.s_base_mw * beta))

    def initial_rocof_hz_per_s(self, lost_mw: float) -> float:
        """RoCoF just after losing ``lost_mw``: ``-dP f0 / (2 H S)``."""
        return -lost_mw * self.f0_hz / (2.0 * self.inertia_h_s * self.s_base_mw)


class FrequencyState(NamedTuple):
    """Grid state after one step."""

    t_s: float
    f_hz: float
    rocof_hz_per_s: float
    p_governor_mw: float
    p_disturbance_mw: float


class GridFrequency:
    """The swing-equation model; advance it with :meth:`step`."""

    __slots__ = ("params", "t_s", "df_pu", "p_gov_pu", "p_loss_pu", "_f0", "_2h", "_d",
                 "_inv_r", "_tg", "_s", "_events", "_next")

    def __init__(self, params: GridParams) -> None:
        self.params = params
        self.t_s = 0.0
        self.df_pu = 0.0
        self.p_gov_pu = 0.0
        self.p_loss_pu = 0.0
        self._f0 = float(params.f0_hz)
        self._2h = 2.0 * float(params.inertia_h_s)
        self._d = float(params.damping_pu)
        self._inv_r = 1.0 / float(params.droop_pu)
        self._tg = float(params.governor_time_constant_s)
        self._s = float(params.s_base_mw)
        self._events = sorted(params.events, key=lambda e: e.t_s)
        self._next = 0
        self._apply_due_events()

    @property
    def f_hz(self) -> float:
        """Present frequency."""
        return self._f0 * (1.0 + self.df_pu)

    def _apply_due_events(self) -> None:
        while self._next < len(self._events) and self._events[self._next].t_s <= self.t_s:
            self.p_loss_pu += self._events[self._next].mw / self._s
            self._next += 1

    def _rk4(self, h: float, p_vpp: float) -> None:
        two_h, d, inv_r, tg, loss = self._2h, self._d, self._inv_r, self._tg, self.p_loss_pu
        x, g = self.df_pu, self.p_gov_pu
        k1x = (g + p_vpp - loss - d * x) / two_h
        k1g = (-x * inv_r - g) / tg
        x2, g2 = x + 0.5 * h * k1x, g + 0.5 * h * k1g
        k2x = (g2 + p_vpp - loss - d * x2) / two_h
        k2g = (-x2 * inv_r - g2) / tg
        x3, g3 = x + 0.5 * h * k2x, g + 0.5 * h * k2g
        k3x = (g3 + p_vpp - loss - d * x3) / two_h
        k3g = (-x3 * inv_r - g3) / tg
        x4, g4 = x + h * k3x, g + h * k3g
        k4x = (g4 + p_vpp - loss - d * x4) / two_h
        k4g = (-x4 * inv_r - g4) / tg
        self.df_pu = x + h * (k1x + 2.0 * k2x + 2.0 * k3x + k4x) / 6.0
        self.p_gov_pu = g + h * (k1g + 2.0 * k2g + 2.0 * k3g + k4g) / 6.0

    def step(self, vpp_injection_mw: float, dt_s: float) -> FrequencyState:
        """Advance ``dt_s`` seconds with ``vpp_injection_mw`` injected (positive raises f)."""
        if not dt_s > 0.0:
            raise ValueError(f"grid.dt_s must be > 0, got {dt_s!r}")
        p_vpp = vpp_injection_mw / self._s
        t_end = self.t_s + dt_s
        while self._next < len(self._events) and self._events[self._next].t_s < t_end:
            h = self._events[self._next].t_s - self.t_s
            if h > 0.0:
                self._rk4(h, p_vpp)
            self.t_s = self._events[self._next].t_s
            self._apply_due_events()
        h = t_end - self.t_s
        if h > 0.0:
            self._rk4(h, p_vpp)
        self.t_s = t_end
        self._apply_due_events()
        accel = self.p_gov_pu + p_vpp - self.p_loss_pu - self._d * self.df_pu
        rocof = self._f0 * accel / self._2h
        return FrequencyState(t_end, self._f0 * (1.0 + self.df_pu), rocof,
                              self.p_gov_pu * self._s, self.p_loss_pu * self._s)
