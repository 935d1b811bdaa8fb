"""A storage trading schedule as a linear programme, and the two-price arbitrage check.

``optimize_trading_schedule(prices, capacity, efficiency)`` keeps the reference library's
name and meaning (prices per period, a battery of ``capacity`` energy units, a round-trip
``efficiency``) but really solves the battery's LP:

    maximise   sum_t dt * ((p_t - fee) * d_t - (p_t + fee) * c_t)
    subject to e_t = e_{t-1} + dt * (eta_c * c_t - d_t / eta_d),   e_{-1} = initial energy
               soc_min * capacity <= e_t <= soc_max * capacity
               e_{T-1} >= final energy
               0 <= c_t <= charge limit,  0 <= d_t <= discharge limit

``c`` is the power bought (charging), ``d`` the power sold (discharging), ``e`` the stored
energy at the end of each period. Units are whatever the caller uses, consistently
(kWh and $/kWh in the reference's example; MWh and EUR/MWh in the markets).

Defaults (the same as :class:`vpp.physics.battery.BatteryParams`): the state-of-charge window
is 10 % to 90 % of capacity, the battery starts half full and must end with at least the
energy it started with; the round-trip efficiency is split evenly, ``eta_c = eta_d =
sqrt(efficiency)``; the power limit is ``capacity / 4`` per hour (as in the reference).

The LP is built with scipy.sparse once per shape and solved by HiGHS (``highspy``)
directly: about 1-2 ms for 24 hours.

**Exact, one direction per period** (``exclusive=True``, the default). A battery cannot
charge and discharge at once; the LP may, and with negative prices it sometimes gains by it
(it is paid to buy energy and burns it in losses). The schedule returned is nevertheless the
exact optimum of the battery that cannot, by this argument (``eta = eta_c * eta_d``, the
round trip): in a period with both ``c`` and ``d`` > 0, replace them by the one direction
that stores the same energy (``c' = c - d / eta, d' = 0`` when ``eta_c c >= d / eta_d``,
else ``c' = 0, d' = d - eta c``). The stored energy, hence every other constraint, is
unchanged, the powers only shrink, and the money changes by ``d / eta * g`` (resp.
``c * g``) with ``g = p (1 - eta) + fee (1 + eta)``. So where ``g >= 0``, i.e. the price is
at least ``-fee (1 + eta) / (1 - eta)`` (every non-negative price, and every price when
``efficiency`` is 1), netting never loses: the LP is exact there. Only in the periods with
``g < 0`` can simultaneity pay. Hence:

1. solve the LP; if it charges and discharges at once in no period with ``g < 0``, net the
   others (ties) and stop: the LP is a relaxation of the exclusive problem and its optimum
   is feasible for it, so it is the exclusive optimum (``method == "lp"``);
2. else solve a MILP with a binary direction ``u_t`` only in the periods with ``g < 0``
   (``c_t <= c_max u_t``, ``d_t <= d_max (1 - u_t)``), by HiGHS's branch and bound to the
   relative gap ``MIP_REL_GAP``, starting from the netted LP schedule, and net the other
   periods (``method == "milp"``, ``binary_periods`` binaries).

Measured (``vpp bench trading``, 2 cores at load 1.3): 24 hours 0.8 ms by the LP and
4.6 ms when the MILP is needed; the whole of 2019 (8,760 hours, 223 negative prices)
0.8 s wall, 1.05 s CPU (at load 6: 1 ms, 18 ms, 2.8 s). With
``exclusive=False`` the LP's schedule is returned as it is (``simultaneous_periods`` says
where it charges and discharges at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = [
    "ArbitrageOpportunity",
    "TradingSchedule",
    "calculate_arbitrage_opportunity",
    "optimize_trading_schedule",
]


@dataclass(frozen=True, slots=True)
class TradingSchedule:
    """The optimal schedule of one storage unit over the given prices.

    Arrays have one value per period: ``charge`` and ``discharge`` (power, >= 0),
    ``net_power`` (``discharge - charge``: positive sells), ``energy`` (stored at the end of
    the period) and ``state_of_charge`` (``energy / capacity``). ``profit`` = ``revenue -
    cost - fees`` (money); ``status`` is HiGHS's model status (``Optimal``).
    ``simultaneous_periods`` counts the periods with charge and discharge both > 0 (0 unless
    ``exclusive=False``); ``method`` is ``"lp"`` or ``"milp"`` (see the module),
    ``binary_periods`` the MILP's binaries and ``mip_gap`` its proven relative gap.
    """

    charge: np.ndarray
    discharge: np.ndarray
    energy: np.ndarray
    capacity: float
    revenue: float
    cost: float
    fees: float
    status: str
    simultaneous_periods: int
    method: str = "lp"
    binary_periods: int = 0
    mip_gap: float = 0.0

    @property
    def net_power(self) -> np.ndarray:
        """Discharge minus charge per period (positive: energy sold)."""
        return self.discharge - self.charge

    @property
    def state_of_charge(self) -> np.ndarray:
        """Stored energy as a fraction of capacity, at the end of each period."""
        return self.energy / self.capacity

    @property
    def profit(self) -> float:
        """Revenue minus cost minus fees."""
        return self.revenue - self.cost - self.fees


@dataclass(frozen=True, slots=True)
class ArbitrageOpportunity:
    """Buy where it is cheaper, sell where it is dearer: is the spread worth the costs?

    ``profit_per_unit`` = ``sell_price * efficiency - buy_price - transaction_cost`` per
    unit bought; ``buy_market`` and ``sell_market`` are 1 or 2 (the argument order).
    """

    buy_market: int
    sell_market: int
    buy_price: float
    sell_price: float
    spread: float
    profit_per_unit: float

    @property
    def profitable(self) -> bool:
        """True when the spread pays the transaction cost and the losses."""
        return self.profit_per_unit > 0.0


def calculate_arbitrage_opportunity(price1: float, price2: float, transaction_cost: float,
                                    efficiency: float = 1.0) -> ArbitrageOpportunity:
    """The arbitrage between two prices of the same energy, net of costs and losses.

    Buys at the lower price and sells at the higher one; ``transaction_cost`` is the total
    cost per unit bought (fees of both legs), ``efficiency`` the share of a bought unit that
    can be sold (storage round trip; 1 for a pure financial spread).
    """
    for name, value in (("price1", price1), ("price2", price2),
                        ("transaction_cost", transaction_cost)):
        if not math.isfinite(value):
            raise ValueError(f"{name}: {value} is not a finite number")
    if transaction_cost < 0:
        raise ValueError(f"transaction_cost: {transaction_cost} must be >= 0")
    if not 0.0 < efficiency <= 1.0:
        raise ValueError(f"efficiency: {efficiency} must lie in (0, 1]")
    buy, sell = (1, 2) if price1 <= price2 else (2, 1)
    low, high = min(price1, price2), max(price1, price2)
    return ArbitrageOpportunity(buy, sell, low, high, high - low,
                                high * efficiency - low - transaction_cost)


MIP_REL_GAP = 1e-9
"""The relative gap to which the exclusive schedule's branch and bound is proven optimal."""

