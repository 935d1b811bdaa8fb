"""The ``grid:`` section of a scenario: a grid event with the VPP's local frequency
response (see ``docs/protocols/frequency.md`` and ``docs/scenarios.md``), and Volt-VAR on
a feeder over the scenario's steps (``voltage:``, ``docs/protocols/voltage.md``).

A scenario with a ``grid:`` section is run by ``runs/modes/grid_event/event.py``: the scenario's sites
become frequency-responsive sites (their first battery backs the service, their loads are
sheddable, their PV and wind curtailable), and ``response`` says which rules each uses.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.specs import (
    CurtailmentSpec,
    DroopSpec,
    SheddingSpec,
    TriggerSpec,
)
from vpp.coordination.voltage.volt_var import PRESETS as VOLT_VAR_PRESETS
from vpp.coordination.voltage.volt_var import VoltVarSpec

_Strict = dict(forbid_unknown_fields=True, kw_only=True, frozen=True)
Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class LossSpec(msgspec.Struct, **_Strict):
    """A loss of infeed: ``mw`` of generation trips at ``t_s`` (negative: a load trips)."""

    t_s: NonNegative
    mw: float


class ReplaySpec(msgspec.Struct, **_Strict):
    """A recorded frequency played as the grid's frequency (open loop).

    ``csv``: the file (relative to the scenario); ``start`` / ``end``: the window, as
    written in ``time_column`` (parsed with ``time_format``); rows without a frequency
    are skipped and counted.
    """

    csv: str
    time_column: str = "time"
    frequency_column: str = "AnalyzerL1Frequency"
    time_format: str = "%d-%b-%Y %H:%M:%S"
    start: str | None = None
    end: str | None = None


class SoldSpec(msgspec.Struct, **_Strict):
    """The balancing capacity each site of a group sold for its service (``markets/
    ancillary.py``): ``mw`` of ``product`` at ``price_eur_mw_h`` for a contract period of
    ``hours``. After the event each site's metered response is assessed against it."""

    product: Literal["fcr", "reserve_up", "reserve_down"]
    mw: Positive
    price_eur_mw_h: NonNegative
    hours: Positive = 1.0


class PenaltySpec(msgspec.Struct, **_Strict):
    """The delivery penalty rule (``vpp.markets.ancillary.PenaltyRules``): EUR per MWh of
    shortfall on top of the withheld capacity payment, and the tolerated shortfall as a
    share of the sold MW."""

    penalty_eur_mwh: NonNegative = 100.0
    tolerance_share: Annotated[float, msgspec.Meta(ge=0, lt=1)] = 0.0


class ResponseSpec(msgspec.Struct, **_Strict):
    """The rules of a group of sites. ``sites``: names or shell patterns (``bess-*``);
    each site takes the first group that matches it. Rules are a preset name or a spec.
    ``contracted_kw`` defaults to the sold capacity (``sold.mw``), else to the discharge
    rating of the site's first battery."""

    sites: list[str] = msgspec.field(default_factory=lambda: ["*"])
    service: str | DroopSpec | TriggerSpec | None = None
    contracted_kw: NonNegative | None = None
    sold: SoldSpec | None = None
    shedding: str | SheddingSpec | None = None
    curtailment: str | CurtailmentSpec | None = None


class FeederLoadSpec(msgspec.Struct, **_Strict):
    """The feeder's own loads over the run, proportional to a CSV column read at the
    scenario's steps (linearly interpolated): every load of the feeder is scaled by
    ``scale_at_max`` x value / (the column's largest value in the file)."""

    csv: str
    column: str
    scale_at_max: NonNegative
    timestamp_column: str = "timestamp_utc"


