"""A site process's local frequency response: where it hears the grid's frequency and what
its sites do about it once it is on local rules only (the aggregator gone past the grace).

See ``docs/protocols/distributed.md`` (Liveness) and ``docs/deployment.md`` (the feed over
CURVE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vpp.agents.frequency.site import FrequencySiteAgent
from vpp.agents.membership.liveness import LinkMode
from vpp.agents.runtime.host import Host
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.messages import FREQUENCY_TOPIC
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.physics.battery import Battery
from vpp.physics.loads import CurtailableLoad, FixedLoad
from vpp.physics.source import VariableSource


@dataclass(frozen=True)
class LocalFrequency:
    """Where a site process hears the grid's frequency, and what its sites do about it
    when the process is on local rules only (the aggregator gone past the grace).

    Attributes:
        endpoint: a PUB that publishes ``FrequencySample`` on the ``frequency`` topic (a
            grid agent's, ``tcp://HOST:PORT`` or ``ipc://PATH``; in the field, the site's
            own meter).
        service: a service preset (``vpp.coordination.frequency.presets.SERVICES``:
            ``ce-fcr``, ``gb-dc``, ``ercot-ffr``) the batteries give; its nominal
            frequency is the grid's.
        shedding: a UFLS preset (``presets.SHEDDING``: ``de-ufls``, ``ercot-ufls``) for the
            sites' fixed and curtailable loads, or None (no load is shed).
        curtailment: an over-frequency curtailment preset (``presets.CURTAILMENT``:
            ``lfsm-o-50``, ``lfsm-o-60``) for the sites' PV and wind, or None.
        server_key: the publisher's public CURVE key (Z85): the feed is then read over
            CURVE, encrypted and from that publisher only (``vpp site --frequency-key``);
            None reads it in plaintext.

    Raises:
        ValueError: an unknown preset, or one for another nominal frequency than the
            service's (naming the option).
    """

    endpoint: str
    service: str = "ce-fcr"
    shedding: str | None = None
    curtailment: str | None = None
    server_key: bytes | None = None

    def __post_init__(self) -> None:
        if self.service not in presets.SERVICES:
            raise ValueError(f"--frequency-service: unknown service {self.service!r} "
                             f"(known: {', '.join(sorted(presets.SERVICES))})")
        f0 = self.f0_hz
        if self.shedding is not None:
            presets.shedding(self.shedding, f0, "--frequency-shedding")
        if self.curtailment is not None:
            presets.curtailment(self.curtailment, f0, "--frequency-curtailment")

    @property
    def f0_hz(self) -> float:
        """The grid's nominal frequency (the service's)."""
        return presets.SERVICES[self.service].f0_hz


class LocalResponse:
    """The local frequency response of a site process's sites, listening only while the
    link is ``local``: one frequency agent per site that has something to give.

    A site's first battery gives the service (its discharge rating contracted); with
    ``spec.shedding``, its fixed and curtailable loads are shed by stages; with
    ``spec.curtailment``, its PV and wind are curtailed. The load and the renewable output
    the stages apply to are the devices' own at the moment the process goes local (no
    step runs while it is local).

    Args:
        host: the site process's host (it hears ``spec.endpoint``).
        sites: the process's sites.
        spec: where the frequency comes from, and the presets.
    """

    def __init__(self, host: Host, sites: Sequence, spec: LocalFrequency) -> None:
        self.host = host
        self.spec = spec
        self.agents: list[FrequencySiteAgent] = []
        self._devices: dict[str, tuple[list, list, float]] = {}
        f0 = spec.f0_hz
        shedding = presets.shedding(spec.shedding, f0) if spec.shedding else None
        curtailment = presets.curtailment(spec.curtailment, f0) if spec.curtailment else None
        for site in sites:
            battery = next((d.model for d in site.devices if isinstance(d.model, Battery)),
                           None)
            loads = [d for d in site.devices
                     if isinstance(d.model, (FixedLoad, CurtailableLoad))]
            renewables = [d for d in site.devices if isinstance(d.model, VariableSource)]
            sheds = shedding is not None and bool(loads)
            curtails = curtailment is not None and bool(renewables)
            if battery is None and not sheds and not curtails:
                continue
            rule = SiteFrequencyRule(
                f0_hz=f0, service=presets.SERVICES[spec.service] if battery else None,
                contracted_kw=battery.params.p_discharge_max_kw if battery else 0.0,
                shedding=shedding if sheds else None,
                curtailment=curtailment if curtails else None)
            agent = FrequencySiteAgent(f"{site.name}.frequency", rule, battery=battery)
            self.agents.append(agent)
            self._devices[agent.name] = (loads if sheds else [], renewables if curtails else [],
                                         site.dt_h)
        self.active = False
        if spec.server_key is not None:
            from vpp.agents.runtime.curve import subscriber_setup

            subscriber_setup(spec.server_key)(host.sub)  # before it connects
        host.hear(spec.endpoint)

    def _refresh(self, agent: FrequencySiteAgent) -> None:
        """The load and the renewable output the agent's stages apply to, as of now."""
        loads, renewables, dt_h = self._devices[agent.name]
        agent.rule.sheddable_kw = sum(max(-d.offer(dt_h).p_min_kw, 0.0) for d in loads)
        agent.rule.renewable_kw = sum(max(d.offer(dt_h).p_max_kw, 0.0) for d in renewables)

    def on_mode(self, mode: LinkMode) -> None:
        """Respond in ``local`` mode only (from the next sample); stop once joined again."""
        if mode is LinkMode.LOCAL and not self.active:
            for agent in self.agents:
                self._refresh(agent)
                if agent.host is None:
                    self.host.add(agent)  # subscribes
                else:
                    self.host.subscribe(agent, FREQUENCY_TOPIC)
            self.active = True
        elif mode is LinkMode.JOINED and self.active:
            for agent in self.agents:
                self.host.unsubscribe(agent, FREQUENCY_TOPIC)
            self.active = False