# Speed only, not the answer: the netted LP schedule is given as the incumbent, so HiGHS's
# primal heuristics, presolve and symmetry detection cost more than they save on these
# models (measured on 24 periods under load: about a third of the time of the defaults).
_MIP_OPTIONS = {"mip_rel_gap": MIP_REL_GAP, "presolve": "off", "mip_detect_symmetry": False,
                "mip_heuristic_effort": 0.0, "mip_heuristic_run_feasibility_jump": False,
                "mip_allow_restart": False}


@lru_cache(maxsize=64)
def _structure(periods: int, dt_h: float, eta_c: float, eta_d: float):
    """Column-wise constraint matrix of the energy balance rows (x = [c, d, e])."""
    from scipy import sparse

    t = np.arange(periods)
    eye = sparse.identity(periods, format="csc")
    shift = sparse.csc_matrix((np.ones(periods - 1), (t[1:], t[:-1])), shape=(periods, periods))
    # e_t - e_{t-1} - dt eta_c c_t + dt / eta_d d_t = (e_init if t == 0 else 0)
    matrix = sparse.hstack([-dt_h * eta_c * eye, (dt_h / eta_d) * eye, eye - shift],
                           format="csc")
    matrix.sort_indices()
    return (np.asarray(matrix.indptr, dtype=np.int32), np.asarray(matrix.indices, dtype=np.int32),
            np.asarray(matrix.data, dtype=np.float64))


def _highs():
    """A silent HiGHS instance.

    highspy's ``Highs`` wrapper prints a banner on stdout when it is made, which would
    break ``--json`` output; its core class does not. If a future highspy lacks the core
    class, the wrapper is used (and the banner is printed once).
    """
    import highspy

    core = getattr(getattr(highspy, "_core", None), "_Highs", None)
    solver = core() if core is not None else highspy.Highs()
    solver.setOptionValue("output_flag", False)
    return solver


def _limit(value, default: float, periods: int, name: str) -> np.ndarray:
    arr = np.full(periods, default, dtype=float) if value is None else np.broadcast_to(
        np.asarray(value, dtype=float), (periods,)).copy()
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name}: expected finite values >= 0")
    return arr


