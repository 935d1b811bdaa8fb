"""The reference library's quick-start calls, with the same names and meaning, giving
right answers (``docs/planning.md`` maps each call).

Its data come as dictionaries with prices in currency per kWh; here they are turned into
this package's typed problems (prices per MWh, so costs come out in the same currency).
Unknown keys are errors that name the key, never silently ignored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from vpp.coordination.planning.cvar import PlanningError
from vpp.coordination.planning.distributed import DistributedProblem, SiteOffer
from vpp.coordination.planning.engine import create_optimization_engine, kind_of
from vpp.coordination.planning.model import StochasticProblem, schedule_violation
from vpp.coordination.planning.realtime import RealtimeProblem
from vpp.coordination.planning.results import OptimizationStatus
from vpp.coordination.planning.scenarios import Uncertainty, generate_scenarios
from vpp.coordination.planning.schedule import DistributedScheduleProblem
from vpp.coordination.planning.stochastic import CVaRStochasticPlugin
from vpp.physics.battery import BatteryParams

if TYPE_CHECKING:
    from vpp.coordination.planning.cvar import Plan
    from vpp.coordination.planning.mpc import MpcResult

_STOCHASTIC_KEYS = {
    "base_prices", "renewable_forecast", "load_forecast", "battery_capacity", "max_power",
    "max_charge_power", "max_discharge_power", "charge_efficiency", "discharge_efficiency",
    "initial_soc", "min_soc", "max_soc", "final_soc", "degradation_cost", "time_step",
    "renewable_capacity", "grid_import_limit", "grid_export_limit", "start_hour",
}
_UNCERTAINTY_KEYS = {"price_volatility", "renewable_error", "load_uncertainty", "correlation",
                     "method", "seed", "risk_level", "risk_weight", "reduce_to"}
_REALTIME_KEYS = {"grid_frequency", "battery_soc", "total_load", "renewable_generation",
                  "electricity_price", "max_power", "battery_capacity", "nominal_frequency",
                  "droop", "deadband", "scheduled_power", "min_soc", "max_soc"}
_SITE_KEYS = {"site_id", "total_capacity", "available_capacity", "marginal_cost",
              "reserve_price", "location"}


def _unknown(where: str, given: Mapping[str, Any], known: set[str]) -> None:
    extra = sorted(set(given) - known)
    if extra:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, extra))} "
                         f"(known: {', '.join(sorted(known))})")


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _series(where: str, values: Any, horizon: int | None = None) -> np.ndarray:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise TypeError(f"{where} must be a list of numbers, got {type(values).__name__}")
    out = np.array([_number(f"{where}[{i}]", v) for i, v in enumerate(values)])
    if horizon is not None and len(out) != horizon:
        raise ValueError(f"{where} must have {horizon} values (as base_prices), got {len(out)}")
    return out


def create_stochastic_problem(base_data: Mapping[str, Any], num_scenarios: int = 10,
                              uncertainty_config: Mapping[str, Any] | None = None
                              ) -> StochasticProblem:
    """A battery site facing ``num_scenarios`` scenarios around the forecasts.

    ``base_data``: ``base_prices`` (per kWh, required), ``renewable_forecast`` and
    ``load_forecast`` (kW), ``battery_capacity`` (kWh, default 1000), ``max_power`` (kW,
    default capacity / 4), efficiencies, state-of-charge limits, ``degradation_cost`` (per
    kWh of throughput), ``time_step`` (h), grid limits (kW). ``uncertainty_config``:
    ``price_volatility`` (0.2), ``renewable_error`` (0.15), ``load_uncertainty`` (0.1),
    ``correlation`` (0.8), ``method`` (``parametric`` or ``bootstrap``), ``seed``,
    ``risk_level`` (0.05), ``risk_weight`` (0.5), ``reduce_to`` (K representative scenarios).
    """
    if not isinstance(base_data, Mapping):
        raise TypeError("base_data must be a mapping")
    _unknown("base_data", base_data, _STOCHASTIC_KEYS)
    cfg = dict(uncertainty_config or {})
    _unknown("uncertainty_config", cfg, _UNCERTAINTY_KEYS)
    if "base_prices" not in base_data:
        raise ValueError("base_data: 'base_prices' is required (price per kWh, one per step)")
    price = _series("base_data['base_prices']", base_data["base_prices"]) * 1000.0
    t = len(price)
    if t == 0:
        raise ValueError("base_data['base_prices'] must not be empty")

    def opt(key: str, default: float) -> float:
        return _number(f"base_data[{key!r}]", base_data[key]) if key in base_data else default

    def series(key: str) -> np.ndarray | None:
        return _series(f"base_data[{key!r}]", base_data[key], t) if key in base_data else None

    capacity = opt("battery_capacity", 1000.0)
    p_max = opt("max_power", capacity / 4.0)
    soc_init = opt("initial_soc", 0.5)
    storage = BatteryParams(
        capacity, opt("max_charge_power", p_max), opt("max_discharge_power", p_max),
        opt("charge_efficiency", 0.95), opt("discharge_efficiency", 0.95),
        opt("min_soc", 0.1), opt("max_soc", 0.9), soc_init,
        soc_final_min=opt("final_soc", soc_init),
        degradation_eur_mwh=opt("degradation_cost", 0.0) * 1000.0, name="storage")
    ren, load = series("renewable_forecast"), series("load_forecast")
    uncertainty = Uncertainty(
        _number("uncertainty_config['price_volatility']", cfg.get("price_volatility", 0.2)),
        _number("uncertainty_config['renewable_error']", cfg.get("renewable_error", 0.15)),
        _number("uncertainty_config['load_uncertainty']", cfg.get("load_uncertainty", 0.1)),
        _number("uncertainty_config['correlation']", cfg.get("correlation", 0.8)))
    if not isinstance(num_scenarios, int) or num_scenarios < 1:
        raise ValueError(f"num_scenarios must be an int >= 1, got {num_scenarios!r}")
    scenarios = generate_scenarios(
        price, ren, load, count=num_scenarios, uncertainty=uncertainty,
        method=str(cfg.get("method", "parametric")), seed=int(cfg.get("seed", 0)),
        dt_h=opt("time_step", 1.0),
        renewable_capacity_kw=(opt("renewable_capacity", 0.0) or None),
        start_hour=int(opt("start_hour", 0)))
    if "reduce_to" in cfg:
        from vpp.coordination.planning.scenarios import reduce_scenarios

        scenarios = reduce_scenarios(scenarios, int(cfg["reduce_to"]), int(cfg.get("seed", 0)))
    limit_in, limit_out = opt("grid_import_limit", math.inf), opt("grid_export_limit", math.inf)
    return StochasticProblem(
        storage, scenarios,
        import_max_kw=None if math.isinf(limit_in) else limit_in,
        export_max_kw=None if math.isinf(limit_out) else limit_out,
        risk_level=_number("uncertainty_config['risk_level']", cfg.get("risk_level", 0.05)),
        risk_weight=_number("uncertainty_config['risk_weight']", cfg.get("risk_weight", 0.5)))


def create_realtime_problem(current_state: Mapping[str, Any],
                            forecasts: Mapping[str, Any] | None = None) -> RealtimeProblem:
    """A battery's instant answer to the grid frequency (solved by the local droop rule).

    ``current_state``: ``grid_frequency`` (Hz) and ``battery_soc`` (fraction) required;
    ``max_power`` (kW, 250), ``battery_capacity`` (kWh, 1000), ``nominal_frequency`` (50/60,
    default the nearer), ``droop`` (pu, 0.05), ``deadband`` (Hz, 0.01), ``scheduled_power``
    (kW), ``min_soc``/``max_soc``. ``total_load``, ``renewable_generation`` and
    ``electricity_price`` are accepted and do not change the rule. ``forecasts`` may give
    ``scheduled_power`` (the plan's set-point now).
    """
    _unknown("current_state", current_state, _REALTIME_KEYS)
    fc = dict(forecasts or {})
    _unknown("forecasts", fc, {"scheduled_power"})
    for key in ("grid_frequency", "battery_soc"):
        if key not in current_state:
            raise ValueError(f"current_state: {key!r} is required")

    def opt(key: str, default: float) -> float:
        return (_number(f"current_state[{key!r}]", current_state[key]) if key in current_state
                else default)

    scheduled = (_number("forecasts['scheduled_power']", fc["scheduled_power"])
                 if "scheduled_power" in fc else opt("scheduled_power", 0.0))
    nominal = current_state.get("nominal_frequency")
    return RealtimeProblem(
        frequency_hz=opt("grid_frequency", 0.0), state_of_charge=opt("battery_soc", 0.0),
        p_rated_kw=opt("max_power", 250.0), capacity_kwh=opt("battery_capacity", 1000.0),
        scheduled_kw=scheduled,
        nominal_hz=None if nominal is None else _number("current_state['nominal_frequency']",
                                                        nominal),
        droop_pu=opt("droop", 0.05), deadband_hz=opt("deadband", 0.01),
        soc_min=opt("min_soc", 0.1), soc_max=opt("max_soc", 0.9))


def create_distributed_problem(sites_data: Sequence[Mapping[str, Any]],
                               coordination_targets: Mapping[str, Any] | None = None
                               ) -> DistributedProblem | DistributedScheduleProblem:
    """Sites sharing a power target and a reserve, solved by the swarm's negotiation.

    Each site: ``site_id``, ``total_capacity`` (kW), ``available_capacity`` (kW, default the
    total), ``marginal_cost`` (per kWh), ``reserve_price`` (per kW per hour, default 0).
    ``coordination_targets``: ``total_power`` (kW, default 0) and ``reserve`` (kW, 0). One
    ``total_power`` value: the merit-order negotiation of one hour (with the reserve); a
    list (one per hour): the sites' schedules by the ADMM negotiation (no reserve).
    """
    sites = []
    for i, data in enumerate(sites_data):
        where = f"sites_data[{i}]"
        _unknown(where, data, _SITE_KEYS)
        for key in ("site_id", "total_capacity", "marginal_cost"):
            if key not in data:
                raise ValueError(f"{where}: {key!r} is required")
        total = _number(f"{where}['total_capacity']", data["total_capacity"])
        available = _number(f"{where}['available_capacity']",
                            data.get("available_capacity", total))
        if available > total:
            raise ValueError(f"{where}: available_capacity {available} exceeds total_capacity "
                             f"{total}")
        sites.append(SiteOffer(str(data["site_id"]), available,
                               _number(f"{where}['marginal_cost']", data["marginal_cost"]) * 1000,
                               _number(f"{where}['reserve_price']",
                                       data.get("reserve_price", 0.0)) * 1000))
    targets = dict(coordination_targets or {})
    _unknown("coordination_targets", targets, {"total_power", "reserve"})
    if isinstance(targets.get("total_power"), Sequence):
        if targets.get("reserve", 0.0):
            raise ValueError("coordination_targets: 'reserve' is only supported with one "
                             "'total_power' value, not a schedule")
        return DistributedScheduleProblem(
            tuple(sites), tuple(_series("coordination_targets['total_power']",
                                        targets["total_power"]).tolist()))
    return DistributedProblem(
        tuple(sites), _number("coordination_targets['total_power']",
                              targets.get("total_power", 0.0)),
        _number("coordination_targets['reserve']", targets.get("reserve", 0.0)))


METHODS = ("rules", "cvar", "expected_value")
"""The methods benchmarked on a stochastic problem when none are named."""
KNOWN_METHODS = (*METHODS, "mpc")
"""Every method :func:`benchmark_optimization_methods` takes for a stochastic problem."""


def mpc_plan(problem: StochasticProblem) -> tuple[Plan, MpcResult]:
    """The project's MPC (:func:`.mpc.run_mpc`) on a stochastic problem, scored like the
    other methods.

    The problem fixes the battery's schedule before any scenario is revealed, so the only
    forecast it gives is the expected price of each step: the controller re-plans each step
    on it over the rest of the horizon, a :class:`vpp.physics.battery.Battery` delivers the
    first step, and the delivered schedule is scored over every scenario (renewables and
    load included; :func:`.cvar.score`). Without new information on the way, the closed
    loop earns what the risk-neutral plan earns (the ``expected_value`` method).

    Raises:
        ValueError: the problem has grid limits (the MPC plans the battery on price alone).
        PlanningError: a window LP has no solution.
    """
    if problem.import_max_kw is not None or problem.export_max_kw is not None:
        raise ValueError("method 'mpc': the MPC plans the battery on price alone and does "
                         "not model this problem's grid limits (import_max_kw/export_max_kw)")
    from vpp.coordination.planning.cvar import score
    from vpp.coordination.planning.mpc import run_mpc

    expected = problem.scenarios.expected_price()
    last = len(expected) - 1

    def forecast(step: int, horizon: int) -> np.ndarray:
        return expected[np.minimum(np.arange(step, step + horizon), last)]

    t0 = time.perf_counter()
    run = run_mpc(expected, problem.storage, horizon=problem.horizon, forecast=forecast,
                  dt_h=problem.dt_h)
    power = run.power_kw
    plan = score(problem, np.maximum(-power, 0.0), np.maximum(power, 0.0), method="mpc",
                 status="closed loop", risk_level=problem.risk_level,
                 risk_weight=problem.risk_weight, solve_s=time.perf_counter() - t0)
    return plan, run


def _mpc_run(problem: StochasticProblem) -> tuple[float, bool]:
    """One MPC run for the benchmark: its expected cost and whether it succeeded (every
    window solved, the delivered schedule within the battery's limits)."""
    try:
        plan, _ = mpc_plan(problem)
    except PlanningError:
        return math.nan, False
    bad = schedule_violation(problem.storage, plan.charge_kw, plan.discharge_kw, problem.dt_h,
                             tol_kwh=1e-6 * problem.storage.capacity_kwh + 1e-6)
    ok = bad is None and math.isfinite(plan.expected_cost_eur)
    return plan.expected_cost_eur, ok


def benchmark_optimization_methods(problem: Any, methods: Sequence[str] | None = None,
                                   num_runs: int = 10) -> dict[str, dict[str, Any]]:
    """Solve ``problem`` ``num_runs`` times per method; time and cost per method.

    Methods for a stochastic problem: ``rules`` (the rule-based plan), ``cvar`` (the CVaR
    LP at the problem's risk settings), ``expected_value`` (the same LP with risk weight
    0), ``mpc`` (the receding-horizon controller, :func:`mpc_plan`); for a realtime or
    distributed problem ``default`` (the kind's own solver) and ``rules``. Each entry gives
    ``avg_solve_time``, ``min_solve_time``, ``max_solve_time`` (s), ``avg_objective``
    (the expected cost, in the problem's currency; over the successful runs for ``mpc``),
    ``success_rate`` (how often the requested method itself produced the result: a
    fallback does not count) and ``methods_used`` (what really produced the results).
    """
    kind = kind_of(problem)
    if methods is None:
        methods = METHODS if kind.name == "stochastic" else ("default", "rules")
    if not isinstance(num_runs, int) or num_runs < 1:
        raise ValueError(f"num_runs must be an int >= 1, got {num_runs!r}")
    for method in methods:
        if method not in (*KNOWN_METHODS, "default"):
            raise ValueError(f"unknown method {method!r} (known: "
                             f"{', '.join(KNOWN_METHODS)}, default)")
        if method in ("cvar", "expected_value", "mpc") and kind.name != "stochastic":
            raise ValueError(f"method {method!r} needs a stochastic problem, got {kind.name}")
    stats: dict[str, dict[str, Any]] = {}
    for method in methods:
        engine = create_optimization_engine("standard")
        if method == "cvar":
            engine.register_plugin(CVaRStochasticPlugin())
        elif method == "expected_value":
            engine.register_plugin(CVaRStochasticPlugin(risk_weight=0.0))
        times, values, used, ok = [], [], set(), 0
        for _ in range(num_runs):
            t0 = time.perf_counter()
            if method == "mpc":
                value, success = _mpc_run(problem)
                times.append(time.perf_counter() - t0)
                used.add("mpc")
                ok += success
                if success:
                    values.append(value)
                continue
            result = engine.solve(problem, force_fallback=(method == "rules"))
            times.append(time.perf_counter() - t0)
            values.append(result.objective_value)
            used.add(result.method)
            ok += result.status is (OptimizationStatus.FALLBACK_USED if method == "rules"
                                    else OptimizationStatus.SUCCESS)
        stats[method] = {"avg_solve_time": float(np.mean(times)),
                         "min_solve_time": float(np.min(times)),
                         "max_solve_time": float(np.max(times)),
                         "avg_objective": float(np.mean(values)) if values else math.nan,
                         "success_rate": ok / num_runs, "methods_used": sorted(used)}
    return stats
