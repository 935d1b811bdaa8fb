"""What changed between two configurations, and whether it can change live.

Configurations are compared as plain data (dicts, lists, scalars): :func:`diff` lists
each changed leaf by its path (``$.sites[1].devices[0].p_max_kw``); lists of different
lengths change as a whole. :func:`classify` splits the changes by a list of live-changeable
path prefixes, in which any list index is written ``[]`` (``$.sites[].outage_probability``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpp.agents.ops.messages import FieldChange

_INDEX = re.compile(r"\[\d+\]")


def diff(old: Any, new: Any, path: str = "$") -> list[FieldChange]:
    """Every leaf that differs between ``old`` and ``new``, by path, in a stable order."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}"
            if key not in new:
                out.append(FieldChange(sub, old[key], None))
            elif key not in old:
                out.append(FieldChange(sub, None, new[key]))
            else:
                out.extend(diff(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out.extend(diff(a, b, f"{path}[{i}]"))
        return out
    if old == new and type(old) is type(new):
        return []
    return [FieldChange(path, old, new)]


def generic_path(path: str) -> str:
    """``path`` with every list index written ``[]``."""
    return _INDEX.sub("[]", path)


def indices(path: str) -> list[int]:
    """The list indices in ``path``, in order (``$.sites[2].devices[0]`` -> [2, 0])."""
    return [int(m.group()[1:-1]) for m in _INDEX.finditer(path)]


def matches(path: str, prefix: str) -> bool:
    """True when the generic form of ``path`` is ``prefix`` or lies under it."""
    g = generic_path(path)
    return g == prefix or g.startswith((prefix + ".", prefix + "["))


@dataclass
class ReloadPlan:
    """The changes of one edit, split into those applied live and those that need a
    restart."""

    live: list[FieldChange] = field(default_factory=list)
    restart: list[FieldChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not self.live and not self.restart


def classify(changes: Iterable[FieldChange], live_prefixes: Sequence[str]) -> ReloadPlan:
    """Split ``changes``: live when under one of ``live_prefixes``, restart otherwise."""
    plan = ReloadPlan()
    for change in changes:
        live = any(matches(change.path, p) for p in live_prefixes)
        (plan.live if live else plan.restart).append(change)
    return plan
