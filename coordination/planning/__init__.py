"""Planning under uncertainty: scenarios, CVaR stochastic optimization, MPC, and a solver
engine whose fallbacks say so (``docs/planning.md``).

- :mod:`.history`: real DE-LU 2019 prices, load and forecast, wind and solar (``physics/data/``).
- :mod:`.scenarios`: scenario generation (AR(1) or bootstrapped real errors), reduction.
- :mod:`.model`: the battery site's problem, scoring a schedule, CVaR of a distribution.
- :mod:`.cvar`: the two-stage CVaR LP (cvxpy + HiGHS).
- :mod:`.rules`: the rule-based plan (cheapest hours in, dearest out).
- :mod:`.mpc`: receding-horizon control, its LP built once with parameters.
- :mod:`.results`, :mod:`.isolation`, :mod:`.engine`: the plug-in protocol, the killable
  child process, the engine with its fallbacks.
- :mod:`.stochastic`, :mod:`.realtime`, :mod:`.distributed`, :mod:`.schedule`: the problem
  kinds (a battery plan, a frequency answer, a target shared by merit order or by ADMM).
- :mod:`.quickstart`: the reference library's quick-start calls.
- :mod:`.bidding`: a site strategy that bids its battery's CVaR plan.

The quick-start names are re-exported here. cvxpy is imported by the modules that solve.
"""

from vpp.coordination.planning.engine import (
    OptimizationEngine,
    create_optimization_engine,
    solve_with_fallback,
)
from vpp.coordination.planning.quickstart import (
    benchmark_optimization_methods,
    create_distributed_problem,
    create_realtime_problem,
    create_stochastic_problem,
)
from vpp.coordination.planning.results import (
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
)
from vpp.coordination.planning.stochastic import CVaRStochasticPlugin

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
    "solve_with_fallback",
]
