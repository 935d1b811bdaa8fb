"""The planning problem as plain values, and how a schedule is scored (no solver here).

A site with a battery, renewable generation and a load trades its net position with the
grid at the scenario's price. Sign convention as everywhere: positive power is injection
(battery discharge), negative is absorption (charge). kW, kWh, hours, EUR/MWh, EUR.

First stage (shared by every scenario): the battery's charge ``c[t]`` and discharge
``d[t]``. Recourse (per scenario): renewable curtailment ``u[s, t]`` in ``[0, R[s, t]]``
and load shedding ``v[s, t]`` in ``[0, L[s, t]]``. Grid exchange
``g[s, t] = R - u - L + v + d - c``, within ``[-import_max_kw, export_max_kw]`` when
those are given. Cost of scenario ``s``, EUR::

    dt/1000 * sum_t ( -price[s, t] * g[s, t] + curtail * u + voll * v
                      + degradation * (c + d) )

The battery is the one battery description, :class:`vpp.physics.battery.BatteryParams`:
the planner reads its ratings, its energy bounds (``e_min_kwh``, ``e_max_kwh``,
``e_init_kwh`` and ``e_final_min_kwh``, the least at the end of the horizon: by default the
initial energy, so a plan cannot sell energy it did not buy) and ``degradation_eur_mwh``
(above). It stores ``eta_c * c * dt`` and draws ``d * dt / eta_d``: energy is never
created. :func:`recourse` gives the optimal recourse for a fixed battery schedule in closed
form, so any schedule (an LP's, a plug-in's, the rules') is scored the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from vpp.coordination.planning.scenarios import ScenarioSet
from vpp.physics.battery import BatteryParams


def _check(name: str, value: float, low: float | None = None, high: float | None = None,
           open_low: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (open_low and value == low)):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return value


@dataclass(frozen=True)
class StochasticProblem:
    """A battery site facing S scenarios (the planning problem of this package).

    ``import_max_kw`` / ``export_max_kw`` bound the grid exchange (None: unbounded);
    ``curtail_eur_mwh`` is the cost of curtailing renewable generation, ``voll_eur_mwh``
    the value of lost load (the cost of shedding it). ``risk_level`` (the CVaR's tail
    probability) and ``risk_weight`` (0: expected cost only, 1: CVaR only) are the owner's
    attitude to risk, used when a solver is not given others.
    """

    storage: BatteryParams
    scenarios: ScenarioSet
    import_max_kw: float | None = None
    export_max_kw: float | None = None
    curtail_eur_mwh: float = 0.0
    voll_eur_mwh: float = 3000.0
    risk_level: float = 0.05
    risk_weight: float = 0.5
    kind: str = "stochastic"

    def __post_init__(self) -> None:
        if not isinstance(self.storage, BatteryParams):
            raise ValueError(f"problem.storage must be a vpp.physics.battery.BatteryParams, "
                             f"got {type(self.storage).__name__}")
        for name in ("import_max_kw", "export_max_kw"):
            if getattr(self, name) is not None:
                _check(f"problem.{name}", getattr(self, name), 0.0)
        _check("problem.curtail_eur_mwh", self.curtail_eur_mwh, 0.0)
        _check("problem.voll_eur_mwh", self.voll_eur_mwh, 0.0)
        _check("problem.risk_level", self.risk_level, 0.0, 1.0, open_low=True)
        _check("problem.risk_weight", self.risk_weight, 0.0, 1.0)

    @property
    def horizon(self) -> int:
        """The number of steps."""
        return self.scenarios.horizon

    @property
    def dt_h(self) -> float:
        """The step length in hours."""
        return self.scenarios.dt_h


def energy_path(storage: BatteryParams, charge_kw: np.ndarray, discharge_kw: np.ndarray,
                dt_h: float) -> np.ndarray:
    """Stored energy (kWh) at the start and after each step: T + 1 values."""
    c, d = np.asarray(charge_kw), np.asarray(discharge_kw)
    delta = storage.eta_c * c * dt_h - d * dt_h / storage.eta_d
    return storage.e_init_kwh + np.concatenate(([0.0], np.cumsum(delta)))


def schedule_violation(storage: BatteryParams, charge_kw: np.ndarray, discharge_kw: np.ndarray,
                       dt_h: float, tol_kwh: float = 1e-6) -> str | None:
    """Why a battery schedule is not feasible (power, energy, end of horizon), or None."""
    c = np.asarray(charge_kw, dtype=float)
    d = np.asarray(discharge_kw, dtype=float)
    tol_kw = tol_kwh / dt_h
    if not (np.isfinite(c).all() and np.isfinite(d).all()):
        return "the schedule has non-finite values"
    if c.min() < -tol_kw or d.min() < -tol_kw:
        return "charge and discharge must be >= 0"
    if c.max() > storage.p_charge_max_kw + tol_kw:
        return f"charge {c.max():.3f} kW exceeds p_charge_max_kw {storage.p_charge_max_kw}"
    if d.max() > storage.p_discharge_max_kw + tol_kw:
        return f"discharge {d.max():.3f} kW exceeds p_discharge_max_kw {storage.p_discharge_max_kw}"
    e = energy_path(storage, c, d, dt_h)
    if e.min() < storage.e_min_kwh - tol_kwh:
        return f"stored energy falls to {e.min():.3f} kWh, below {storage.e_min_kwh:.3f}"
    if e.max() > storage.e_max_kwh + tol_kwh:
        return f"stored energy rises to {e.max():.3f} kWh, above {storage.e_max_kwh:.3f}"
    if e[-1] < storage.e_final_min_kwh - tol_kwh:
        return (f"stored energy ends at {e[-1]:.3f} kWh, below the end-of-horizon "
                f"minimum {storage.e_final_min_kwh:.3f}")
    return None


@dataclass(frozen=True)
class Recourse:
    """The optimal recourse for a fixed battery schedule, per scenario and step (kW)."""

    curtail_kw: np.ndarray
    shed_kw: np.ndarray
    grid_kw: np.ndarray
    feasible: np.ndarray


def recourse(problem: StochasticProblem, battery_kw: np.ndarray) -> Recourse:
    """Best curtailment and shedding given the battery's net power ``d - c``.

    Each (scenario, step) is a two-variable LP with box bounds and one ranged constraint:
    first each lever is set where it pays on its own, then the grid limits are restored
    with the cheaper lever first. ``feasible[s, t]`` is False where no lever suffices.
    """
    sc = problem.scenarios
    price, ren, load = sc.price_eur_mwh, sc.renewable_kw, sc.load_kw
    b = np.broadcast_to(np.asarray(battery_kw, dtype=float), price.shape)
    cu, voll = problem.curtail_eur_mwh, problem.voll_eur_mwh
    u = np.where(price + cu < 0.0, ren, 0.0)
    v = np.where(price > voll, load, 0.0)
    g = ren - u - load + v + b
    if problem.export_max_kw is not None:
        excess = np.maximum(g - problem.export_max_kw, 0.0)
        # lowering g: more curtailment costs price + cu per kW, less shedding price - voll
        room_u, room_v = ren - u, v
        u_first = price + cu <= price - voll
        for use_u in (u_first, ~u_first):
            take = np.where(use_u, np.minimum(excess, room_u), 0.0)
            u, excess, room_u = u + take, excess - take, room_u - take
            take = np.where(~use_u, np.minimum(excess, room_v), 0.0)
            v, excess, room_v = v - take, excess - take, room_v - take
    if problem.import_max_kw is not None:
        g = ren - u - load + v + b
        deficit = np.maximum(-problem.import_max_kw - g, 0.0)
        # raising g: less curtailment costs -(price + cu) per kW, more shedding voll - price
        room_u, room_v = u, load - v
        u_first = -(price + cu) <= voll - price
        for use_u in (u_first, ~u_first):
            take = np.where(use_u, np.minimum(deficit, room_u), 0.0)
            u, deficit, room_u = u - take, deficit - take, room_u - take
            take = np.where(~use_u, np.minimum(deficit, room_v), 0.0)
            v, deficit, room_v = v + take, deficit - take, room_v - take
    g = ren - u - load + v + b
    tol = 1e-6
    feasible = np.ones(price.shape, dtype=bool)
    if problem.export_max_kw is not None:
        feasible &= g <= problem.export_max_kw + tol
    if problem.import_max_kw is not None:
        feasible &= g >= -problem.import_max_kw - tol
    return Recourse(u, v, g, feasible)


def scenario_costs(problem: StochasticProblem, charge_kw: np.ndarray,
                   discharge_kw: np.ndarray) -> tuple[np.ndarray, Recourse]:
    """Each scenario's cost (EUR) of a battery schedule with its optimal recourse."""
    c = np.asarray(charge_kw, dtype=float)
    d = np.asarray(discharge_kw, dtype=float)
    r = recourse(problem, d - c)
    sc = problem.scenarios
    k = sc.dt_h / 1000.0
    cost = k * ((-sc.price_eur_mwh * r.grid_kw + problem.curtail_eur_mwh * r.curtail_kw
                 + problem.voll_eur_mwh * r.shed_kw).sum(axis=1)
                + problem.storage.degradation_eur_mwh * float((c + d).sum()))
    return np.where(r.feasible.all(axis=1), cost, np.inf), r


def cvar(costs: np.ndarray, probability: np.ndarray, risk_level: float) -> float:
    """Conditional value at risk: the expected cost in the worst ``risk_level`` tail
    (probability mass), exact for a discrete distribution (Rockafellar and Uryasev)."""
    if not 0.0 < risk_level <= 1.0:
        raise ValueError(f"risk_level must be in (0, 1], got {risk_level!r}")
    order = np.argsort(costs)[::-1]
    c, p = np.asarray(costs)[order], np.asarray(probability)[order]
    taken = np.minimum(p, np.maximum(risk_level - (np.cumsum(p) - p), 0.0))
    return float(taken @ c / risk_level)
