"""Message kinds of the frequency-response protocol (``docs/protocols/frequency.md``).

Power in kW at sites (+ = more injection into the grid or less consumption), frequency
in Hz, times in seconds. Bodies are arrays on the wire (``array_like``): a sample goes to
every site many times a second.
"""

from __future__ import annotations

import msgspec

FREQUENCY_TOPIC = "frequency"
"""The broadcast topic of samples and of the event's close."""


class FrequencySample(msgspec.Struct, array_like=True, frozen=True):
    """Grid -> every site (topic ``frequency``): the frequency at ``t_s``.

    ``seq`` counts samples of the event from 0; a site rejects an older or repeated one.
    """

    seq: int
    t_s: float
    f_hz: float
    rocof_hz_per_s: float


class FrequencyResponse(msgspec.Struct, array_like=True, frozen=True):
    """Site -> grid, after applying sample ``seq``: what the site now does differently.

    ``delta_kw = response_kw + shed_kw - curtailed_kw``, the injection change the grid
    model adds up; ``state_of_charge`` is None for a site without a store.
    """

    seq: int
    t_s: float
    delta_kw: float
    response_kw: float
    shed_kw: float
    curtailed_kw: float
    state_of_charge: float | None = None


class StageChange(msgspec.Struct, array_like=True, frozen=True):
    """A stage of a site tripped or restored (``kind``: ``ufls``, ``service``,
    ``curtailment``; ``action``: ``trip`` or ``restore``)."""

    t_s: float
    kind: str
    stage: int
    action: str
    f_hz: float


class ServiceReport(msgspec.Struct, frozen=True):
    """Site -> aggregator, afterwards: what the site did on its own.

    Sent when stages change (``final`` false, ``changes`` = the new ones) and once when
    the event closes (``final`` true, ``changes`` = all of them). Energies are integrals
    over the event so far: ``response_kwh`` of the service (+ injected), ``shed_kwh`` of
    load not served, ``curtailed_kwh`` of renewable output not produced.
    """

    event: str
    final: bool
    t_s: float
    changes: list[StageChange]
    response_kwh: float
    shed_kwh: float
    curtailed_kwh: float
    peak_response_kw: float
    min_state_of_charge: float | None = None


class EventClosed(msgspec.Struct, frozen=True):
    """Grid -> every site (topic ``frequency``): the event is over; send the final report."""

    event: str
    t_s: float


FREQUENCY_KINDS: tuple[type[msgspec.Struct], ...] = (
    FrequencySample, FrequencyResponse, ServiceReport, EventClosed)
"""Every kind of the protocol, for a host's registry."""