def optimize_trading_schedule(
    prices, capacity: float, efficiency: float = 0.9, *,
    power: float | None = None, soc_min: float = 0.1, soc_max: float = 0.9,
    initial_soc: float = 0.5, final_soc: float | None = None, dt_h: float = 1.0,
    fee: float = 0.0, charge_limit=None, discharge_limit=None, exclusive: bool = True,
) -> TradingSchedule:
    """The profit-maximising charge/discharge schedule of a battery over ``prices``.

    Args:
        prices: price per unit of energy, one per period (may be negative).
        capacity: usable energy capacity (> 0).
        efficiency: round-trip efficiency in (0, 1]; split as ``sqrt`` each way.
        power: charge and discharge limit (default ``capacity / 4`` per hour).
        soc_min, soc_max: the state-of-charge window (fractions of capacity).
        initial_soc: stored energy at the start (fraction).
        final_soc: the least stored energy at the end (fraction; default ``initial_soc``).
        dt_h: period length in hours.
        fee: transaction cost per unit of energy bought or sold.
        charge_limit, discharge_limit: per-period power limits overriding ``power``.
        exclusive: never charge and discharge in the same period; the result is still the
            exact optimum (see the module).

    Raises:
        ValueError: naming the argument that is out of range, or when the LP has no
            solution (e.g. the final energy cannot be reached).
    """
    p = np.asarray(prices, dtype=float).ravel()
    n = p.size
    if n == 0:
        raise ValueError("prices: expected at least one period")
    if not np.all(np.isfinite(p)):
        raise ValueError("prices: expected finite numbers")
    if not (math.isfinite(capacity) and capacity > 0):
        raise ValueError(f"capacity: {capacity} must be > 0")
    if not 0.0 < efficiency <= 1.0:
        raise ValueError(f"efficiency: {efficiency} must lie in (0, 1]")
    if not 0.0 <= soc_min <= soc_max <= 1.0:
        raise ValueError(f"soc_min, soc_max: expected 0 <= {soc_min} <= {soc_max} <= 1")
    final = initial_soc if final_soc is None else final_soc
    for name, value in (("initial_soc", initial_soc), ("final_soc", final)):
        if not soc_min <= value <= soc_max:
            raise ValueError(f"{name}: {value} must lie in [soc_min, soc_max] = "
                             f"[{soc_min}, {soc_max}]")
    if not dt_h > 0:
        raise ValueError(f"dt_h: {dt_h} must be > 0")
    if not (math.isfinite(fee) and fee >= 0):
        raise ValueError(f"fee: {fee} must be >= 0")
    default_power = capacity / 4.0 if power is None else float(power)
    if not (math.isfinite(default_power) and default_power >= 0):
        raise ValueError(f"power: {power} must be >= 0")
    c_max = _limit(charge_limit, default_power, n, "charge_limit")
    d_max = _limit(discharge_limit, default_power, n, "discharge_limit")
    eta = math.sqrt(efficiency)
    start, indices, values = _structure(n, float(dt_h), eta, eta)

    from highspy import HighsLp, MatrixFormat

    e_init = initial_soc * capacity
    e_low = np.full(n, soc_min * capacity)
    e_low[-1] = max(e_low[-1], final * capacity)
    lp = HighsLp()
    lp.num_col_ = 3 * n
    lp.num_row_ = n
    lp.col_cost_ = np.concatenate([dt_h * (p + fee), -dt_h * (p - fee), np.zeros(n)])
    lp.col_lower_ = np.concatenate([np.zeros(2 * n), e_low])
    lp.col_upper_ = np.concatenate([c_max, d_max, np.full(n, soc_max * capacity)])
    rhs = np.zeros(n)
    rhs[0] = e_init
    lp.row_lower_ = rhs
    lp.row_upper_ = rhs
    lp.a_matrix_.format_ = MatrixFormat.kColwise
    lp.a_matrix_.start_ = start
    lp.a_matrix_.index_ = indices
    lp.a_matrix_.value_ = values
    solver = _highs()
    solver.passModel(lp)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    if status != "Optimal":
        raise ValueError(f"optimize_trading_schedule: no schedule ({status}); check that "
                         f"final_soc can be reached from initial_soc within the power limits")
    x = np.asarray(solver.getSolution().col_value)
    charge = np.maximum(x[:n], 0.0)
    discharge = np.maximum(x[n:2 * n], 0.0)
    tol = 1e-9 * max(1.0, default_power)
    method, binaries, gap = "lp", 0, 0.0
    if exclusive:
        # simultaneity can pay only where the price is below the threshold (module doc)
        loss = 1.0 - eta * eta
        worth = p * loss + fee * (2.0 - loss) < 0.0
        both = (charge > tol) & (discharge > tol)
        if np.any(both & worth):
            candidates = np.flatnonzero(worth)
            charge, discharge, x, status, gap = _exclusive_milp(
                lp, candidates, c_max, d_max, _net_out(charge, discharge, eta, eta), x)
            method, binaries = "milp", int(candidates.size)
        # elsewhere, netting a period's charge and discharge never loses (module doc)
        charge, discharge = _net_out(charge, discharge, eta, eta)
    energy = x[2 * n:]
    revenue = float(dt_h * np.dot(p, discharge))
    cost = float(dt_h * np.dot(p, charge))
    fees = float(dt_h * fee * (charge.sum() + discharge.sum()))
    simultaneous = int(np.count_nonzero((charge > tol) & (discharge > tol)))
    return TradingSchedule(charge, discharge, energy, float(capacity), revenue, cost, fees,
                           status, simultaneous, method, binaries, gap)


