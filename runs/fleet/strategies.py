"""Bidding strategies from a scenario: the built-ins, the ``vpp.strategies`` entry points and,
only when the person running the command allows it, ``module:Class``.

Loading goes through the project's one loader (:mod:`vpp.coordination.plugins`); this module
adds what a strategy is (an object with ``bid``) and where its name sits in a scenario
(``$.sites[i].strategy``), so that every error names the field. See ``docs/strategies.md``
and ``docs/security.md``.
"""

from __future__ import annotations

import importlib
import reprlib
from collections.abc import Mapping
from typing import Any

from vpp.coordination.merit_order.bidding import BiddingStrategy
from vpp.coordination.plugins import PluginError, check_reference, load_class

__all__ = ["BUILTIN_STRATEGIES", "PluginError", "STRATEGY_GROUP", "check_strategies",
           "make_strategy", "site_strategies", "site_strategy", "strategy_class"]

STRATEGY_GROUP = "vpp.strategies"


class _Builtins(Mapping):
    """The project's own classes by name, each imported when first asked for (a planning
    strategy imports the CVaR planner: not on every start)."""

    def __init__(self, paths: dict[str, str]) -> None:
        self._paths = paths

    def __getitem__(self, name: str) -> type:
        module, _, qualname = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), qualname)

    def __iter__(self):
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


BUILTIN_STRATEGIES: Mapping[str, type] = _Builtins({
    "marginal-cost": "vpp.coordination.merit_order.strategies:MarginalCostBidder",
    "markup": "vpp.coordination.merit_order.strategies:MarkupBidder",
    "planned-battery": "vpp.coordination.planning.bidding:PlannedBatteryBidder",
})
"""The project's own strategies (also registered as entry points, for discovery)."""

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxdict, _BRIEF.maxlist, _BRIEF.maxstring = 2, 6, 6, 40


def brief(value: Any) -> str:
    """A short repr of a value from a file (nested and long values cut), for messages."""
    return _BRIEF.repr(value)


def strategy_class(ref: str, *, allow_import: bool = False) -> type:
    """The strategy class named ``ref`` (built-in, entry point, or ``module:Class`` when
    ``allow_import``)."""
    return load_class(ref, builtins=BUILTIN_STRATEGIES, group=STRATEGY_GROUP,
                      allow_import=allow_import, what="strategy")


def make_strategy(ref: str, params: dict[str, Any] | None = None, *,
                  allow_import: bool = False) -> BiddingStrategy:
    """Build the bidding strategy ``ref`` with ``params``; check it has ``bid``."""
    cls = strategy_class(ref, allow_import=allow_import)
    try:
        strategy = cls(**(params or {}))
    except (TypeError, ValueError) as exc:
        raise PluginError(f"strategy {ref!r} does not take the parameters "
                          f"{brief(params)}: {exc}") from None
    if not isinstance(strategy, BiddingStrategy):
        raise PluginError(f"strategy {ref!r} ({cls!r}) has no bid(call, offers) method")
    return strategy


def _ref(spec: Any) -> tuple[str, dict[str, Any]]:
    strategy = spec.strategy
    return (strategy, {}) if isinstance(strategy, str) else (strategy.use, strategy.params)


def site_strategy(spec: Any, i: int, where: str, *, allow_import: bool = False,
                  field: str | None = None) -> BiddingStrategy:
    """The strategy of one site entry ``spec`` (a ``SiteSpec``), a new object; errors are
    ScenarioErrors naming ``field`` (default ``sites[i].strategy``)."""
    from vpp.runs.scenario import ScenarioError

    ref, params = _ref(spec)
    try:
        return make_strategy(ref, params, allow_import=allow_import)
    except PluginError as exc:
        raise ScenarioError(f"{where}: {exc} - at `$.{field or f'sites[{i}].strategy'}`"
                            ) from None


def site_strategies(scenario: Any, where: str = "<scenario>", *,
                    allow_import: bool = False) -> list[BiddingStrategy]:
    """One strategy object per site (``count`` expanded, none shared); errors name the
    field path. ``module:Class`` only with ``allow_import`` (``--allow-plugins``)."""
    return [site_strategy(e.spec, e.entry, where, allow_import=allow_import)
            for e in scenario.entries()]


def check_strategies(entries: list[tuple[str, Any]], where: str, *,
                     allow_import: bool = False) -> list[str]:
    """Check the strategies of site ``entries`` (``(field path, SiteSpec)``) as ``vpp
    validate`` does: the built-ins are built with their parameters; entry points and
    ``module:Class`` are checked by name only, without importing or running them, unless
    ``allow_import`` (then they are imported and built too). Returns what was not checked,
    one line each; raises ScenarioError naming the field on an error."""
    from vpp.runs.scenario import ScenarioError

    unchecked = []
    for path, spec in entries:
        ref, params = _ref(spec)
        field = f"{path}.strategy"
        try:
            kind = check_reference(ref, builtins=BUILTIN_STRATEGIES, group=STRATEGY_GROUP,
                                   what="strategy")
            if kind == "built-in" or allow_import:
                make_strategy(ref, params, allow_import=allow_import)
            else:
                unchecked.append(f"`$.{field}`: {kind} {ref!r} named, not loaded"
                                 + (" (--allow-plugins imports it and builds it)"
                                    if kind == "module:Class" else
                                    " (--allow-plugins builds it with its parameters)"))
        except PluginError as exc:
            raise ScenarioError(f"{where}: {exc} - at `$.{field}`") from None
    return unchecked
