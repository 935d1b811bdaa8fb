"""Message kinds of distributed operation: joining, heartbeats, dispatch acks, stop.

The sequence is in ``docs/protocols/distributed.md``. These kinds belong to the runtime
(who is connected and alive), not to a negotiation protocol, so they live in ``agents``.
No kind carries a key or anything secret.
"""

from __future__ import annotations

import msgspec
from vpp.agents.kinds import default_registry
from vpp.agents.runtime.messages import KindRegistry
from vpp.coordination.dispatch import Applied


class SiteInfo(msgspec.Struct, frozen=True):
    """One site a process hosts: its devices and its flexibility at registration.

    ``p_min_kw`` and ``p_max_kw`` are the sums of the devices' live offers (kW, + injection).
    """

    name: str
    devices: list[str]
    p_min_kw: float
    p_max_kw: float


class ScenarioRequest(msgspec.Struct, frozen=True):
    """Site process -> coordinator, before ``Register``: a process started from a site
    file of its own (``vpp site SITE.yaml``) asks for the scenario the aggregator runs
    (repeated every heartbeat until answered)."""

    host: str


class ScenarioSent(msgspec.Struct, frozen=True):
    """Coordinator -> site process: the scenario the aggregator runs, validated, as
    MessagePack (:class:`vpp.runs.scenario.Scenario`), and its digest."""

    scenario: bytes
    digest: str


class Register(msgspec.Struct, frozen=True):
    """Site process -> coordinator: host ``host`` serves ``sites`` of the scenario whose
    digest is ``scenario_digest`` (repeated every heartbeat until answered).

    A host with more sites than fit one frame registers in ``parts`` parts, sent in order
    on its one connection (``part`` 0, 1, ...; part 0 begins the registration again):
    each part lists some of the sites, ``total`` is how many all the parts list (-1: one
    part, ``len(sites)``). ``regions`` names the regional aggregators the host runs (a
    region process: ``vpp aggregator --region``), in the last part (or the only one).
    Bounds: :data:`~vpp.agents.runtime.limits.MAX_REGISTER_PARTS`,
    :data:`~vpp.agents.runtime.limits.MAX_HOST_SITES`.
    """

    host: str
    sites: list[SiteInfo]
    scenario_digest: str
    pid: int
    part: int = 0
    parts: int = 1
    total: int = -1
    regions: list[str] = msgspec.field(default_factory=list)


class Welcome(msgspec.Struct, frozen=True):
    """Coordinator -> site process: registered; the sites are called from ``next_step``.

    ``seed`` seeds each site's random stream as in one process; ``run_name`` is the
    aggregator's run directory's name, the default folder for the
    site's trace shard; ``trace`` the run's trace level (``full``, ``rounds``,
    ``sample:N``: :mod:`vpp.agents.runtime.trace_level`), which the site's shard keeps too.
    ``sites`` lists the host's sites when it registered in one part; after a registration
    in parts (which may not fit one frame again) it is empty and ``registered`` says how
    many sites the host serves.
    """

    host: str
    sites: list[str]
    seed: int
    next_step: int
    heartbeat_ms: int
    timeout_ms: int
    run_name: str
    trace: str = "full"
    registered: int = -1


class Refused(msgspec.Struct, frozen=True):
    """Coordinator -> site process: not registered, and why."""

    reason: str


class Heartbeat(msgspec.Struct, frozen=True):
    """Either way, every heartbeat period: the sender is alive."""

    seq: int



class TraceBatch(msgspec.Struct, frozen=True):
    """Site process -> aggregator (``agg/traces``), from its link, while joined (and the
    last one right after ``Stopped``, in the same read): rows of the site's trace shard, for the aggregator to write into
    the shard of that host in its own run directory (``docs/protocols/distributed.md``,
    "Trace shipping"; bounds in :mod:`vpp.agents.membership.trace_ship`).

    ``messages`` and ``rounds`` are MessagePack arrays of rows as a shard holds them
    (message rows in :data:`vpp.agents.runtime.trace.MESSAGE_FIELDS` order, rounds rows
    in the ``rounds`` table's column order); ``agents`` are (address, role, class) and
    ``meta`` (key, JSON value). ``seq`` counts the host's batches from 1. ``counts`` is a
    MessagePack array of ``message_counts`` rows (conversation, round, kind, direction,
    count): the messages the run's trace level counted without recording them.
    """

    seq: int
    messages: bytes
    rounds: bytes
    agents: list[tuple[str, str, str]]
    meta: list[tuple[str, str]]
    counts: bytes = b"\x90"


class AppliedBatch(msgspec.Struct, frozen=True):
    """Site process (its link) -> coordinator: the acknowledgements of a step's outcome
    (``StepCleared``, sent once to the host's link) by some of the host's sites, in the
    order of ``sites``: ``applied[i]`` is what ``sites[i]`` ran in ``step``. A host's sites
    answer in as many batches as it takes to stay under the frame cap
    (:func:`vpp.agents.membership.dispatch_batch.applied_batches`); each batch stands on its
    own (no parts to put together). See ``docs/protocols/distributed.md``, "Dispatch"."""

    step: int
    sites: list[str]
    applied: list[Applied]


class Stop(msgspec.Struct, frozen=True):
    """Coordinator -> site process: the run is over; flush the trace and exit."""

    reason: str


class Stopped(msgspec.Struct, frozen=True):
    """Site process -> coordinator: the trace shard is on disk; the process exits."""

    host: str
    messages: int


MEMBERSHIP_KINDS: tuple[type[msgspec.Struct], ...] = (
    ScenarioRequest, ScenarioSent, Register, Welcome, Refused, Heartbeat, TraceBatch,
    AppliedBatch, Stop, Stopped,
)
"""Every kind of distributed operation, for registering with a runtime."""


def distributed_registry() -> KindRegistry:
    """The built-in kinds plus the membership kinds."""
    registry = default_registry()
    for kind in MEMBERSHIP_KINDS:
        registry.register(kind)
    return registry