def _net_out(charge: np.ndarray, discharge: np.ndarray, eta_c: float,
             eta_d: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace each period's charge and discharge by the one direction that stores the
    same energy (``eta_c c - d / eta_d`` per hour), so the energy path is unchanged."""
    both = (charge > 0.0) & (discharge > 0.0)
    if not both.any():
        return charge, discharge
    stored = eta_c * charge - discharge / eta_d
    return (np.where(both, np.maximum(stored, 0.0) / eta_c, charge),
            np.where(both, np.maximum(-stored, 0.0) * eta_d, discharge))


def _exclusive_milp(lp, candidates: np.ndarray, c_max: np.ndarray, d_max: np.ndarray,
                    start: tuple[np.ndarray, np.ndarray], x_lp: np.ndarray):
    """The schedule with one direction per candidate period: a binary ``u_t`` per candidate,
    ``c_t <= c_max u_t`` and ``d_t <= d_max (1 - u_t)``, solved by HiGHS's branch and
    bound to a relative gap of ``MIP_REL_GAP``, from the netted LP schedule as incumbent.

    Returns ``(charge, discharge, x, status, gap)``.
    """
    from highspy import HighsLp, HighsSolution, HighsVarType, MatrixFormat
    from scipy import sparse

    n, k = lp.num_row_, candidates.size
    rows = np.arange(k)
    balance = sparse.csc_matrix((lp.a_matrix_.value_, lp.a_matrix_.index_,
                                 lp.a_matrix_.start_), shape=(n, 3 * n))
    pick_c = sparse.csc_matrix((np.ones(k), (rows, candidates)), shape=(k, 3 * n))
    pick_d = sparse.csc_matrix((np.ones(k), (rows, n + candidates)), shape=(k, 3 * n))
    matrix = sparse.bmat([[balance, None],
                          [pick_c, sparse.diags(-c_max[candidates])],
                          [pick_d, sparse.diags(d_max[candidates])]], format="csc")
    matrix.sort_indices()
    milp = HighsLp()
    milp.num_col_ = 3 * n + k
    milp.num_row_ = n + 2 * k
    milp.col_cost_ = np.concatenate([lp.col_cost_, np.zeros(k)])
    milp.col_lower_ = np.concatenate([lp.col_lower_, np.zeros(k)])
    milp.col_upper_ = np.concatenate([lp.col_upper_, np.ones(k)])
    milp.row_lower_ = np.concatenate([lp.row_lower_, np.full(2 * k, -np.inf)])
    milp.row_upper_ = np.concatenate([lp.row_upper_, np.zeros(k), d_max[candidates]])
    milp.integrality_ = [HighsVarType.kContinuous] * (3 * n) + [HighsVarType.kInteger] * k
    milp.a_matrix_.format_ = MatrixFormat.kColwise
    milp.a_matrix_.start_ = np.asarray(matrix.indptr, dtype=np.int32)
    milp.a_matrix_.index_ = np.asarray(matrix.indices, dtype=np.int32)
    milp.a_matrix_.value_ = np.asarray(matrix.data, dtype=np.float64)
    solver = _highs()
    for option, value in _MIP_OPTIONS.items():
        solver.setOptionValue(option, value)
    solver.passModel(milp)
    c0, d0 = start
    incumbent = HighsSolution()
    incumbent.col_value = np.concatenate(
        [c0, d0, x_lp[2 * n:], (c0[candidates] > 0.0).astype(float)]).tolist()
    solver.setSolution(incumbent)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    if status != "Optimal":
        raise ValueError(f"optimize_trading_schedule: the exclusive schedule was not solved "
                         f"({status})")
    x = np.asarray(solver.getSolution().col_value)
    gap = float(solver.getInfo().mip_gap)
    return np.maximum(x[:n], 0.0), np.maximum(x[n:2 * n], 0.0), x[:3 * n], status, gap
