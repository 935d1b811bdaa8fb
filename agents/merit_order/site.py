"""The site agent: owns its devices, bids through its strategy, delivers its awards."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from vpp.agents.dispatch.devices import SiteDevice
from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.dispatch import DISPATCH_TOPIC, Applied, StepCleared
from vpp.coordination.errors import ProtocolError
from vpp.coordination.merit_order.bidding import (
    TOLERANCE_KW,
    BiddingStrategy,
    Offer,
    limits_reason,
    setpoints,
    split_award,
)
from vpp.coordination.merit_order.messages import (
    Accept,
    Award,
    Bid,
    CallForBids,
    Decline,
)

log = logging.getLogger(__name__)


class SiteAgent(Agent):
    """A site: answers calls for bids from its devices' live limits and its strategy.

    An award is accepted when the devices can deliver it now, else declined with the
    reason. A forced outage (probability per award, from the site's own seeded generator)
    makes it decline, as a device trip between bidding and award would. When the
    aggregator broadcasts the step's outcome the site runs its devices at the accepted
    set-point, split over them cheapest first; a site without an accepted award runs
    its devices at their baselines (and says so in ``power_kw``).

    Args:
        name: the site's name.
        devices: what it owns.
        strategy: its bidding strategy (any :class:`BiddingStrategy`).
        dt_h: the step length in hours.
        outage_probability: the chance that an award meets a tripped site.
        rng: the site's random generator (seeded by the swarm).
    """

    role = "site"

    def __init__(self, name: str, devices: Sequence[SiteDevice], strategy: BiddingStrategy, *,
                 dt_h: float, outage_probability: float = 0.0,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__(name)
        self.devices = list(devices)
        self.strategy = strategy
        self.dt_h = dt_h
        self.outage_probability = outage_probability
        self.rng = rng or np.random.default_rng(0)
        self.step = -1
        self.award: tuple[float, float] | None = None
        self.power_kw = 0.0
        self.reserve_kw = 0.0
        self.device_power_kw: dict[str, float] = {d.name: 0.0 for d in self.devices}
        self.last_cleared_step = -1
        self.last_price: float | None = None
        self.tripped = False
        self._offers: list[Offer] = []
        self._offers_step = -1
        # the step's sums over the offers, made with them (what site_limits and the sum of
        # the baselines give, in the same order)
        self._low = self._high = 0.0
        self._baseline: float = 0
        self._known = -1  # len(self.devices) when _stores and _unique were taken
        self._stores: list[SiteDevice] = []
        self._stored0: float = 0
        self._unique = True
        self.on(CallForBids, self._on_call)
        self.on(Award, self._on_award)
        self.on(StepCleared, self._on_cleared)

    def started(self) -> None:
        """Listen to the aggregator's step outcomes."""
        self.host.subscribe(self, DISPATCH_TOPIC)

    def offers(self, step: int) -> list[Offer]:
        """The devices' live offers for ``step`` (computed once per step: device state
        only changes when the step's set-point is applied)."""
        if self._offers_step != step:
            dt_h, offers = self.dt_h, []
            low = high = 0.0
            baseline = 0  # (what sum() of the baselines adds, in the same order)
            for d in self.devices:  # (a loop, not a comprehension: no frame per site)
                o = d.offer(dt_h)
                offers.append(o)
                low += o[1]   # p_min_kw
                high += o[2]  # p_max_kw
                baseline += o[5]  # baseline_kw
            self._offers = offers
            self._low, self._high, self._baseline = low, high, baseline
            self._offers_step = step
        return self._offers

    def _know_devices(self) -> None:
        """Note which devices store energy and whether their names are unique (again when
        the device list's length changed)."""
        devices = self.devices
        self._known = len(devices)
        self._stores = [d for d in devices if hasattr(d.model, "energy_kwh")]
        # sum() starts at 0 and adds 0.0 for a device with no store: a float whenever
        # one device has none
        self._stored0 = 0.0 if len(self._stores) < len(devices) else 0
        self._unique = len({d.name for d in devices}) == len(devices)

    def _on_call(self, envelope: Envelope, call: CallForBids) -> None:
        self.step = call.step
        self.award = None
        self.tripped = False
        bid = self.strategy.bid(call, self.offers(call.step))
        if not isinstance(bid, Bid):
            raise TypeError(f"strategy {type(self.strategy).__qualname__} of site {self.name} "
                            f"returned {type(bid).__qualname__}, expected a Bid")
        # (Agent.send, inline: a site answers every call; the host is set when it is called)
        self.host.send(self, envelope.sender, bid, conversation=envelope.conversation,
                       round=envelope.round)
        self.messages_out += 1

    def _on_award(self, envelope: Envelope, award: Award) -> None:
        if award.step != self.step:
            raise ProtocolError(f"Award for step {award.step} while site {self.name} is at "
                                f"step {self.step}")
        if not self.tripped and self.outage_probability > 0:
            self.tripped = bool(self.rng.random() < self.outage_probability)
        reason = None
        if self.tripped:
            reason = "forced outage"
        else:
            self.offers(self.step)  # (the step's limits, summed with its offers)
            # (limits_reason's tests written here, for the usual award that passes them)
            low, high, power, reserve = self._low, self._high, award.power_kw, award.reserve_kw
            if power < low - TOLERANCE_KW or power + reserve > high + TOLERANCE_KW:
                reason = limits_reason(low, high, power, reserve)
        if reason is not None:
            self.award = None
            self.send(envelope.sender, Decline(award.step, reason),
                      conversation=envelope.conversation, round=envelope.round)
            return
        self.award = (award.power_kw, award.reserve_kw)
        self.host.send(self, envelope.sender, Accept(award.step, award.power_kw,
                                                     award.reserve_kw),
                       conversation=envelope.conversation, round=envelope.round)
        self.messages_out += 1

    @property
    def stored_kwh(self) -> float:
        """Energy in the site's stores (kWh)."""
        if self._known != len(self.devices):
            self._know_devices()
        # what sum() over the devices adds, in the same order: a device with no store
        # adds 0.0, which changes no float sum (only an int start into a float)
        total = self._stored0
        for d in self._stores:
            total += d.model.energy_kwh
        return total

    def applied(self, step: int) -> Applied:
        """What the site ran in ``step`` (its last): power, reserve held, energy stored."""
        return Applied(step, self.power_kw, self.reserve_kw, self.stored_kwh)

    def skip_step(self) -> None:
        """Run one step that never came at the devices' baselines."""
        for device in self.devices:
            device.run(device.offer(self.dt_h).baseline_kw, self.dt_h)
        self._offers_step = -1

    def _on_cleared(self, envelope: Envelope, cleared: StepCleared) -> None:
        if cleared.step != self.step:
            # a site that did not take part in this step idles through it
            self.step = cleared.step
            self.award = None
        self.last_price = cleared.marginal_price_eur_mwh
        offers = self.offers(self.step)
        # not dispatched (declined, silent or not called): run at the baseline
        power, reserve = self.award or (self._baseline, 0.0)
        if self._known != len(self.devices):
            self._know_devices()
        if self._unique:  # the set-points in the devices' order (no dictionary)
            points = setpoints(offers, power, self._baseline)
        else:  # repeated names: their set-points as split_award keys them
            split = split_award(offers, power)
            points = [split[d.name] for d in self.devices]
        total, dt_h, ran_kw = 0.0, self.dt_h, self.device_power_kw
        for d, p in zip(self.devices, points):
            ran = d.run(p, dt_h)
            ran_kw[d.name] = ran
            total += ran
        self.power_kw = total
        self.reserve_kw = reserve
        self.last_cleared_step = cleared.step
        self._offers_step = -1
