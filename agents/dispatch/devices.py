"""A site's devices: any physics model, with the prices the site bids it at.

The physics models (``physics/``) know limits, states and costs; a site also needs a name,
the price it asks to inject or absorb, and where the device runs when not dispatched (its
*baseline*). :class:`SiteDevice` adds those, and books the energy each device moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from vpp.coordination.merit_order.bidding import Offer
from vpp.physics.flexibility import Device

_tuple_new = tuple.__new__


@dataclass
class SiteDevice:
    """One device of a site, priced for bidding.

    Attributes:
        name: unique within the site.
        model: the physics model (anything with ``step`` and ``flexibility``).
        cost_eur_mwh: the price asked per MWh injected above the baseline.
        absorb_price_eur_mwh: the price asked per MWh absorbed below the baseline.
        baseline: ``"zero"``: idle at 0 kW when allowed (generators, stores, sources,
            deadline loads, which then run at their must-run power); ``"lowest"``: at the
            lowest power (a curtailable load consumes its full demand unless paid to shed).
        energy_out_kwh: energy injected so far.
        energy_in_kwh: energy absorbed so far.
        reserved_up_kw: upward reserve sold from this device (a market award): kept out of
            its offers, with ``reserved_energy_kwh``, the energy a call would deliver.
    """

    name: str
    model: Device
    cost_eur_mwh: float
    absorb_price_eur_mwh: float = 0.0
    baseline: Literal["zero", "lowest"] = "zero"
    energy_out_kwh: float = field(default=0.0, init=False)
    energy_in_kwh: float = field(default=0.0, init=False)
    reserved_up_kw: float = 0.0
    reserved_energy_kwh: float = 0.0

    def offer(self, dt_h: float) -> Offer:
        """What the device can do in the next step of ``dt_h`` hours.

        Power bounds are narrowed by the energy bounds of the step, so a nearly empty store
        offers only what it holds and a deadline load must draw at least its must-run power.
        """
        # once per device and step: the model's numbers (limits_now, when it has it: no
        # tuple per field), and min/max written out as the builtins compute them
        # (min(a, b) is b if b < a else a; max with >)
        now = getattr(self.model, "limits_now", None)
        if now is not None:
            low, high, e_min, e_max = now(dt_h)
        else:
            _, p_min, p_max, e_mins, e_maxs, _ = self.model.flexibility(1, dt_h)
            low, high = p_min[0], p_max[0]
            e_min = None if e_mins is None else e_mins[0]
            e_max = None if e_maxs is None else e_maxs[0]
        top = high
        if e_max is not None:
            x = e_max / dt_h
            if x < high:
                high = x
        if e_min is not None:
            x = e_min / dt_h
            if x > low:
                low = x
        if self.reserved_up_kw:  # held for the reserve: at worst idle, never forced to absorb
            kept = top - self.reserved_up_kw
            if e_max is not None:
                kept = min(kept, (e_max - self.reserved_energy_kwh) / dt_h)
            high = min(high, max(kept, min(high, 0.0)))
        if high < low:
            low = high
        if self.baseline == "lowest":
            base = low
        else:
            base = low if low > 0.0 else 0.0
            if high < base:
                base = high
        # (Offer's fields as its __new__ takes them, without that Python-level call)
        return _tuple_new(Offer, (self.name, low, high, self.cost_eur_mwh,
                                  self.absorb_price_eur_mwh, base))

    def run(self, power_kw: float, dt_h: float) -> float:
        """Step the model at ``power_kw``; return (and book) the power it really ran."""
        ran = float(self.model.step(power_kw, dt_h).power_kw)
        if ran >= 0:
            self.energy_out_kwh += ran * dt_h
        else:
            self.energy_in_kwh -= ran * dt_h
        return ran