class VoltageSpec(msgspec.Struct, **_Strict):
    """Volt-VAR over the scenario's steps on a pandapower feeder (``runs/modes/volt_var/study.py``,
    ``docs/protocols/voltage.md``).

    ``sites``: scenario site -> feeder bus name; each site's PV and batteries make one
    inverter of ``s_kva`` (default ``kva_per_kw`` x their AC rating), its loads draw at its
    bus. ``curve``: a preset (``ieee1547-b``, ``ieee1547-a``) or ``{v_pu, q_fraction}``.
    ``band_pu``: the voltage band checked on the buses matching ``monitor``. ``load``: the
    feeder's own loads per step (else ``load_scale`` throughout).
    """

    network: Literal["cigre_lv", "cigre_mv"] = "cigre_lv"
    sites: dict[str, str]
    curve: str | VoltVarSpec = "ieee1547-b"
    band_pu: tuple[Positive, Positive] = (0.95, 1.05)
    monitor: list[str] = msgspec.field(default_factory=lambda: ["*"])
    kva_per_kw: Annotated[float, msgspec.Meta(ge=1.0)] = 1.1
    s_kva: dict[str, Positive] = {}
    load: FeederLoadSpec | None = None
    load_scale: NonNegative = 1.0

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError("sites: map at least one site to a feeder bus")
        if isinstance(self.curve, str) and self.curve not in VOLT_VAR_PRESETS:
            raise ValueError(f"curve: unknown Volt-VAR preset {self.curve!r} "
                             f"(known: {', '.join(sorted(VOLT_VAR_PRESETS))})")
        if not self.band_pu[0] < self.band_pu[1]:
            raise ValueError(f"band_pu: need low < high, got {list(self.band_pu)}")
        for site in self.s_kva:
            if site not in self.sites:
                raise ValueError(f"s_kva: {site!r} is not one of the feeder's sites")

    def curve_spec(self) -> VoltVarSpec:
        """The curve, the preset resolved."""
        return VOLT_VAR_PRESETS[self.curve] if isinstance(self.curve, str) else self.curve


class GridSpec(msgspec.Struct, **_Strict):
    """The grid around the VPP (swing equation, ``physics/frequency.py``) and the event."""

    f0_hz: float = 50.0
    inertia_h_s: Positive = 5.0
    s_base_mw: Positive = 30000.0
    damping_pu: NonNegative = 1.0
    droop_pu: Positive = 0.05
    governor_time_constant_s: Positive = 5.0
    events: list[LossSpec] = []
    replay: ReplaySpec | None = None
    sample_period_s: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.1
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 30.0
    compare_without_vpp: bool = True
    response: list[ResponseSpec] = []
    response_timeout_s: Positive = 2.0
    penalty: PenaltySpec = msgspec.field(default_factory=PenaltySpec)
    voltage: VoltageSpec | None = None

    def __post_init__(self) -> None:
        if self.f0_hz not in (50.0, 60.0):
            raise ValueError(f"f0_hz must be 50 or 60, got {self.f0_hz!r}")
        if self.replay is not None and self.events:
            raise ValueError("give either events (the swing equation) or replay "
                             "(a recording), not both")
        # presets exist and belong to this grid's nominal frequency
        for i, group in enumerate(self.response):
            for field, pick in (("service", presets.service), ("shedding", presets.shedding),
                                ("curtailment", presets.curtailment)):
                choice = getattr(group, field)
                if choice is not None:
                    pick(choice, self.f0_hz, f"response[{i}].{field}")
            if group.sold is not None:
                _check_sold(group, self.f0_hz, i)


def _check_sold(group: ResponseSpec, f0_hz: float, i: int) -> None:
    """A sale needs a service whose direction fits the product."""
    where = f"response[{i}].sold.product"
    if group.service is None:
        raise ValueError(f"response[{i}].sold: capacity is sold but the group has no service")
    spec = presets.service(group.service, f0_hz, f"response[{i}].service")
    up = isinstance(spec, TriggerSpec) or spec.sides in ("both", "low")
    down = isinstance(spec, DroopSpec) and spec.sides in ("both", "high")
    fits = {"fcr": up and down, "reserve_up": up, "reserve_down": down}
    if not fits[group.sold.product]:
        raise ValueError(f"{where}: {group.sold.product!r} does not fit the service "
                         f"(it answers {'both ways' if up and down else 'up' if up else 'down'})")
