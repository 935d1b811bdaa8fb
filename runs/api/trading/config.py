"""The automated trading engine's configuration: the reference library's config dictionary
as typed values, in its units (power kW, energy kWh, money in the data's currency).

``create_trading_engine({...})`` converts the dictionary with :func:`parse_config`; an
unknown key, a wrong type or a value out of range is a ``ValueError`` naming the key
(``trading config: Expected `float`, got `str` - at `$.risk_limits.max_position```).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from vpp.markets.trading.risk import RiskLimits
from vpp.markets.trading.types import StorageSpec

__all__ = ["DataConfig", "FeedConfig", "RiskConfig", "StorageConfig", "TradingConfig",
           "parse_config"]

MARKET_NAMES = {"day_ahead": "day_ahead", "real_time": "intraday", "intraday": "intraday",
                "ancillary": "ancillary"}
"""Config market names -> the project's markets (``real_time`` is the continuous intraday
market, traded one hour ahead)."""

PRICE_SERIES = ("day_ahead_eur_mwh", "intraday_eur_mwh", "fcr_eur_mw_h")
KW_PER_MW = 1000.0

Positive = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class _Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Strict: unknown keys are errors."""


class RiskConfig(_Config):
    """``risk_limits``: checked before every order leaves (``docs/trading.md``, Risk).

    ``max_position`` (kW): the largest position of one market and delivery hour;
    ``max_daily_loss``: no order once today's loss reaches it; ``max_drawdown`` (a
    fraction of ``capital``): no order once equity is that far below its peak;
    ``var_limit`` (money): VaR of the open exposure; ``concentration_limit`` (fraction):
    the largest share of the open MW in one market; ``stress_limit`` (money): the loss
    of the open exposure under each historical shock of the series being traded (its
    lowest and highest hour and day, :func:`vpp.markets.trading.risk.series_shocks`).
    Unset limits are off.
    """

    max_position: Positive | None = None
    max_daily_loss: Positive | None = None
    max_drawdown: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    var_limit: Positive | None = None
    concentration_limit: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    stress_limit: Positive | None = None

    def limits(self, capital: float) -> RiskLimits:
        """The project's :class:`RiskLimits` (MW, money)."""
        return RiskLimits(
            position_limit_mw=(None if self.max_position is None
                               else self.max_position / KW_PER_MW),
            daily_loss_limit_eur=self.max_daily_loss,
            max_drawdown_eur=None if self.max_drawdown is None else self.max_drawdown * capital,
            var_limit_eur=self.var_limit, max_concentration=self.concentration_limit,
            stress_limit_eur=self.stress_limit)


class StorageConfig(_Config):
    """``storage``: the battery the engine trades (kWh, kW, fractions)."""

    capacity_kwh: Positive = 2000.0
    power_kw: Positive = 1000.0
    round_trip_efficiency: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.9
    soc_min: Fraction = 0.1
    soc_max: Fraction = 0.9
    initial_soc: Fraction = 0.5

    def spec(self) -> StorageSpec:
        """The project's :class:`StorageSpec` (MWh, MW)."""
        return StorageSpec(capacity_mwh=self.capacity_kwh / KW_PER_MW,
                           power_mw=self.power_kw / KW_PER_MW,
                           round_trip_efficiency=self.round_trip_efficiency,
                           soc_min=self.soc_min, soc_max=self.soc_max,
                           initial_soc=self.initial_soc)


class FeedConfig(_Config):
    """One live feed: the series of the market data it writes, and its source.

    ``csv`` (a file) with ``column``, ``time_column``, ``speed`` (1: real time; 3600: an
    hour a second), ``start``/``end``: a CSV replay; ``zmq``: an endpoint to bind a PULL
    socket on (one MessagePack ``[series, time, value]`` per message); neither: the source
    is given to ``create_trading_engine(config, sources={name: source})``.
    """

    series: Literal["day_ahead_eur_mwh", "intraday_eur_mwh", "fcr_eur_mw_h"]
    csv: str | None = None
    column: str | None = None
    time_column: str = "timestamp_utc"
    speed: Positive = 1.0
    start: str | None = None
    end: str | None = None
    zmq: str | None = None

    def __post_init__(self) -> None:
        if self.csv is not None and self.zmq is not None:
            raise ValueError("a feed takes `csv` or `zmq`, not both")
        if self.csv is not None and self.column is None:
            raise ValueError("a `csv` feed needs `column` (the price column)")


class DataConfig(_Config):
    """``data_provider``: what the engine trades on.

    ``historical`` (default): the bundled DE-LU 2019 day-ahead prices (real) with intraday
    and FCR prices simulated around them (seeded); ``simulated``: every series simulated;
    ``live``: ``feeds`` write into the ``base`` data (``historical`` or ``simulated``) as
    their values arrive, and the engine waits for them (``docs/trading.md``). ``first_day``
    and ``days`` (at least 2) choose the data; ``start`` (ISO date) re-dates it so that a
    feed of other days' prices matches; ``feed_timeout_s``: a live run ends when no value
    came for that long.
    """

    type: Literal["historical", "simulated", "live"] = "historical"
    base: Literal["historical", "simulated"] = "historical"
    first_day: Annotated[int, msgspec.Meta(ge=0)] = 0
    days: Annotated[int, msgspec.Meta(ge=2, le=365)] = 7
    seed: int = 0
    start: str | None = None
    feeds: dict[str, FeedConfig] = {}
    feed_timeout_s: Positive = 60.0

    def __post_init__(self) -> None:
        if self.type == "live" and not self.feeds:
            raise ValueError("a `live` data provider needs `feeds`")
        if self.type != "live" and self.feeds:
            raise ValueError(f"`feeds` are for a `live` data provider, not {self.type!r}")


class TradingConfig(_Config):
    """The whole configuration (every key optional).

    ``markets``: ``day_ahead``, ``real_time`` (the continuous intraday market),
    ``ancillary`` (FCR capacity); ``strategies``: built-in names run when no strategy of
    that name is added (``arbitrage``, ``momentum``, ``mean_reversion``, ``ml``);
    ``capital``: the starting cash (the base of ``max_drawdown``).
    """

    risk_limits: RiskConfig = RiskConfig()
    markets: list[Literal["day_ahead", "real_time", "intraday", "ancillary"]] = msgspec.field(
        default_factory=lambda: ["day_ahead", "real_time"])
    strategies: list[Literal["arbitrage", "momentum", "mean_reversion", "ml"]] = msgspec.field(
        default_factory=lambda: ["arbitrage"])
    storage: StorageConfig = StorageConfig()
    data_provider: DataConfig = DataConfig()
    capital: Positive = 1_000_000.0

    def __post_init__(self) -> None:
        if not self.markets:
            raise ValueError("`markets` must name at least one market")

    @property
    def project_markets(self) -> tuple[str, ...]:
        """The configured markets by the project's names, in a fixed order."""
        wanted = {MARKET_NAMES[m] for m in self.markets}
        return tuple(m for m in ("day_ahead", "intraday", "ancillary") if m in wanted)


def parse_config(config: Mapping[str, Any] | None) -> TradingConfig:
    """The typed configuration of ``config``; ``ValueError`` names the key at fault."""
    if config is None:
        return TradingConfig()
    if not isinstance(config, Mapping):
        raise ValueError(f"trading config: expected a mapping, got {type(config).__name__}")
    try:
        return msgspec.convert(dict(config), TradingConfig)
    except msgspec.ValidationError as exc:
        raise ValueError(f"trading config: {exc}") from None
