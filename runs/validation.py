"""The checks of ``vpp validate`` (and ``vpp.validate``), every problem at once: the
scenario's structure and content (:func:`vpp.runs.scenario.loading.parse_problems`), its
data files, its strategies, and its series read (the target, or the prices it sells at).
Each problem is one line naming the file, the field path and the site by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ValidationReport:
    """What ``vpp validate`` found.

    Attributes:
        lines: one line per problem (none: the scenario is fine).
        summary: what the scenario is, when it is fine (sites, steps, target or prices).
        unchecked: what was named and not checked (plug-ins, without ``allow_plugins``).
    """

    lines: list[str] = field(default_factory=list)
    summary: str = ""
    unchecked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.lines


def validate_file(path: str | Path, *, allow_plugins: bool = False) -> ValidationReport:
    """Check a scenario (or backtest) file as ``vpp validate`` does."""
    from vpp.runs import modes
    from vpp.runs.scenario import ScenarioError
    from vpp.runs.scenario.loading import read_mapping
    from vpp.runs.scenario.problems import ScenarioProblems

    try:
        doc, mode = modes.load(path)
    except ScenarioProblems:  # a scenario with problems: find them all, strategies too
        return validate_mapping(read_mapping(path), path, allow_plugins=allow_plugins)
    except ScenarioError as exc:
        return ValidationReport(str(exc).splitlines())
    return validate_document(doc, path, allow_plugins=allow_plugins, mode=mode)


def validate_document(doc: Any, path: str | Path | None = None, *,
                      allow_plugins: bool = False, mode: Any = None) -> ValidationReport:
    """Check a scenario already loaded or built in code (its structure again, since a
    structure built in code is not checked when made; then the file's other checks).
    ``path``: the scenario's file, for the data files it names (default: the working
    directory stands for its folder)."""
    import msgspec
    from vpp.runs import modes
    from vpp.runs.scenario import Scenario

    if not isinstance(doc, Scenario):
        mode = mode or modes.select(doc)
        return ValidationReport(summary=_summary_of_other(doc, mode))
    raw = msgspec.to_builtins(doc)
    return validate_mapping(raw, path, allow_plugins=allow_plugins, mode=mode)


def validate_mapping(raw: Any, path: str | Path | None = None, *, allow_plugins: bool = False,
                     mode: Any = None) -> ValidationReport:
    """Check a scenario's plain data (as read from its file): every problem of its
    structure and content, its data files, each site's strategy, its series."""
    from vpp.runs import modes
    from vpp.runs.scenario import ScenarioError
    from vpp.runs.scenario.loading import data_problems, parse_problems
    from vpp.runs.scenario.problems import ScenarioProblems, from_message

    where = str(path) if path is not None else str(raw.get("name", "<scenario>")
                                                   if isinstance(raw, dict) else "<scenario>")
    scenario, problems = parse_problems(raw, where)
    unchecked, more = _strategies(raw, where, allow_plugins)
    problems += more
    if scenario is None:
        return ValidationReport(ScenarioProblems(where, problems, raw).lines,
                                unchecked=unchecked)
    problems += data_problems(scenario, path, exist=True)
    summary = ""
    if not problems:
        try:
            summary = _summary(scenario, path, mode or modes.select(scenario))
        except ScenarioError as exc:
            problems += [from_message(line, where) for line in str(exc).splitlines()]
    if problems:
        return ValidationReport(ScenarioProblems(where, problems, raw).lines,
                                unchecked=unchecked)
    return ValidationReport([], summary, unchecked)


def _strategies(raw: Any, where: str, allow_plugins: bool):
    """Each site's strategy, read from the plain data and checked on its own (whatever
    else is wrong with the scenario): (not checked, problems)."""
    from types import SimpleNamespace

    import msgspec
    from vpp.runs.fleet.strategies import check_strategies
    from vpp.runs.scenario import ScenarioError, StrategySpec
    from vpp.runs.scenario.problems import from_message

    unchecked, problems = [], []
    sites = raw.get("sites") if isinstance(raw, dict) else None
    for i, site in enumerate(sites if isinstance(sites, list) else []):
        if not isinstance(site, dict) or "strategy" not in site:
            continue
        try:
            strategy = msgspec.convert(site["strategy"], str | StrategySpec, strict=False)
        except msgspec.ValidationError:
            continue  # the structure's problem, already reported
        try:
            unchecked += check_strategies([(f"sites[{i}]", SimpleNamespace(strategy=strategy))],
                                          where, allow_import=allow_plugins)
        except ScenarioError as exc:
            problems.append(_with_hint(from_message(str(exc), where), strategy))
    return unchecked, problems


def _with_hint(problem: Any, strategy: Any) -> Any:
    """A strategy name that is not known, with the closest known one."""
    import re

    from vpp.runs.scenario.problems import Problem, close_match

    ref = strategy if isinstance(strategy, str) else strategy.use
    found = re.search(r"\(known: (?P<known>[^;)]*)", problem.message)
    if not problem.message.startswith("no strategy named") or found is None:
        return problem
    hint = close_match(ref, [k.strip() for k in found["known"].split(",")])
    if not hint.startswith(";"):
        return problem
    head, _, tail = problem.message.partition(" (known:")
    return Problem(problem.path, f"{head}{hint} (known:{tail}")


def _summary_of_other(doc: Any, mode: Any) -> str:
    if mode.name == "backtest":
        return (f"backtest [bold]{doc.name}[/], {len(doc.traders)} traders, data "
                f"{doc.data.source} (mode backtest)")
    return f"{getattr(doc, 'name', '?')} (mode {mode.name})"


def _summary(spec: Any, path: str | Path | None, mode: Any) -> str:
    """The one-line summary: sites, steps, and the target's or the prices' range (the
    series read: a data file that cannot be read is a ScenarioError here)."""
    from vpp.runs.scenario import target_series

    head = (f"scenario [bold]{spec.name}[/] (mode {mode.name}), {len(spec.site_names())} "
            f"sites, {spec.steps} steps of {spec.step_minutes} min")
    if spec.target is None:  # it sells at market prices instead of following a target
        if spec.market is not None:
            from vpp.runs.modes.merit_order.market import hourly_prices

            prices = hourly_prices(spec, path)
        elif spec.grid is not None:
            return f"{head}, a grid study"
        else:
            from vpp.runs.modes.admm.sites import price_series

            prices = price_series(spec, path)
        from vpp.runs.scenario.prices import scenario_currency

        return (f"{head}, selling at {min(prices):,.2f} to {max(prices):,.2f} "
                f"{scenario_currency(spec, path)}/MWh")
    targets = target_series(spec, path)
    return f"{head}, target {min(targets):,.0f} to {max(targets):,.0f} kW"
