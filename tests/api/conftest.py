"""The reference library's README quick-start calls, as scripts, and a fixture that runs one.

Each snippet is the README's code: the same imports, names, arguments and keys read.
``run_snippet(name)`` executes one in a fresh namespace (its output captured) and returns
the namespace, so a test can check the values the snippet printed.
"""

from __future__ import annotations

import contextlib
import io

import pytest

BASE_DATA = '''
base_data = {"base_prices": [0.1, 0.15, 0.12, 0.08] * 6, "renewable_forecast": [100, 150, 200, 120] * 6,
             "battery_capacity": 2000.0, "max_power": 500.0}
'''

SNIPPETS = {
    "stochastic": '''
from vpp.optimization import create_stochastic_problem, solve_with_fallback, CVaRStochasticPlugin
''' + BASE_DATA + '''
problem = create_stochastic_problem(base_data, num_scenarios=20,
    uncertainty_config={"price_volatility": 0.25, "renewable_error": 0.20, "load_uncertainty": 0.10})
plugin = CVaRStochasticPlugin(risk_level=0.05)
result = solve_with_fallback(problem, plugin, timeout_ms=1000)
print(f"Status: {result.status}")
print(f"Optimal cost: ${result.objective_value:.2f}")
print(f"Solve time: {result.solve_time:.3f}s")
''',
    "realtime": '''
from vpp.optimization import create_realtime_problem, solve_with_fallback
current_state = {"grid_frequency": 59.85, "battery_soc": 0.7, "total_load": 600.0,
                 "renewable_generation": 200.0, "electricity_price": 0.25}
problem = create_realtime_problem(current_state)
result = solve_with_fallback(problem, timeout_ms=100)
print(f"Battery response: {result.solution['battery_power_setpoint']:.1f} kW")
print(f"Frequency response active: {result.solution['frequency_response_active']}")
print(f"Response time: {result.solve_time*1000:.1f} ms")
''',
    "multi_site": '''
from vpp.optimization import create_distributed_problem, solve_with_fallback
sites_data = [{"site_id": "wind_farm_texas", "total_capacity": 800, "available_capacity": 650, "marginal_cost": 0.06, "location": "Texas"},
              {"site_id": "solar_storage_california", "total_capacity": 600, "available_capacity": 400, "marginal_cost": 0.08, "location": "California"}]
targets = {"total_power": 800, "reserve": 200}
problem = create_distributed_problem(sites_data, targets)
result = solve_with_fallback(problem, timeout_ms=1000)
for site_id, power in result.solution['target_power'].items():
    print(f"  {site_id}: {power:.1f} kW")
''',
    "trading": '''
from vpp.trading import (create_trading_engine, create_arbitrage_strategy, calculate_arbitrage_opportunity, optimize_trading_schedule)
opportunity = calculate_arbitrage_opportunity(price1=0.08, price2=0.12, transaction_cost=0.002)
if opportunity['profitable']:
    print(f"Arbitrage profit: ${opportunity['profit_per_mwh']:.2f}/MWh")
    print(f"Strategy: Buy in {opportunity['buy_market']}, Sell in {opportunity['sell_market']}")
prices = [0.06, 0.05, 0.04, 0.08, 0.12, 0.15, 0.18, 0.20, 0.22, 0.15, 0.10, 0.08] * 2
schedule = optimize_trading_schedule(prices, capacity=1000, efficiency=0.92)
print(f"Expected profit: ${schedule['total_profit']:.2f}")
print(f"Battery utilization: {schedule['utilization']:.1f}%")
engine = create_trading_engine({'risk_limits': {'max_position': 1000, 'max_daily_loss': 5000},
                                'markets': ['day_ahead', 'real_time'], 'strategies': ['arbitrage']})
strategy = create_arbitrage_strategy(price_threshold=0.02)
engine.add_strategy(strategy)
engine.start()
''',
    "plugin": '''
from vpp.optimization import OptimizationPlugin, OptimizationResult, OptimizationStatus
class MyAdvancedOptimizer(OptimizationPlugin):
    def __init__(self):
        super().__init__("my_advanced_optimizer", "1.0")
    def is_available(self): return True
    def validate_problem(self, problem): return True
    def solve(self, problem, timeout_ms=None):
        solution = {"battery_power": [100, -50, 0, 75] * 6, "renewable_curtailment": [0] * 24, "load_shedding": [0] * 24}
        return OptimizationResult(status=OptimizationStatus.SUCCESS, objective_value=150.75, solution=solution, solve_time=0.05)
from vpp.optimization import create_optimization_engine
engine = create_optimization_engine()
engine.register_plugin(MyAdvancedOptimizer())
result = engine.solve(problem)
''',
    "benchmark": '''
from vpp.optimization import benchmark_optimization_methods
problem = create_stochastic_problem(base_data, num_scenarios=20)
stats = benchmark_optimization_methods(problem, methods=["rules", "cvar", "mpc"], num_runs=10)
for method, metrics in stats.items():
    print(f"{method}:")
    print(f"  Average time: {metrics['avg_solve_time']:.3f}s")
    print(f"  Success rate: {metrics['success_rate']:.1%}")
    print(f"  Average cost: ${metrics['avg_objective']:.2f}")
''',
}
"""The six snippets in the README's order (``plugin`` and ``benchmark`` use the names the
snippets before them defined: ``problem``, ``create_stochastic_problem``, ``base_data``)."""


@pytest.fixture
def run_snippet():
    """``run_snippet(name, **names)``: run a snippet with ``names`` defined beforehand;
    return its namespace and what it printed."""

    def run(name: str, **names) -> tuple[dict, str]:
        namespace = {"__name__": "__main__", **names}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(SNIPPETS[name], f"<snippet {name}>", "exec"), namespace)
        return namespace, out.getvalue()

    return run
