"""Choosing a fleet's sites: the entries a process serves, by name, and a site owner's own
descriptions of them."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from vpp.runs.scenario import Scenario, ScenarioError, SiteEntry, SiteSpec


def named_entries(scenario: Scenario, names: Sequence[str], where: str) -> list[SiteEntry]:
    """The entries of the sites ``names`` (``count`` expanded), in scenario order; an
    unknown name is a ScenarioError listing (the start of) the scenario's sites."""
    entries = list(scenario.entries())
    known = {e.name for e in entries}
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(e.name for e in entries[:20]) + (", ..." if len(entries) > 20 else "")
        raise ScenarioError(f"{where}: no site named {', '.join(map(repr, unknown[:20]))} in "
                            f"the scenario (it has {shown})")
    wanted = set(names)
    return [e for e in entries if e.name in wanted]


def with_own_sites(scenario: Scenario, own_sites: Sequence[SiteSpec] | None) -> Scenario:
    """``scenario`` with each entry this process has its own description of (a site
    owner's site file, checked equal by :func:`vpp.runs.placement.site_file.check_against`)
    taken from there."""
    if own_sites is None:
        return scenario
    mine = {spec.name: spec for spec in own_sites}
    return msgspec.structs.replace(
        scenario, sites=[mine.get(spec.name, spec) for spec in scenario.sites])
