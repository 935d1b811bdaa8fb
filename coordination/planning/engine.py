"""The solver engine: plug-ins tried in order under a timeout, then a truthful fallback.

``engine.solve(problem)``:

1. ``force_fallback``: the kind's rule-based result, reason ``forced``.
2. The registered plug-ins (or, when none is registered, the kind's default plug-in: the
   CVaR LP, the droop rule, the merit-order or the ADMM negotiation), in order. A plug-in
   that is not available or does not take the problem is skipped, with the reason noted. An
   ``isolated`` plug-in runs in a child process that is killed at the call's deadline
   (:mod:`.isolation`). ``timeout_ms`` bounds the whole call, from its start: the checks
   (``is_available``, ``validate_problem``), the imports a plug-in makes and every plug-in
   tried share it; the plug-ins stop 50 ms (at most 5 %) before it, so that the fallback
   ends within it too; a plug-in reached with no time left is passed over, saying so. Its
   result is accepted when its status is ``SUCCESS`` and its solution passes the kind's
   check (feasibility; the engine re-scores it).
3. Otherwise the kind's rule-based fallback, with status ``FALLBACK_USED``, every reason
   (``fallback_reason``), a raising plug-in's error (``plugin_error``) and the fallback's
   own cost (``objective_value``, ``metadata["fallback_cost"]``).

Plug-ins are found like bidding strategies (:mod:`vpp.coordination.plugins`): built-in
names, names registered with :func:`register_plugin_class`, the entry-point group
``vpp.optimizers``, or ``module:Class`` when the caller allows the import.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from vpp.coordination.planning import distributed, realtime, schedule, stochastic
from vpp.coordination.planning.cvar import PlanningError
from vpp.coordination.planning.isolation import run_isolated
from vpp.coordination.planning.results import (
    KINDS,
    OptimizationPlugin,
    OptimizationResult,
    OptimizationStatus,
    ProblemKind,
)
from vpp.coordination.plugins import PluginError, load_class

log = logging.getLogger(__name__)

PLUGIN_GROUP = "vpp.optimizers"
_FALLBACK_RESERVE_S = 0.05
_FALLBACK_SHARE = 0.05
"""The plug-ins stop at the timeout less this reserve (50 ms, at most 5 % of the timeout),
so that the rule-based fallback, computed after them, still ends within the timeout."""
ENGINE_TYPES = {"standard": 5000, "research": 60000, "production": 1000}
"""Engine types and their default timeout (ms); otherwise the engines are the same."""

_REGISTERED: dict[str, type] = {
    "cvar": stochastic.CVaRStochasticPlugin,
    "droop": realtime.DroopRealtimePlugin,
    "merit-order": distributed.MeritOrderNegotiationPlugin,
    "admm": schedule.AdmmNegotiationPlugin,
}


def register_plugin_class(name: str, cls: type) -> None:
    """Make ``cls`` loadable by ``name`` (in this process)."""
    if not (isinstance(cls, type) and issubclass(cls, OptimizationPlugin)):
        raise PluginError(f"plug-in {name!r}: {cls!r} is not an OptimizationPlugin subclass")
    _REGISTERED[name] = cls


def load_plugin(ref: str, *, allow_import: bool = False, **params: Any) -> OptimizationPlugin:
    """Build the plug-in named ``ref`` with ``params``: a registered name, an entry point of
    ``vpp.optimizers``, or (only with ``allow_import``) ``module:Class``
    (:mod:`vpp.coordination.plugins`, the project's one loader)."""
    cls = load_class(ref, builtins=_REGISTERED, group=PLUGIN_GROUP, allow_import=allow_import,
                     what="optimizer plug-in")
    try:
        plugin = cls(**params)
    except TypeError as exc:
        raise PluginError(f"plug-in {ref!r} does not take the parameters "
                          f"{', '.join(map(repr, params)) or 'given'}: {exc}") from None
    if not isinstance(plugin, OptimizationPlugin):
        raise PluginError(f"plug-in {ref!r} ({cls!r}) is not an OptimizationPlugin")
    return plugin


def kind_of(problem: Any) -> ProblemKind:
    """The registered kind of ``problem`` (from its ``kind`` attribute)."""
    name = getattr(problem, "kind", None)
    if name not in KINDS:
        raise TypeError(f"not a planning problem: {type(problem).__qualname__} "
                        f"(kind {name!r}; known kinds: {', '.join(sorted(KINDS))})")
    return KINDS[name]


class OptimizationEngine:
    """Plug-ins in order, each under the timeout, then the rule-based fallback.

    Args:
        engine_type: ``standard``, ``research`` or ``production`` (the default timeout:
            5 s, 60 s, 1 s; nothing else differs).
        start_method: how isolated plug-ins are started (default: ``fork`` where available).
    """

    def __init__(self, engine_type: str = "standard", start_method: str | None = None) -> None:
        if engine_type not in ENGINE_TYPES:
            raise ValueError(f"engine_type must be one of {', '.join(ENGINE_TYPES)}, "
                             f"got {engine_type!r}")
        self.engine_type = engine_type
        self.default_timeout_ms = ENGINE_TYPES[engine_type]
        self.start_method = start_method
        self.plugins: list[OptimizationPlugin] = []

    def register_plugin(self, plugin: OptimizationPlugin) -> None:
        """Try ``plugin`` (after those registered before it) on every solve."""
        for attr in ("name", "is_available", "validate_problem", "solve"):
            if not hasattr(plugin, attr):
                raise PluginError(f"{plugin!r} is not an optimizer plug-in: it has no {attr}")
        self.plugins.append(plugin)

    def solve(self, problem: Any, timeout_ms: int | None = None,
              force_fallback: bool = False) -> OptimizationResult:
        """Solve ``problem`` as the module docstring says."""
        kind = kind_of(problem)
        timeout_ms = self.default_timeout_ms if timeout_ms is None else int(timeout_ms)
        if timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be > 0, got {timeout_ms}")
        t0 = time.perf_counter()
        if force_fallback:
            return self._fallback(kind, problem, ["forced"], None, t0)
        # the plug-ins' deadline leaves the rule-based fallback its share of the timeout
        deadline = t0 + timeout_ms / 1000.0 - min(_FALLBACK_RESERVE_S,
                                                  _FALLBACK_SHARE * timeout_ms / 1000.0)
        reasons: list[str] = []
        error: str | None = None
        candidates = self.plugins or [kind.default_plugin()]
        for plugin in candidates:
            name = getattr(plugin, "name", type(plugin).__name__)
            if not plugin.is_available():
                reasons.append(f"plug-in {name} is not available")
                continue
            if not plugin.validate_problem(problem):
                reasons.append(f"plug-in {name} does not take a {kind.name} problem")
                continue
            left_ms = int((deadline - time.perf_counter()) * 1000.0)
            if left_ms <= 0:
                reasons.append(f"plug-in {name} timed out before it started: nothing was "
                               f"left of the {timeout_ms} ms timeout")
                continue
            result, why, err = self._run(plugin, problem, kind, left_ms, timeout_ms)
            if result is not None:
                result.solve_time = time.perf_counter() - t0
                if reasons:
                    result.metadata["plugins_passed_over"] = reasons
                return result
            reasons.append(why)
            error = err or error
        return self._fallback(kind, problem, reasons, error, t0)

    def _run(self, plugin: OptimizationPlugin, problem: Any, kind: ProblemKind,
             left_ms: int, timeout_ms: int) -> tuple[OptimizationResult | None, str, str | None]:
        """Run one plug-in under the ``left_ms`` left of ``timeout_ms``; return the accepted
        result, or None with the reason and the plug-in's error."""
        name = plugin.name
        if getattr(plugin, "isolated", True):
            outcome = run_isolated(plugin, problem, left_ms, self.start_method)
            if outcome.kind == "timeout":
                return None, (f"plug-in {name} timed out: no answer within the {timeout_ms} ms "
                              f"timeout ({left_ms} ms were left when it started), abandoned "
                              f"after {outcome.elapsed_s * 1000:.0f} ms (its process killed)"
                              ), None
            if outcome.kind in ("raised", "crashed"):
                log.warning("plug-in %s failed: %s", name, outcome.error)
                return None, f"plug-in {name} failed: {outcome.error}", outcome.error
            result = outcome.result
        else:
            result = plugin.solve(problem, left_ms)
        assert result is not None
        if result.status is not OptimizationStatus.SUCCESS:
            detail = result.metadata.get("error") if isinstance(result.metadata, dict) else None
            return None, (f"plug-in {name} returned status {result.status.value}"
                          + (f": {detail}" if detail else "")), None
        why, checked = kind.check(problem, result.solution)
        if why is not None:
            return None, f"plug-in {name}'s solution was rejected: {why}", None
        result.metadata = {**result.metadata, **checked,
                           "plugin": name, "plugin_version": getattr(plugin, "version", "")}
        result.method = result.method or name
        return result, "", None

    def _fallback(self, kind: ProblemKind, problem: Any, reasons: list[str], error: str | None,
                  t0: float) -> OptimizationResult:
        reason = "; ".join(reasons) or "no plug-in could run"
        try:
            result = kind.fallback(problem, reason)
        except PlanningError as exc:
            return OptimizationResult(status=OptimizationStatus.FAILED,
                                      objective_value=float("inf"),
                                      solve_time=time.perf_counter() - t0,
                                      method="rules", fallback_used=True,
                                      fallback_reason=f"{reason}; the fallback failed too: {exc}",
                                      plugin_error=error)
        result.plugin_error = error
        result.solve_time = time.perf_counter() - t0
        log.info("fallback used for a %s problem: %s", kind.name, reason)
        return result


def create_optimization_engine(engine_type: str = "standard") -> OptimizationEngine:
    """An engine with no plug-ins registered (each solve then uses the kind's default)."""
    return OptimizationEngine(engine_type)


def solve_with_fallback(problem: Any, plugin: OptimizationPlugin | None = None,
                        timeout_ms: int = 5000) -> OptimizationResult:
    """Solve ``problem`` with ``plugin`` (default: the kind's own solver) under
    ``timeout_ms``, falling back to the rule-based plan, which then says so."""
    engine = create_optimization_engine("standard")
    if plugin is not None:
        engine.register_plugin(plugin)
    return engine.solve(problem, timeout_ms=timeout_ms)
