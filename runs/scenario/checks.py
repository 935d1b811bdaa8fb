"""The one check of a scenario's content, shared by ``vpp validate``, ``vpp run`` and every
other loader, and the checks that run modes register for their own sections."""

from __future__ import annotations

from collections.abc import Callable

from vpp.runs.scenario.devices import FlexibleSpec, check_device
from vpp.runs.scenario.errors import ScenarioError
from vpp.runs.scenario.problems import Problem, ScenarioProblems, from_message
from vpp.runs.scenario.limits import Limits, LimitsError
from vpp.runs.scenario.schema import Scenario

Fail = Callable[[str, str], None]
"""``fail(path, message)``: report an error at the field ``$.path`` (raises: it ends that
check, and the next one runs)."""

SectionCheck = Callable[[Scenario, Fail], None]

_SECTION_CHECKS: list[SectionCheck] = []


def register_check(check: SectionCheck) -> SectionCheck:
    """Run ``check(scenario, fail)`` in every :func:`check_scenario` after the core checks
    (once, however often it is registered); return it. Run modes register the rules of
    their sections this way, so that this package imports no mode."""
    if check not in _SECTION_CHECKS:
        _SECTION_CHECKS.append(check)
    return check


def current_limits(limits: Limits | None = None) -> Limits:
    """``limits``, or the caps of this process's environment (:meth:`Limits.from_env`);
    a bad ``VPP_MAX_...`` variable is a ScenarioError naming it."""
    if limits is not None:
        return limits
    try:
        return Limits.from_env()
    except LimitsError as exc:
        raise ScenarioError(str(exc)) from None


def _check_size(scenario: Scenario, limits: Limits, fail) -> None:
    """The caps on sites and steps, before anything grows with them."""
    sites = sum(spec.count for spec in scenario.sites)
    if sites > limits.max_sites:
        fail("sites", f"{sites:,} sites (`count` expanded) is more than the cap of "
                      f"{limits.max_sites:,} ({Limits.variable('max_sites')} raises it)")
    if scenario.steps > limits.max_steps:
        fail("steps", f"{scenario.steps:,} steps is more than the cap of {limits.max_steps:,} "
                      f"({Limits.variable('max_steps')} raises it)")
    if sites * scenario.steps > limits.max_site_steps:
        fail("steps", f"{sites:,} sites times {scenario.steps:,} steps is more than the cap of "
                      f"{limits.max_site_steps:,} site-steps "
                      f"({Limits.variable('max_site_steps')} raises it)")


def _check_devices(scenario: Scenario, fail) -> None:
    """Each device's values as its model checks them (once per site entry, not per
    ``count``): ordered bounds such as ``soc_min <= state_of_charge <= soc_max``."""
    for i, site in enumerate(scenario.sites):
        for j, dev in enumerate(site.devices):
            try:
                check_device(dev, scenario.steps, scenario.dt_h)
            except ValueError as exc:
                fail(f"sites[{i}].devices[{j}]", str(exc))


class _Stop(Exception):
    """Ends one check unit after its first problem (what follows in it may rest on it)."""


