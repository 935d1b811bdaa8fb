"""A machine-learning strategy: a walk-forward price forecast drives the battery's plan.

:class:`WalkForwardForecaster` forecasts tomorrow's 24 day-ahead prices at the gate from
features known then (``FEATURES``): the prices 24, 48 and 168 hours before the target
hour, today's mean price, the day-ahead load forecast of the target hour and its change
from the day before, the hour of day and the weekday. It trains a scikit-learn regressor
(a histogram gradient-boosting model by default) on past days only and retrains every
``retrain_days`` (walk-forward), so it never sees the day it forecasts. The naive
persistence forecast (same hour, one day before) is kept beside it, and both errors are
recorded once the prices are published.

:class:`MLStrategy` plans the battery with the schedule LP on the forecast and takes the
plan's position in the day-ahead auction.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits
from vpp.markets.trading.market_data import MarketView
from vpp.markets.trading.portfolio import PortfolioView
from vpp.markets.trading.strategies.base import plan_battery
from vpp.markets.trading.types import Signal
from vpp.physics.extras import require

__all__ = ["FEATURES", "MLStrategy", "WalkForwardForecaster"]

FEATURES = ("price_lag_24h", "price_lag_48h", "price_lag_168h", "mean_price_previous_day",
            "load_forecast", "load_forecast_change_24h", "hour_of_day", "weekday")
_MIN_LAG = 168


def features(prices: np.ndarray, load_forecast: np.ndarray, weekday: np.ndarray,
             hours: np.ndarray) -> np.ndarray:
    """The feature rows of ``hours`` (each >= 168) from data that precedes each hour's day."""
    day_start = hours - hours % 24
    prev_day = prices[(day_start - 24)[:, None] + np.arange(24)].mean(axis=1)
    return np.column_stack([
        prices[hours - 24], prices[hours - 48], prices[hours - 168], prev_day,
        load_forecast[hours], load_forecast[hours] - load_forecast[hours - 24],
        hours % 24, weekday,
    ])


def _default_model(seed: int):
    ensemble = require("ml", "the ml trading strategy's forecaster", "sklearn.ensemble")
    return ensemble.HistGradientBoostingRegressor(max_iter=80, learning_rate=0.1,
                                         max_leaf_nodes=31, random_state=seed)


class WalkForwardForecaster:
    """Forecasts tomorrow's prices at the gate, retraining on the past every few days.

    Args:
        retrain_days: days between retrainings.
        min_train_days: days of history (after the first week) before the first model;
            until then the forecast is persistence (``used_model`` says which).
        model: a factory of scikit-learn regressors (default: gradient boosting).
        seed: the model's random state.
    """

    def __init__(self, retrain_days: int = 28, min_train_days: int = 14, model=None,
                 seed: int = 0) -> None:
        self.retrain_days = retrain_days
        self.min_train_days = min_train_days
        if model is None:   # fail at once, not at the first retraining, without the extra
            require("ml", "the ml trading strategy's forecaster", "sklearn.ensemble")
        self.make_model = model or (lambda: _default_model(seed))
        self.model = None
        self.trained_at_day: int | None = None
        self.fits = 0
        self.pending: dict[int, tuple[np.ndarray, np.ndarray, bool]] = {}
        self.records: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def forecast(self, view: MarketView) -> tuple[np.ndarray, bool]:
        """``(tomorrow's prices, used_model)`` at the gate."""
        hours = np.arange(view.tomorrow.start, view.tomorrow.stop)
        prices = view.day_ahead_eur_mwh()            # known through today
        persistence = prices[hours - 24]
        day = hours[0] // 24
        history = hours[0] - _MIN_LAG
        if history < 24 * self.min_train_days:
            self.pending[day] = (persistence, persistence, False)
            return persistence, False
        if self.trained_at_day is None or day - self.trained_at_day >= self.retrain_days:
            train = np.arange(_MIN_LAG, hours[0])
            x = features(prices, view.load_forecast_mw(), view.weekday(train), train)
            self.model = self.make_model()
            with threadpool_limits(limits=1):   # OpenMP threads only fight on a small box
                self.model.fit(x, prices[train])
            self.trained_at_day = day
            self.fits += 1
        x = features(prices, view.load_forecast_mw(), view.weekday(hours), hours)
        with threadpool_limits(limits=1):
            prediction = np.asarray(self.model.predict(x), dtype=float)
        self.pending[day] = (prediction, persistence, True)
        return prediction, True

    def observe(self, view: MarketView) -> None:
        """Record the errors of the forecasts whose prices are now published."""
        known = view.day_ahead_eur_mwh()
        for day in [d for d in self.pending if 24 * (d + 1) <= known.size]:
            prediction, persistence, used = self.pending.pop(day)
            if used:
                self.records.append((day, prediction, persistence, known[24 * day: 24 * day + 24]))

    def errors(self) -> dict[str, float | int]:
        """Mean absolute error of the model and of persistence over the model's days."""
        if not self.records:
            return {"days": 0, "model_mae_eur_mwh": float("nan"),
                    "persistence_mae_eur_mwh": float("nan")}
        pred = np.concatenate([r[1] for r in self.records])
        pers = np.concatenate([r[2] for r in self.records])
        actual = np.concatenate([r[3] for r in self.records])
        return {"days": len(self.records),
                "model_mae_eur_mwh": float(np.abs(pred - actual).mean()),
                "persistence_mae_eur_mwh": float(np.abs(pers - actual).mean()),
                "model_rmse_eur_mwh": float(np.sqrt(((pred - actual) ** 2).mean())),
                "persistence_rmse_eur_mwh": float(np.sqrt(((pers - actual) ** 2).mean()))}


class MLStrategy:
    """The battery planned on the walk-forward forecast, traded day-ahead.

    Args:
        retrain_days, min_train_days, seed: of the :class:`WalkForwardForecaster`.
        day_ahead_fee_eur_mwh: the fee the plan is net of.
        name: the strategy's name in reports.
    """

    def __init__(self, retrain_days: int = 28, min_train_days: int = 14, seed: int = 0,
                 day_ahead_fee_eur_mwh: float = 0.1, name: str = "ml") -> None:
        self.name = name
        self.forecaster = WalkForwardForecaster(retrain_days, min_train_days, seed=seed)
        self.fee = day_ahead_fee_eur_mwh

    def decide(self, view: MarketView, book: PortfolioView) -> list[Signal]:
        """At the gate: forecast, plan, and signal tomorrow's day-ahead position."""
        if view.is_publication:
            self.forecaster.observe(view)
        if not view.is_gate:
            return []
        forecast, _ = self.forecaster.forecast(view)
        hours = view.tomorrow
        net = plan_battery(forecast, book, book.energy_at(hours.start, view.now), self.fee)
        return [Signal("day_ahead", h, float(q)) for h, q in zip(hours, net)]
