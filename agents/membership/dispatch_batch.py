"""A site process's acknowledgements of a step, batched: what its link sends and what the
coordinator accepts of it.

A step's outcome (``StepCleared``) goes once to each site host's link, which hands it to
its sites in the process and answers with :class:`~.messages.AppliedBatch` messages, as
many as keep each under the frame cap (:func:`applied_batches`). The coordinator checks
every field of a batch it receives (the decoder its types and numbers, :func:`accepted`
the rest): a bad batch is refused whole, with
the field named; a site that is not the sending host's is dropped from it and counted as
rejected, the others kept. See ``docs/protocols/distributed.md``, "Dispatch".
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

import msgspec
from vpp.agents.membership.messages import AppliedBatch
from vpp.agents.runtime.codec import DEFAULT_MAX_FRAME_BYTES
from vpp.coordination.dispatch import Applied
from vpp.coordination.errors import ProtocolError

BATCH_BYTES = DEFAULT_MAX_FRAME_BYTES - 16 * 1024
"""The most bytes of acknowledgements in one ``AppliedBatch`` (the frame cap less room for
the envelope)."""

_LARGEST = Applied(2**63 - 1, -1e300, -1e300, -1e300, planned_kw=-1e300, cost_eur=-1e300,
                   battery_energy_gap_kwh=-1e300)
APPLIED_BYTES = len(msgspec.msgpack.encode(_LARGEST))
"""The most bytes one ``Applied`` takes in MessagePack (every field at its widest)."""

_STEP = attrgetter("step")


def entry_bytes(name: str) -> int:
    """The most bytes a site's entry takes in a batch: its name and its ``Applied``."""
    return len(name.encode()) + 5 + APPLIED_BYTES


def applied_batches(step: int, names: Sequence[str], applied: Sequence[Applied],
                    sizes: Sequence[int], part_bytes: int = BATCH_BYTES,
                    ) -> list[AppliedBatch]:
    """``names``' acknowledgements of ``step`` (``applied``, in the same order) as
    batches in order, each as full as fits ``part_bytes`` by the entries' bounds
    ``sizes`` (:func:`entry_bytes`; an entry larger than that goes alone). No batch when
    there is nothing to acknowledge."""
    if part_bytes < 1:
        raise ValueError(f"part_bytes must be positive, got {part_bytes}")
    out: list[AppliedBatch] = []
    start, size = 0, 0
    for i, n in enumerate(sizes):
        if i > start and size + n > part_bytes:
            out.append(AppliedBatch(step, list(names[start:i]), list(applied[start:i])))
            start, size = i, 0
        size += n
    if start < len(names):
        out.append(AppliedBatch(step, list(names[start:]), list(applied[start:])))
    return out


def accepted(batch: AppliedBatch, own: frozenset[str], host: str,
             ) -> tuple[dict[str, Applied], list[str]]:
    """The acknowledgements of ``batch`` from ``host`` (whose sites are ``own``) that are
    kept, by site, and the sites dropped as not the host's. Whether its step is one to
    keep is the coordinator's to say (it knows the steps dispatched).

    Raises:
        ProtocolError: a field is wrong (named: ``AppliedBatch.applied`` not one per site,
            an entry's step not the batch's, ``AppliedBatch.sites`` naming a site twice).
            The types, and every number being finite, the decoder has checked (naming the
            field too: :data:`vpp.coordination.dispatch.Number`).
    """
    where = f"AppliedBatch from {host}"
    sites, applied = batch.sites, batch.applied
    if len(applied) != len(sites):
        raise ProtocolError(f"{where}: field AppliedBatch.applied has {len(applied)} "
                            f"entries for {len(sites)} sites")
    step = batch.step
    if set(map(_STEP, applied)) - {step}:
        i, other = next((i, a.step) for i, a in enumerate(applied) if a.step != step)
        raise ProtocolError(f"{where}: field AppliedBatch.applied[{i}].step is {other}, "
                            f"not the batch's step {step}")
    kept = dict(zip(sites, applied))
    if len(kept) != len(sites):
        raise ProtocolError(f"{where}: field AppliedBatch.sites names a site twice")
    if own.issuperset(sites):
        return kept, []
    rejected = [s for s in sites if s not in own]
    for s in rejected:
        del kept[s]
    return kept, rejected
