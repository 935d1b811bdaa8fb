"""The project's one plug-in loader: built-ins, registered entry points, and ``module:Class``
only when the person running the command allows it.

A plug-in is named by a string, usually written in a scenario file:

- a **built-in** name (the caller's table: the strategies ``marginal-cost`` and
  ``markup``, the optimizers ``cvar``, ``droop``, ...);
- a name registered under an **entry-point group** (``vpp.strategies``,
  ``vpp.optimizers``) by a package installed in the environment: installing a package is
  the owner's decision, so such a name is loaded whenever it is used;
- ``module:Class``: code to import, from wherever Python finds it. A scenario is data, and
  may come from someone else (a colleague's file, an aggregator over the network), so this
  form is refused unless the caller says ``allow_import=True`` (the command line's
  ``--allow-plugins``). The refusal names the plug-in and says how to allow it.

:func:`check_reference` tells what a name is without importing anything (``vpp validate``
uses it to check names without running plug-in code). See ``docs/security.md``.

This module lives in ``coordination`` so that every user of it may import it (``coordination``
and ``runs``; see the import rule in ``DESIGN.md``).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

__all__ = ["ALLOW_HINT", "PluginError", "check_reference", "entry_point_names", "load_class"]

ALLOW_HINT = ("pass --allow-plugins to the command that loads it, or register the class "
              "under an entry point")
"""How to allow a ``module:Class`` plug-in, for error messages."""

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE_CLASS = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*")

Kind = Literal["built-in", "entry point", "module:Class"]


class PluginError(ValueError):
    """A plug-in that cannot be found, is not allowed, or cannot be built; the message
    says which and why."""


@functools.lru_cache(maxsize=8)
def entry_point_names(group: str) -> dict[str, EntryPoint]:
    """The plug-ins registered under ``group`` (scanning installed packages is slow: once)."""
    return {ep.name: ep for ep in entry_points(group=group)}


def check_reference(ref: Any, *, builtins: Mapping[str, Any], group: str,
                    what: str = "plug-in") -> Kind:
    """What ``ref`` names, found without importing or running anything: ``built-in``,
    ``entry point`` or ``module:Class`` (whose module is then not imported: only its form
    is checked).

    Raises:
        PluginError: ``ref`` is not a string, an unknown name, or a malformed
            ``module:Class``.
    """
    if not isinstance(ref, str) or not ref:
        raise PluginError(f"{what}: expected a name or module:Class, got {type(ref).__name__}")
    if ":" in ref:
        if not _MODULE_CLASS.fullmatch(ref):
            raise PluginError(f"{what} {ref[:80]!r}: expected module:Class (dotted Python "
                              f"names on both sides of one colon)")
        return "module:Class"
    if ref in builtins:
        return "built-in"
    if ref in entry_point_names(group):
        return "entry point"
    known = sorted(set(builtins) | set(entry_point_names(group)))
    raise PluginError(f"no {what} named {ref[:80]!r} (known: {', '.join(known) or 'none'}; "
                      f"or module:Class, with --allow-plugins)")


def load_class(ref: Any, *, builtins: Mapping[str, type], group: str, allow_import: bool,
               what: str = "plug-in") -> type:
    """The class ``ref`` names: a built-in, an entry point of ``group``, or (only with
    ``allow_import``) ``module:Class``.

    Raises:
        PluginError: unknown, not allowed (``module:Class`` without ``allow_import``: the
            message says how to allow it), not importable, or not a class.
    """
    kind = check_reference(ref, builtins=builtins, group=group, what=what)
    if kind == "built-in":
        return builtins[ref]
    if kind == "entry point":
        cls = entry_point_names(group)[ref].load()
    else:
        if not allow_import:
            raise PluginError(f"{what} {ref!r} is code to import (module:Class), which a "
                              f"scenario may name only when the person running it allows "
                              f"it: {ALLOW_HINT}")
        cls = _import(ref)
    if not isinstance(cls, type):
        raise PluginError(f"{what} {ref!r} is not a class ({type(cls).__name__})")
    return cls


def _import(ref: str) -> Any:
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
