"""Run modes and their registry.

The built-in modes are listed here by name and imported only when used (so that
``vpp --help`` stays fast); modes of installed packages join through the entry-point group
``vpp.modes`` (an installed package is code its owner chose to install, unlike a scenario);
code may :func:`register` one too. :func:`select` picks the mode of a scenario: the one it
names (``mode:``), else the first built-in whose :meth:`~vpp.runs.modes.base.Mode.applies`
says yes.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from vpp.runs.modes.base import Fail, Mode, ModeRun, RunContext, StepRecord
from vpp.runs.scenario.checks import register_check

ENTRY_POINT_GROUP = "vpp.modes"

BUILT_IN: dict[str, str] = {
    "merit_hierarchy": "vpp.runs.modes.hierarchy.merit:MeritHierarchyMode",
    "merit_order": "vpp.runs.modes.merit_order.mode:MeritOrderMode",
    "admm_regions": "vpp.runs.modes.hierarchy.admm:HierarchyAdmmMode",
    "admm": "vpp.runs.modes.admm.mode:AdmmMode",
    "grid_event": "vpp.runs.modes.grid_event.mode:GridEventMode",
    "volt_var": "vpp.runs.modes.volt_var.mode:VoltVarMode",
    "backtest": "vpp.runs.modes.backtest.mode:BacktestMode",
}
"""Built-in modes, name -> ``module:Class`` inside this package, in selection order."""

_registered: dict[str, Mode] = {}


class UnknownModeError(LookupError):
    """A mode name that no built-in, registered or installed mode has."""


def register(mode: Mode) -> Mode:
    """Make ``mode`` known by its name (a later registration of the same name replaces it,
    so a test or a notebook can re-register); return it."""
    if not isinstance(mode, Mode) or not mode.name:
        raise TypeError(f"a mode is a Mode instance with a name, got {mode!r}")
    _registered[mode.name] = mode
    return mode


def unregister(name: str) -> None:
    """Forget a mode registered with :func:`register` (nothing if it was not)."""
    _registered.pop(name, None)


@functools.lru_cache(maxsize=None)
def _built_in(name: str) -> Mode:
    module, _, cls = BUILT_IN[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


@functools.lru_cache(maxsize=1)
def _installed() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    """Every mode's name: built-in (in selection order), registered, installed."""
    out = list(BUILT_IN)
    out += [n for n in _registered if n not in out]
    out += sorted(n for n in _installed() if n not in out)
    return out


def get(name: str) -> Mode:
    """The mode called ``name``.

    Raises:
        UnknownModeError: no such mode (the message lists the known ones).
    """
    if name in _registered:
        return _registered[name]
    if name in BUILT_IN:
        return _built_in(name)
    installed = _installed()
    if name in installed:
        mode = installed[name].load()()
        if not isinstance(mode, Mode):
            raise UnknownModeError(f"the entry point {name!r} of {ENTRY_POINT_GROUP} is not "
                                   "a Mode")
        return mode
    raise UnknownModeError(f"no run mode named {name!r} (known: {', '.join(names())})")


def select(scenario: Any) -> Mode:
    """The mode that runs ``scenario``: the one it names in ``mode``, else the first
    built-in (then registered) mode that applies.

    Raises:
        UnknownModeError: the named mode does not exist, or no mode applies.
    """
    named = getattr(scenario, "mode", None)
    if named:
        return get(named)
    for name in [*BUILT_IN, *(n for n in _registered if n not in BUILT_IN)]:
        mode = get(name)
        if mode.applies(scenario):
            return mode
    raise UnknownModeError(f"no run mode applies to this scenario (known: {', '.join(names())})")


def load(path: str | Path, limits: Any = None,
         changes: dict[str, Any] | None = None) -> tuple[Any, Mode]:
    """Read a run's file: a scenario (its data paths confined, every check run) or a
    document of a mode of its own (a backtest file); return it with its mode.
    ``changes``: ``{field path: value}`` set in the file's data before it is checked
    (:func:`vpp.runs.scenario.edit.set_path`; a sweep's runs).

    Raises:
        vpp.runs.scenario.ScenarioError: naming the file and the field.
    """
    from vpp.runs.scenario import ScenarioError
    from vpp.runs.scenario.loading import from_mapping, read_mapping

    data = read_mapping(path, limits=limits)
    if changes:
        from vpp.runs.scenario.edit import set_path

        for field, value in changes.items():
            data = set_path(data, field, value)
    for name in [*BUILT_IN, *(n for n in _registered if n not in BUILT_IN)]:
        mode = get(name)
        if mode.recognizes(data):
            return mode.parse(data, str(path), limits), mode
    scenario = from_mapping(data, path, limits)
    try:
        return scenario, select(scenario)
    except UnknownModeError as exc:
        raise ScenarioError(f"{path}: {exc} - at `$.mode`") from None


def check(scenario: Any, fail: Fail) -> None:
    """The mode's own checks of ``scenario`` (its sections): the scenario package runs this
    after its core checks (registered below), naming the field at fault."""
    try:
        mode = select(scenario)
    except UnknownModeError as exc:
        fail("mode", str(exc))
        return
    if getattr(scenario, "mode", None) and not mode.applies(scenario):
        fail("mode", f"the mode {mode.name!r} does not run this scenario ({mode.title})")
    mode.check(scenario, fail)


register_check(check)


__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "Mode", "ModeRun", "RunContext", "StepRecord",
           "UnknownModeError", "check", "get", "load", "names", "register", "select", "unregister"]
