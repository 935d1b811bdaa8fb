"""The dispatch outcome: what every dispatching protocol tells its sites once a step is
settled, and how a site says it ran it.

Merit order and ADMM end a step the same way: the aggregator announces the step's outcome
(:class:`StepCleared`, broadcast on :data:`DISPATCH_TOPIC` to the sites of its process, or
sent by address to the sites of other processes), and each site runs its devices at its own
set-point. A site in another process acknowledges with :class:`Applied`, carrying what it
ran. See ``docs/protocols/distributed.md``.

Power is in kW (+ injection), energy in kWh, prices in EUR/MWh. Both kinds hold numbers
only: they are not tracked by the garbage collector (``gc=False``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

DISPATCH_TOPIC = "dispatch"
"""The broadcast topic on which an aggregator announces each step's outcome."""


class StepCleared(msgspec.Struct, frozen=True, gc=False):
    """Aggregator -> its sites: the step's outcome."""

    step: int
    target_kw: float
    served_kw: float
    unserved_kw: float
    marginal_price_eur_mwh: float | None


Number = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]
"""A float that decodes only when finite (NaN and the infinities are refused, with the
field named, by the decoder: a received ``Applied`` is checked at no cost of its own)."""


class Applied(msgspec.Struct, frozen=True, gc=False):
    """Site -> aggregator: the acknowledgement of ``StepCleared`` for ``step``, with what
    the site ran (kW, + injection) and the energy in its stores (kWh). An ADMM site also
    tells the power its plan held for the step (None when it ran at its baselines), the
    plan's private cost of the step (EUR) and its battery's energy minus the plan's (kWh).
    Every number decodes only when finite (:data:`Number`)."""

    step: int
    power_kw: Number
    reserve_kw: Number
    stored_kwh: Number
    planned_kw: Number | None = None
    cost_eur: Number = 0.0
    battery_energy_gap_kwh: Number | None = None


DISPATCH_KINDS: tuple[type[msgspec.Struct], ...] = (StepCleared, Applied)
"""The dispatch outcome's kinds, for registering with a runtime."""
