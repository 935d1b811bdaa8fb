"""Scenarios of price, renewable generation and load around a forecast.

Two generators, both seeded:

- ``parametric``: each series' error is a stationary Gaussian AR(1) process in time,
  ``e[t] = phi * e[t-1] + sqrt(1 - phi^2) * sigma * z[t]`` with ``z ~ N(0, 1)`` i.i.d.,
  so every step's error has standard deviation ``sigma`` and neighbouring steps have
  correlation ``phi`` (``Uncertainty.correlation``). The price error is in units of the
  forecast's mean absolute price, the load error a fraction of the load forecast, the
  renewable error a fraction of the renewable capacity.
- ``bootstrap``: whole windows of real forecast errors (DE-LU 2019, :mod:`.history`) are
  drawn with replacement and laid over the forecast, the three series from the same day,
  so that their correlation in time and with each other is the real one. The ``Uncertainty``
  sigmas scale the real errors relative to their own standard deviation when
  ``scale_to_sigma`` is set; by default the real errors are used as they are.

Renewable generation is clipped to ``[0, capacity]`` and load to ``>= 0`` after the error
is added. :func:`reduce_scenarios` keeps K representative scenarios with probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from vpp.coordination.planning.history import History, error_blocks

METHODS = ("parametric", "bootstrap")


@dataclass(frozen=True)
class Uncertainty:
    """How uncertain each forecast is (standard deviations of the errors, unit-free).

    ``price_volatility``: std of the price error over the forecast's mean absolute price;
    ``renewable_error``: std of the renewable error over the renewable capacity;
    ``load_uncertainty``: std of the load error over the load forecast;
    ``correlation``: lag-one correlation in time of each error (parametric method).
    """

    price_volatility: float = 0.2
    renewable_error: float = 0.15
    load_uncertainty: float = 0.1
    correlation: float = 0.8

    def __post_init__(self) -> None:
        for name in ("price_volatility", "renewable_error", "load_uncertainty"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"uncertainty.{name} must be a finite number >= 0, got {value!r}")
        if not (math.isfinite(self.correlation) and -1.0 < self.correlation < 1.0):
            raise ValueError(f"uncertainty.correlation must be in (-1, 1), "
                             f"got {self.correlation!r}")


@dataclass(frozen=True)
class ScenarioSet:
    """S scenarios of T steps: prices (EUR/MWh), renewable and load (kW), probabilities.

    ``method`` says how they were made; ``price_forecast_eur_mwh`` etc. keep the forecast
    they surround.
    """

    price_eur_mwh: np.ndarray
    renewable_kw: np.ndarray
    load_kw: np.ndarray
    probability: np.ndarray
    dt_h: float = 1.0
    method: str = "given"

    def __post_init__(self) -> None:
        shape = np.shape(self.price_eur_mwh)
        if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
            raise ValueError(f"scenarios.price_eur_mwh must be (scenarios, steps), got {shape}")
        for name in ("renewable_kw", "load_kw"):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"scenarios.{name} must have shape {shape}, "
                                 f"got {np.shape(getattr(self, name))}")
        for name in ("price_eur_mwh", "renewable_kw", "load_kw", "probability"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"scenarios.{name} must be finite")
        if np.min(self.renewable_kw) < 0 or np.min(self.load_kw) < 0:
            raise ValueError("scenarios.renewable_kw and scenarios.load_kw must be >= 0")
        p = np.asarray(self.probability)
        if p.shape != (shape[0],) or np.min(p) < 0 or abs(p.sum() - 1.0) > 1e-9:
            raise ValueError(f"scenarios.probability must be {shape[0]} values >= 0 summing to 1")
        if not (math.isfinite(self.dt_h) and self.dt_h > 0):
            raise ValueError(f"scenarios.dt_h must be > 0, got {self.dt_h!r}")

    @property
    def count(self) -> int:
        """The number of scenarios S."""
        return self.price_eur_mwh.shape[0]

    @property
    def horizon(self) -> int:
        """The number of steps T."""
        return self.price_eur_mwh.shape[1]

    def expected_price(self) -> np.ndarray:
        """The probability-weighted mean price of each step."""
        return self.probability @ self.price_eur_mwh


def _vector(name: str, values: Sequence[float] | np.ndarray | None, horizon: int) -> np.ndarray:
    if values is None:
        return np.zeros(horizon)
    v = np.asarray(values, dtype=float)
    if v.shape != (horizon,):
        raise ValueError(f"{name} must have {horizon} values (the horizon), got {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} must be finite")
    return v


def deterministic(price_eur_mwh: Sequence[float], renewable_kw: Sequence[float] | None = None,
                  load_kw: Sequence[float] | None = None, dt_h: float = 1.0) -> ScenarioSet:
    """One scenario with probability 1: the forecast itself."""
    price = _vector("price_eur_mwh", price_eur_mwh, len(price_eur_mwh))
    t = len(price)
    return ScenarioSet(price[None, :], _vector("renewable_kw", renewable_kw, t)[None, :],
                       _vector("load_kw", load_kw, t)[None, :], np.ones(1), dt_h, "deterministic")


def _ar1(rng: np.random.Generator, n: int, t: int, sigma: float, phi: float) -> np.ndarray:
    """``n`` stationary Gaussian AR(1) paths of ``t`` steps with std ``sigma``."""
    z = rng.standard_normal((n, t))
    e = np.empty((n, t))
    e[:, 0] = z[:, 0]
    w = math.sqrt(1.0 - phi * phi)
    for k in range(1, t):
        e[:, k] = phi * e[:, k - 1] + w * z[:, k]
    return sigma * e


def generate_scenarios(
    price_eur_mwh: Sequence[float], renewable_kw: Sequence[float] | None = None,
    load_kw: Sequence[float] | None = None, *, count: int = 100,
    uncertainty: Uncertainty | None = None, method: str = "parametric", seed: int = 0,
    dt_h: float = 1.0, renewable_capacity_kw: float | None = None, start_hour: int = 0,
    scale_to_sigma: bool = False, history: History | None = None,
) -> ScenarioSet:
    """``count`` equally likely scenarios around the forecasts (see the module docstring).

    Args:
        price_eur_mwh: the price forecast, one per step.
        renewable_kw: the renewable generation forecast (zero when None).
        load_kw: the load forecast (zero when None).
        count: the number of scenarios S.
        uncertainty: the error sizes (defaults: 20 % price, 15 % renewable, 10 % load).
        method: ``parametric`` or ``bootstrap``.
        seed: the random seed.
        dt_h: the step length in hours (the bootstrap needs 1 h steps).
        renewable_capacity_kw: the renewable capacity (default: the forecast's peak).
        start_hour: the UTC hour of the first step (bootstrap windows start at it).
        scale_to_sigma: bootstrap only: rescale the real errors to the uncertainty's sigmas.
        history: the history to bootstrap from (default: the bundled DE-LU 2019 year).
    """
    price = _vector("price_eur_mwh", price_eur_mwh, len(price_eur_mwh))
    t = len(price)
    ren = _vector("renewable_kw", renewable_kw, t)
    load = _vector("load_kw", load_kw, t)
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1, got {count!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if np.min(ren) < 0 or np.min(load) < 0:
        raise ValueError("renewable_kw and load_kw forecasts must be >= 0")
    u = uncertainty or Uncertainty()
    rng = np.random.default_rng(seed)
    capacity = float(renewable_capacity_kw if renewable_capacity_kw is not None else ren.max())
    if capacity < ren.max():
        raise ValueError(f"renewable_capacity_kw ({capacity}) is below the forecast's peak")
    price_scale = float(np.mean(np.abs(price)))
    if method == "parametric":
        e_price = _ar1(rng, count, t, u.price_volatility, u.correlation)
        e_ren = _ar1(rng, count, t, u.renewable_error, u.correlation)
        e_load = _ar1(rng, count, t, u.load_uncertainty, u.correlation)
    else:
        if dt_h != 1.0:
            raise ValueError(f"the bootstrap uses hourly history: dt_h must be 1, got {dt_h!r}")
        blocks = error_blocks(t, start_hour, history)
        pick = rng.integers(0, blocks.count, size=count)
        e_price, e_ren, e_load = blocks.price[pick], blocks.renewable[pick], blocks.load[pick]
        if scale_to_sigma:
            e_price = e_price * (u.price_volatility / max(float(blocks.price.std()), 1e-12))
            e_ren = e_ren * (u.renewable_error / max(float(blocks.renewable.std()), 1e-12))
            e_load = e_load * (u.load_uncertainty / max(float(blocks.load.std()), 1e-12))
    prices = price[None, :] + e_price * price_scale
    rens = np.clip(ren[None, :] + e_ren * capacity, 0.0, capacity)
    loads = np.maximum(load[None, :] * (1.0 + e_load), 0.0)
    return ScenarioSet(prices, rens, loads, np.full(count, 1.0 / count), dt_h, method)


def reduce_scenarios(scenarios: ScenarioSet, k: int, seed: int = 0) -> ScenarioSet:
    """Keep ``k`` representative scenarios: k-means (scipy) on the standardized series;
    each cluster is represented by its member nearest the centroid, with the cluster's
    total probability."""
    from scipy.cluster.vq import kmeans2

    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    if k >= scenarios.count:
        return scenarios
    parts = [scenarios.price_eur_mwh, scenarios.renewable_kw, scenarios.load_kw]
    features = np.hstack([(x - x.mean()) / (x.std() or 1.0) for x in parts])
    centroids, label = kmeans2(features, k, seed=seed, minit="++")
    keep, prob = [], []
    for c in range(k):
        members = np.flatnonzero(label == c)
        if len(members) == 0:
            continue
        dist = np.linalg.norm(features[members] - centroids[c], axis=1)
        keep.append(members[int(np.argmin(dist))])
        prob.append(scenarios.probability[members].sum())
    idx = np.asarray(keep)
    p = np.asarray(prob)
    return ScenarioSet(scenarios.price_eur_mwh[idx], scenarios.renewable_kw[idx],
                       scenarios.load_kw[idx], p / p.sum(), scenarios.dt_h,
                       f"{scenarios.method}, reduced to {len(idx)}")
