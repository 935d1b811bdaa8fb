"""A site file: one owner's sites, described on their own (``vpp site SITE.yaml``).

A site that belongs to someone else than the aggregator's operator joins with a file of
its own rather than the whole scenario::

    site:                    # or `sites:` with a list of such entries
      name: bakery
      devices:
        - {kind: battery, name: store, capacity_kwh: 60, p_max_kw: 30}
      strategy: marginal-cost

Each entry has the fields of a scenario's ``sites[i]`` (``vpp.runs.scenario.SiteSpec``). The
site process asks the aggregator for the scenario it runs (``ScenarioRequest``), finds
each of its entries there by name and checks that the aggregator's copy is the same,
field by field: the aggregator dispatches what its scenario says, so a site whose own
description differs would be dispatched for devices it does not have. A difference is an
error naming the field and both values. See ``docs/protocols/distributed.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from vpp.runs.fleet.strategies import brief
from vpp.runs.scenario import (
    Scenario,
    ScenarioError,
    SiteSpec,
    current_limits,
    read_mapping,
)
from vpp.runs.scenario.devices import check_device
from vpp.runs.scenario.limits import Limits
from vpp.runs.scenario.numbers import check_numbers

_SCENARIO_ONLY = frozenset({"name", "start", "steps"})
"""Keys every scenario has and a site file never has."""


class SiteFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A site file's content: one ``site`` or a list of ``sites``."""

    site: SiteSpec | None = None
    sites: list[SiteSpec] | None = None
    description: str = ""

    def entries(self) -> list[tuple[str, SiteSpec]]:
        """The sites it describes, in its order, each with its field path (``site`` or
        ``sites[i]``)."""
        if self.site is not None:
            return [("site", self.site)]
        return [(f"sites[{i}]", spec) for i, spec in enumerate(self.sites or [])]

    def names(self) -> list[str]:
        """The site names it serves (``count`` expanded as in a scenario)."""
        names: list[str] = []
        for _, spec in self.entries():
            names.extend(spec.names())
        return names


def is_site_file(data: dict) -> bool:
    """True when a YAML mapping is a site file rather than a scenario: it has ``site``,
    or ``sites`` without the keys every scenario has (``name``, ``start``, ``steps``)."""
    return "site" in data or ("sites" in data and not _SCENARIO_ONLY & set(data))


def parse_site_file(data: Any, where: str, limits: Limits | None = None) -> SiteFile:
    """Validate a site file's mapping with the scenario's checks of its sites (finite
    numbers within their caps, each device as its model checks it). Errors name the
    field."""
    try:
        parsed = msgspec.convert(data, SiteFile, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        raise ScenarioError(f"{where}: {text}" + ("" if " - at `$" in text else " - at `$`")
                            ) from None
    if (parsed.site is None) == (parsed.sites is None):
        raise ScenarioError(f"{where}: Expected exactly one of `site` or `sites` - at `$`")
    if not parsed.entries():
        raise ScenarioError(f"{where}: Expected at least one site - at `$.sites`")
    def fail(path: str, message: str) -> None:
        raise ScenarioError(f"{where}: {message} - at `$.{path}`")

    check_numbers(parsed, fail)
    limits = current_limits(limits)
    if sum(spec.count for _, spec in parsed.entries()) > limits.max_sites:
        fail("sites", f"more sites than the cap of {limits.max_sites:,} "
                      f"({Limits.variable('max_sites')} raises it)")
    seen: set[str] = set()
    for path, spec in parsed.entries():
        if spec.name in seen:
            fail(f"{path}.name", f"Site name {spec.name!r} is used twice")
        seen.add(spec.name)
        for j, dev in enumerate(spec.devices):
            try:
                check_device(dev, 1, 0.25)  # the values as the device's model checks them
            except ValueError as exc:
                fail(f"{path}.devices[{j}]", str(exc))
    return parsed


def load_site_file(path: str | Path, limits: Limits | None = None) -> SiteFile:
    """Read and validate a site file (within ``limits``)."""
    return parse_site_file(read_mapping(path, limits=limits), str(path), limits)


def check_against(site_file: SiteFile, scenario: Scenario, where: str) -> None:
    """Raise ScenarioError unless each site of ``site_file`` is, field for field, the site
    of the same name in the aggregator's ``scenario``; the message names the first
    difference by its path in the site file, with both values."""
    theirs = {spec.name: spec for spec in scenario.sites}
    for path, spec in site_file.entries():
        other = theirs.get(spec.name)
        if other is None:
            shown = ", ".join(list(theirs)[:20]) + (", ..." if len(theirs) > 20 else "")
            raise ScenarioError(
                f"{where}: site {spec.name!r} is not in the aggregator's scenario "
                f"{scenario.name[:80]!r} (its sites: {shown}) - at `$.{path}.name`")
        diff = first_difference(msgspec.to_builtins(spec), msgspec.to_builtins(other))
        if diff is not None:
            field, mine, its = diff
            raise ScenarioError(
                f"{where}: site {spec.name!r} differs from the aggregator's: here "
                f"{brief(mine)}, the aggregator's {brief(its)} - at `$.{path}.{field}`")


_MISSING = "<absent>"


def first_difference(mine: Any, theirs: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first place where two plain values (dicts, lists, scalars) differ, as
    ``(path, mine, theirs)``, or None when they are equal."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in [*mine, *(k for k in theirs if k not in mine)]:
            found = first_difference(mine.get(key, _MISSING), theirs.get(key, _MISSING),
                                     f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(mine, list) and isinstance(theirs, list):
        for i in range(max(len(mine), len(theirs))):
            found = first_difference(mine[i] if i < len(mine) else _MISSING,
                                     theirs[i] if i < len(theirs) else _MISSING,
                                     f"{path}[{i}]")
            if found is not None:
                return found
        return None
    return None if mine == theirs else (path or "", mine, theirs)
