"""The reference library's optimization quick-start names (``from vpp.optimization import ...``).

Every name is the project's own implementation in :mod:`vpp.coordination.planning`
(``docs/planning.md``, "Coming from the reference library", says what differs):

- :func:`create_stochastic_problem` -> a battery site facing price, renewable and load
  scenarios, solved by the CVaR LP (:class:`CVaRStochasticPlugin`);
- :func:`create_realtime_problem` -> the battery's droop answer to the grid frequency
  (under-frequency: it injects, ``solution['battery_power_setpoint'] > 0``);
- :func:`create_distributed_problem` -> sites sharing a target by the swarm's merit-order
  negotiation (the cheaper site first) or, for a schedule, by ADMM;
- :func:`solve_with_fallback`, :func:`create_optimization_engine` -> plug-ins under a real
  timeout, then a rule-based fallback that says it was used;
- :class:`OptimizationPlugin`, :class:`OptimizationResult`, :class:`OptimizationStatus` ->
  a custom optimizer plugs in (its solution is checked before it is believed);
- :func:`benchmark_optimization_methods` -> ``rules``, ``cvar``, ``expected_value``,
  ``mpc`` timed on one problem.

Results are :class:`OptimizationResult` structs; ``result.solution`` is a ``dict`` (read
``result.solution['battery_power']``, ``['battery_power_setpoint']``, ``['target_power']``).
Prices in the quick-start dictionaries are per kWh; costs come out in the same currency.
"""

from __future__ import annotations

from vpp.coordination.planning import (
    CVaRStochasticPlugin,
    OptimizationEngine,
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    benchmark_optimization_methods,
    create_distributed_problem,
    create_optimization_engine,
    create_realtime_problem,
    create_stochastic_problem,
    solve_with_fallback,
)
from vpp.coordination.planning.quickstart import mpc_plan

__all__ = [
    "CVaRStochasticPlugin",
    "OptimizationEngine",
    "OptimizationPlugin",
    "OptimizationResult",
    "OptimizationStatus",
    "benchmark_optimization_methods",
    "create_distributed_problem",
    "create_optimization_engine",
    "create_realtime_problem",
    "create_stochastic_problem",
    "mpc_plan",
    "solve_with_fallback",
]
