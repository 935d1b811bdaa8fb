"""The ``market`` section of a scenario: what the aggregator sells before the run (a
day-ahead auction, optionally an ancillary reserve, optionally its CVaR plan), and the
price series that sections share. The market mode's own checks are
:func:`vpp.runs.modes.merit_order.market.check_market_scenario`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from vpp.physics.timeseries import SeriesMapping

_Strict = dict(forbid_unknown_fields=True, kw_only=True)


class PriceSeriesSpec(msgspec.Struct, **_Strict):
    """Market prices, one per step: given values (``values_eur_mwh``, in the scenario's
    currency per MWh), a CSV column (``csv``), or a bundled dataset or mapping (``data``,
    else the scenario's own ``data``; its currency becomes the run's). A series is brought
    to the step as ``resample`` says: by default each step takes the value in force at its
    start (``first``)."""

    values_eur_mwh: list[float] | None = None
    csv: str | None = None
    data: str | SeriesMapping | None = None
    column: str = "price_eur_mwh"
    timestamp_column: str = "timestamp_utc"
    resample: Literal["mean", "first", "interpolate"] = "first"


class PlanSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``market.day_ahead.plan``: the aggregator's CVaR plan of its day-ahead position.

    ``scenarios`` price scenarios around the day-ahead prices: ``errors: bootstrap`` lays
    whole days of the real 2019 DE-LU price errors over them (scaled to
    ``price_volatility``, a fraction of the mean absolute price, when that is given;
    0 means no uncertainty), ``errors: parametric`` draws AR(1) errors of
    ``price_volatility`` (default 0.2). ``risk_level`` is the CVaR's tail probability,
    ``risk_weight`` 0 minimizes the expected cost and 1 the CVaR. ``timeout_ms`` bounds
    the solve; past it, or if the LP fails, the rule plan is bid and the summary says so.
    """

    method: Literal["cvar"] = "cvar"
    scenarios: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 50
    errors: Literal["bootstrap", "parametric"] = "bootstrap"
    price_volatility: Annotated[float, msgspec.Meta(ge=0)] | None = None
    risk_level: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.05
    risk_weight: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    degradation_eur_mwh: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    seed: int | None = None
    timeout_ms: Annotated[int, msgspec.Meta(ge=1)] = 20_000


class DayAheadSpec(msgspec.Struct, **_Strict):
    """The day-ahead auction the VPP sells into (``docs/markets.md``): the rest of the
    market is a price-taking residual curve of ``residual_mw`` each way at ``prices``."""

    prices: PriceSeriesSpec
    residual_mw: Annotated[float, msgspec.Meta(gt=0)] = 10_000.0
    plan: PlanSpec | None = None  # the aggregator bids its CVaR plan (vpp.runs.modes.merit_order.plan)


class AncillarySpec(msgspec.Struct, **_Strict):
    """Reserve capacity the VPP offers before the day-ahead auction, from what its
    batteries can hold for ``duration_h`` given their state of charge (``docs/markets.md``).
    The system operator procures ``requirement_mw`` for the whole horizon."""

    product: str = "reserve_up"
    requirement_mw: Annotated[float, msgspec.Meta(gt=0)]
    price_eur_mw_h: float
    duration_h: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid"


class MarketSpec(msgspec.Struct, **_Strict):
    """What the aggregator sells before the run; its cleared position is the target."""

    day_ahead: DayAheadSpec
    ancillary: AncillarySpec | None = None
