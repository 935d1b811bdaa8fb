"""Finding plug-in classes: ``module:Class`` paths and the ``vpp.strategies`` entry points."""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from vpp.coordination.merit_order.bidding import BiddingStrategy

STRATEGY_GROUP = "vpp.strategies"


class PluginError(ValueError):
    """A plug-in that cannot be found, built or used; the message says which and why."""


@functools.lru_cache(maxsize=8)
def _entry_points(group: str) -> dict[str, EntryPoint]:
    """The plug-ins registered under ``group`` (scanning installed packages is slow: once)."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load_class(ref: str, group: str = STRATEGY_GROUP) -> type:
    """The class named by ``module:Class`` or registered as ``ref`` in entry-point ``group``."""
    if ":" in ref:
        module_name, _, qualname = ref.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise PluginError(f"cannot import module {module_name!r} for {ref!r}: {exc}") from None
        for part in qualname.split("."):
            if not hasattr(obj, part):
                raise PluginError(f"module {module_name!r} has no {qualname!r} (from {ref!r})")
            obj = getattr(obj, part)
        return obj
    registered = _entry_points(group)
    if ref in registered:
        return registered[ref].load()
    names = sorted(registered)
    raise PluginError(f"no plug-in named {ref!r} in {group} (known: {', '.join(names) or 'none'}; "
                      f"or give module:Class)")


def make_strategy(ref: str, params: dict[str, Any] | None = None) -> BiddingStrategy:
    """Build the bidding strategy ``ref`` with ``params``; check it has ``bid``."""
    cls = load_class(ref)
    try:
        strategy = cls(**(params or {}))
    except (TypeError, ValueError) as exc:
        raise PluginError(f"strategy {ref!r} does not take the parameters {params}: {exc}") from None
    if not isinstance(strategy, BiddingStrategy):
        raise PluginError(f"strategy {ref!r} ({cls!r}) has no bid(call, offers) method")
    return strategy


def site_strategies(scenario: Any, where: str = "<scenario>") -> list[BiddingStrategy]:
    """One strategy object per site (``count`` expanded, none shared); errors name the
    field path."""
    from vpp.runs.scenario import ScenarioError

    out = []
    for i, spec in enumerate(scenario.sites):
        ref, params = ((spec.strategy, {}) if isinstance(spec.strategy, str)
                       else (spec.strategy.use, spec.strategy.params))
        try:
            out.extend(make_strategy(ref, params) for _ in range(spec.count))
        except PluginError as exc:
            raise ScenarioError(f"{where}: {exc} - at `$.sites[{i}].strategy`") from None
    return out
