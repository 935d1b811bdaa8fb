"""The solver engine's vocabulary: statuses, results, the plug-in protocol, problem kinds.

A plug-in is an object with ``name``, ``version``, ``is_available()``,
``validate_problem(problem)`` and ``solve(problem, timeout_ms) -> OptimizationResult``
(:class:`OptimizationPlugin` is a base class that gives the first four). Each problem kind
(``stochastic``, ``realtime``, ``distributed``) registers a :class:`ProblemKind`: the
plug-in used when none is given, the rule-based fallback, and the check a plug-in's
solution must pass before it is believed. The engine (:mod:`.engine`) ties them together.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec
import numpy as np


class OptimizationStatus(str, enum.Enum):
    """How a solve ended. ``FALLBACK_USED``: the rule-based plan stands in for a plug-in."""

    SUCCESS = "success"
    FAILED = "failed"
    TIMEOUT = "timeout"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    FALLBACK_USED = "fallback_used"


class OptimizationResult(msgspec.Struct, kw_only=True):
    """What a solve returns (typed: it crosses the plug-in's process boundary as MessagePack).

    ``objective_value``: the cost the method minimized, in the problem's currency (negative
    = earnings); ``solution``: named values (lists of floats for schedules); ``solve_time``:
    seconds. ``method`` names what produced the result; ``fallback_used`` and
    ``fallback_reason`` say whether and why the rule-based plan was used instead of the
    plug-in, and ``plugin_error`` carries a plug-in's exception text.
    """

    status: OptimizationStatus
    objective_value: float
    solution: dict[str, Any] = msgspec.field(default_factory=dict)
    solve_time: float = 0.0
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    method: str = ""
    fallback_used: bool = False
    fallback_reason: str | None = None
    plugin_error: str | None = None

    @property
    def success(self) -> bool:
        """True when the requested method (not a fallback) solved the problem."""
        return self.status is OptimizationStatus.SUCCESS


def plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into lists and floats (for results)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class OptimizationPlugin(ABC):
    """Base class of an optimizer plug-in (the protocol is in the module docstring).

    ``isolated`` (default True) makes the engine run ``solve`` in a child process that it
    kills at the timeout; a plug-in that only applies a rule in microseconds may set it to
    False to run in the caller's process.
    """

    isolated: ClassVar[bool] = True

    def __init__(self, name: str, version: str = "1.0") -> None:
        self.name = name
        self.version = version

    def is_available(self) -> bool:
        """Whether the plug-in can run here (its libraries are installed)."""
        return True

    def validate_problem(self, problem: Any) -> bool:
        """Whether the plug-in can solve ``problem``."""
        return True

    @abstractmethod
    def solve(self, problem: Any, timeout_ms: int | None = None) -> OptimizationResult:
        """Solve ``problem``; ``timeout_ms`` is advisory here (the engine enforces it)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.version!r})"


@dataclass(frozen=True)
class ProblemKind:
    """What the engine needs to know about a kind of problem.

    ``default_plugin()`` builds the plug-in used when none is registered; ``fallback(problem,
    reason)`` returns the rule-based result (status ``FALLBACK_USED``); ``check(problem,
    solution)`` returns why a plug-in's solution cannot be accepted (or None) and the
    figures the engine recomputed from it (added to the result's metadata as ``checked_*``).
    """

    name: str
    default_plugin: Callable[[], OptimizationPlugin]
    fallback: Callable[[Any, str], OptimizationResult]
    check: Callable[[Any, dict[str, Any]], tuple[str | None, dict[str, Any]]]


KINDS: dict[str, ProblemKind] = {}
"""Problem kinds by name (filled in by the modules that define them)."""


def register_kind(kind: ProblemKind) -> None:
    """Register a problem kind under ``kind.name``."""
    KINDS[kind.name] = kind