def scenario_problems(scenario: Scenario, limits: Limits | None = None,
                      where: str = "<scenario>") -> list[Problem]:
    """Every problem of a scenario's content that the one check finds (see
    :func:`check_scenario`), each with its field path; the checks are independent units
    (sizes; numbers; each site; each device; the target; each section check registered),
    so that one mistake does not hide another. Sizes beyond their caps end the check at
    once (nothing that grows with them is walked)."""
    from vpp.runs.scenario.numbers import check_numbers

    problems: list[Problem] = []

    def note(path: str, msg: str) -> None:
        problems.append(Problem(path, msg))

    def stop(path: str, msg: str) -> None:
        note(path, msg)
        raise _Stop

    def unit(check, *args) -> None:
        try:
            check(*args)
        except _Stop:
            pass
        except ScenarioError as exc:  # a check that raised rather than reported
            for line in str(exc).splitlines():
                problems.append(from_message(line, where))

    unit(_check_size, scenario, current_limits(limits), stop)
    if problems:
        return problems
    check_numbers(scenario, note)
    if scenario.start.tzinfo is None:
        note("start", "Expected a time with a zone (e.g. 2019-01-16T00:00:00Z)")
    if not scenario.sites:
        note("sites", "Expected at least one site")
    seen: set[str] = set()
    for name in scenario.site_names():
        if name in seen:
            note("sites", f"Site name {name!r} is used twice")
        if not name or "/" in name or "*" in name:
            note("sites", f"Site name {name!r} must be non-empty, without '/' or '*'")
        seen.add(name)
    bad = {p.path for p in problems}
    for i, site in enumerate(scenario.sites):
        if not site.devices:
            note(f"sites[{i}].devices", "Expected at least one device")
        device_names = [d.name for d in site.devices]
        if len(set(device_names)) != len(device_names):
            note(f"sites[{i}].devices", f"Device names must be unique, got {device_names}")
        for j, dev in enumerate(site.devices):
            at = f"sites[{i}].devices[{j}]"
            if isinstance(dev, FlexibleSpec) and isinstance(dev.availability, list):
                if not dev.availability or any(not 0 <= a <= 1 for a in dev.availability):
                    note(f"{at}.availability", "Expected a non-empty list of fractions in "
                                               "[0, 1]")
                    continue
            if any(p == at or p.startswith(at + ".") for p in bad):
                continue  # a number already refused: its model would refuse it again
            try:
                check_device(dev, scenario.steps, scenario.dt_h)
            except ValueError as exc:
                note(at, str(exc))
    unit(_check_target, scenario, stop)
    if scenario.topology is not None and not any(p.path == "sites" for p in problems):
        unit(_check_topology, scenario, stop)
    if scenario.coordination != "admm" and scenario.admm is not None:
        note("admm", "ADMM options are given but `coordination` is `merit_order`")
    for check in _SECTION_CHECKS:
        unit(check, scenario, stop)
    return problems


def _check_target(scenario: Scenario, fail) -> None:
    target = scenario.target
    if target is not None and (target.values_kw is None) == (target.profile is None):
        fail("target", "Expected exactly one of `values_kw` or `profile`")
    if target is not None and target.values_kw is not None:
        if len(target.values_kw) < scenario.steps:
            fail("target.values_kw", f"Expected at least {scenario.steps} values (one per "
                 f"step), got {len(target.values_kw)}")
    if isinstance(scenario.reserve_kw, list) and len(scenario.reserve_kw) < scenario.steps:
        fail("reserve_kw", f"Expected a number or at least {scenario.steps} values")


def _check_topology(scenario: Scenario, fail) -> None:
    """The ``topology`` section builds a tree over the fleet (the error names the node and
    the field)."""
    from vpp.coordination.hierarchy.topology import TopologyError, build_topology

    try:
        build_topology(scenario.topology, scenario.site_names())
    except TopologyError as exc:
        path = (exc.path or "$.topology").removeprefix("$.")
        text = str(exc)
        if exc.path:
            text = text.removesuffix(f" - at `{exc.path}`")
        fail(path, text)


def check_scenario(scenario: Scenario, where: str, limits: Limits | None = None) -> None:
    """The one check of a scenario's content, shared by ``vpp validate``, ``vpp run`` and
    every other loader: sizes within ``limits``, finite numbers within the physical caps
    of their unit (:mod:`vpp.runs.scenario.numbers`), each device's values as its model checks
    them, then the checks registered with :func:`register_check` (each run mode registers
    the rules of its sections: importing :mod:`vpp.runs.modes` does). A scenario received
    over the network (a site process's) goes through it too.

    Raises:
        ScenarioProblems: (a ScenarioError) every problem found, one line each, naming the
            field (and the site by name).
    """
    problems = scenario_problems(scenario, limits, where)
    if problems:
        raise ScenarioProblems(where, problems, _plain(scenario))


def _plain(scenario: Scenario):
    import msgspec

    return msgspec.to_builtins(scenario)
