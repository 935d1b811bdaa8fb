"""The ``admm`` section of a scenario (``coordination: admm``); the ADMM mode's own checks
are :func:`vpp.runs.modes.admm.sites.check_admm_scenario`."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from vpp.runs.scenario.market import PriceSeriesSpec

_Strict = dict(forbid_unknown_fields=True, kw_only=True)


class AdmmSpec(msgspec.Struct, **_Strict):
    """How ADMM plans (``coordination: admm``); ``docs/scenarios.md`` explains each field.

    ``window_steps``: the planning horizon (the whole scenario when None), replanned from
    the devices' live state at the start of each window. ``coupling``: follow the target,
    or (``market``) sell the net position at ``prices`` within ``import_max_kw`` and
    ``export_max_kw``.
    """

    window_steps: Annotated[int, msgspec.Meta(ge=1)] | None = None
    coupling: Literal["target", "market"] = "target"
    prices: PriceSeriesSpec | None = None
    import_max_kw: Annotated[float, msgspec.Meta(ge=0)] | None = None
    export_max_kw: Annotated[float, msgspec.Meta(ge=0)] | None = None
    rho: Annotated[float, msgspec.Meta(gt=0)] = 0.005
    eps_abs: Annotated[float, msgspec.Meta(gt=0)] = 1e-4
    eps_rel: Annotated[float, msgspec.Meta(ge=0)] = 1e-5
    max_iterations: Annotated[int, msgspec.Meta(ge=1)] = 500
    relaxation: Annotated[float, msgspec.Meta(gt=0, lt=2)] = 1.6
    deadline_ms: Annotated[int, msgspec.Meta(ge=1)] = 2000
    curtailment_eur_mwh: float = 0.0
    discomfort_eur_kw2h: Annotated[float, msgspec.Meta(ge=0)] = 1e-3
    keep_state_of_charge: bool = True
