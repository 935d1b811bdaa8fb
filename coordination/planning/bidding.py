"""A site that bids its stochastic plan: the battery's planned power is its baseline.

:class:`PlannedBatteryBidder` is a bidding strategy (``vpp.coordination.merit_order``'s
plug-in seam), so a scenario switches it on per site without any other option::

    strategy:
      use: vpp.coordination.planning.bidding:PlannedBatteryBidder
      params: {device: bess, capacity_kwh: 1000, p_charge_kw: 250, p_discharge_kw: 250,
               start: "2019-01-16T00:00:00Z"}

Every ``replan_every_h`` hours it solves the CVaR LP (:func:`.cvar.solve_stochastic`) for
the next ``horizon_h`` hours on scenarios around the real DE-LU 2019 day-ahead prices of
those hours (``price_volatility`` around them, AR(1) in time), from the stored energy it
expects. Each call for bids it bids the plan's power for the step (within the battery's
live limits) as the battery's baseline, so the award dispatches exactly the plan. By
default the plan is firm (no deviation offered); with ``deviation_premium_eur_mwh`` the
battery also offers to deviate at its prices plus that premium, and the merit order may
take it when that is cheaper than the other sites.
The site's other devices bid at marginal cost. The site runs a split of its award over its
devices cheapest first, so the plan is dispatched on the battery when the battery is the
site's only device that can move in that direction (a battery site, or a battery with fixed
loads). The expected stored energy follows the bid baselines: a site that deviates or
declines should re-plan more often.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
from vpp.coordination.merit_order.bidding import Offer
from vpp.coordination.merit_order.messages import Bid, BidSegment, CallForBids
from vpp.coordination.planning.cvar import Plan, solve_stochastic
from vpp.coordination.planning.history import load_history
from vpp.coordination.planning.model import StochasticProblem
from vpp.coordination.planning.scenarios import Uncertainty, generate_scenarios
from vpp.physics.battery import BatteryParams


class PlannedBatteryBidder:
    """Bid a battery's CVaR plan (see the module docstring).

    Args:
        device: the battery's device name within the site.
        capacity_kwh, p_charge_kw, p_discharge_kw, eta_c, eta_d, soc_min, soc_max,
            state_of_charge: the battery's ratings and initial state (as in the scenario).
        start: the scenario's start (ISO 8601, UTC), to line up the 2019 prices.
        horizon_h: hours planned each time; replan_every_h: hours between plans.
        scenarios: scenarios per plan; price_volatility: their price error (fraction of the
            mean absolute price); risk_level, risk_weight: the CVaR settings; seed.
        deviation_premium_eur_mwh: None (default): the plan is firm; a number: the battery
            also offers to move off the plan at its prices plus this premium.
    """

    def __init__(self, device: str, capacity_kwh: float, p_charge_kw: float,
                 p_discharge_kw: float, start: str, *, eta_c: float = 0.95, eta_d: float = 0.95,
                 soc_min: float = 0.0, soc_max: float = 1.0, state_of_charge: float = 0.5,
                 horizon_h: int = 24, replan_every_h: int = 6, scenarios: int = 20,
                 price_volatility: float = 0.15, risk_level: float = 0.05,
                 risk_weight: float = 0.5, seed: int = 0,
                 deviation_premium_eur_mwh: float | None = None) -> None:
        self.device = device
        self.storage = BatteryParams(capacity_kwh, p_charge_kw, p_discharge_kw, eta_c, eta_d,
                                     soc_min, soc_max, state_of_charge)
        try:
            self.start = datetime.fromisoformat(start)
        except (TypeError, ValueError):
            raise ValueError(f"start must be an ISO 8601 time, got {start!r}") from None
        if self.start.tzinfo is None:
            raise ValueError(f"start must name its time zone (e.g. ...Z), got {start!r}")
        if not (isinstance(horizon_h, int) and horizon_h >= 1):
            raise ValueError(f"horizon_h must be an int >= 1, got {horizon_h!r}")
        if not (isinstance(replan_every_h, int) and 1 <= replan_every_h <= horizon_h):
            raise ValueError(f"replan_every_h must be an int in [1, horizon_h], got "
                             f"{replan_every_h!r}")
        self.horizon_h, self.replan_every_h = horizon_h, replan_every_h
        self.scenarios, self.seed = scenarios, seed
        self.uncertainty = Uncertainty(price_volatility, 0.0, 0.0)
        self.risk_level, self.risk_weight = risk_level, risk_weight
        self.premium = (None if deviation_premium_eur_mwh is None
                        else float(deviation_premium_eur_mwh))
        self.energy_kwh = self.storage.e_init_kwh     # expected, from the bid baselines
        self.plan: Plan | None = None
        self.plan_start_s = 0.0
        self.plan_dt_h = 1.0
        self.planned_kw: dict[int, float] = {}         # step -> bid baseline of the battery
        self.plans = 0
        # load the solver now, not inside the first call for bids (whose deadline runs)
        import cvxpy  # noqa: F401
        from vpp.coordination.planning.highs import quiet_highs

        quiet_highs()

    def _prices(self, t0_s: float, steps: int, dt_h: float) -> np.ndarray:
        """Day-ahead prices (EUR/MWh) of the steps from ``t0_s`` (hourly, held in the hour)."""
        h = load_history()
        first = datetime.fromisoformat(str(h.timestamp_utc[0]))
        out = np.empty(steps)
        for k in range(steps):
            at = self.start + timedelta(seconds=t0_s + k * dt_h * 3600.0)
            row = int((at - first).total_seconds() // 3600)
            if not 0 <= row < h.hours:
                raise ValueError(f"no 2019 DE-LU price for {at.isoformat()}")
            out[k] = h.price_eur_mwh[row]
        return out

    def _replan(self, t0_s: float, dt_h: float) -> None:
        steps = max(1, round(self.horizon_h / dt_h))
        price = self._prices(t0_s, steps, dt_h)
        st = self.storage
        soc = float(np.clip(self.energy_kwh / st.capacity_kwh, st.soc_min, st.soc_max))
        storage = replace(st, soc_init=soc,
                          soc_final_min=min(max(st.soc_init, st.soc_min), st.soc_max))
        sc = generate_scenarios(price, count=self.scenarios, uncertainty=self.uncertainty,
                                seed=self.seed + self.plans, dt_h=dt_h)
        self.plan = solve_stochastic(StochasticProblem(storage, sc), self.risk_level,
                                     self.risk_weight)
        self.plan_start_s, self.plan_dt_h = t0_s, dt_h
        self.plans += 1

    def planned_power_kw(self, call: CallForBids) -> float:
        """The plan's battery power for the call's window (re-planning when due)."""
        dt_h = call.window_s / 3600.0
        due = (self.plan is None or dt_h != self.plan_dt_h
               or call.window_start_s - self.plan_start_s >= self.replan_every_h * 3600.0 - 1e-6
               or call.window_start_s < self.plan_start_s)
        if due:
            self._replan(call.window_start_s, dt_h)
        assert self.plan is not None
        k = round((call.window_start_s - self.plan_start_s) / (dt_h * 3600.0))
        return float(self.plan.power_kw[min(k, len(self.plan.power_kw) - 1)])

    def bid(self, call: CallForBids, offers: Sequence[Offer]) -> Bid:
        """The battery at its planned power as baseline; the rest at marginal cost."""
        battery = next((o for o in offers if o.device == self.device), None)
        if battery is None:
            raise ValueError(f"PlannedBatteryBidder: the site has no device named "
                             f"{self.device!r} (devices: {', '.join(o.device for o in offers)})")
        planned = min(max(self.planned_power_kw(call), battery.p_min_kw), battery.p_max_kw)
        dt_h = call.window_s / 3600.0
        st = self.storage
        self.energy_kwh += (st.eta_c * max(-planned, 0.0) - max(planned, 0.0) / st.eta_d) * dt_h
        self.planned_kw[call.step] = planned
        segments = []
        for o in offers:
            if o is battery and self.premium is None:
                continue                                   # the plan is firm
            base = planned if o is battery else o.baseline_kw
            premium = self.premium if o is battery else 0.0
            if o.p_max_kw - base > 0:
                segments.append(BidSegment(o.p_max_kw - base, o.cost_eur_mwh + premium))
            if o.p_min_kw - base < 0:
                segments.append(BidSegment(o.p_min_kw - base, o.absorb_price_eur_mwh + premium))
        baseline = planned + sum(o.baseline_kw for o in offers if o is not battery)
        return Bid(call.step, segments, 0.0, baseline)


class PlanShareBidder:
    """Bid a fixed share of a plan made elsewhere (the aggregator's day-ahead plan): each
    step's bid is the planned power of its hour as the site's firm baseline, with no
    segments, so the award is the plan (``runs/modes/merit_order/plan.py``).

    Args:
        planned_kw: the site's planned power per hour (kW, + = inject), hour 0 first.

    The baseline is kept within the site's live limits; a plan the site cannot hold then
    shows as unserved energy in the aggregator's outcome, never hidden.
    """

    def __init__(self, planned_kw: Sequence[float]) -> None:
        self.planned_kw = [float(v) for v in planned_kw]
        if not self.planned_kw or not all(np.isfinite(self.planned_kw)):
            raise ValueError("planned_kw must be a non-empty list of finite numbers")

    def bid(self, call: CallForBids, offers: Sequence[Offer]) -> Bid:
        """The hour's planned power, within the site's live limits, as a firm baseline."""
        hour = min(int(call.window_start_s // 3600.0), len(self.planned_kw) - 1)
        low = sum(o.p_min_kw for o in offers)
        high = sum(o.p_max_kw for o in offers)
        return Bid(call.step, [], 0.0, min(max(self.planned_kw[hour], low), high))
