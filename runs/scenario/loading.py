"""Reading scenario files: YAML within bounds, validated into a :class:`Scenario`, its data
paths confined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vpp.runs.scenario.checks import scenario_problems
from vpp.runs.scenario.errors import ScenarioError
from vpp.runs.scenario.limits import Limits, LimitsError
from vpp.runs.scenario.problems import Problem, ScenarioProblems, from_message
from vpp.runs.scenario.schema import Scenario
from vpp.runs.scenario.walk import convert_all


def parse(data: Any, where: str = "<scenario>", limits: Limits | None = None) -> Scenario:
    """Validate already-parsed YAML/JSON data into a :class:`Scenario` (the one check,
    within ``limits``: default :meth:`Limits.from_env`).

    Raises:
        ScenarioProblems: (a ScenarioError) every problem found, one line each.
    """
    scenario, problems = parse_problems(data, where, limits)
    if problems:
        raise ScenarioProblems(where, problems, data)
    return scenario


def parse_problems(data: Any, where: str = "<scenario>", limits: Limits | None = None,
                   ) -> tuple[Scenario | None, list[Problem]]:
    """Every problem of a scenario's data, structural (:func:`~.walk.convert_all`) and of
    its content (:func:`~.checks.scenario_problems`, run on what could be built); return
    the scenario (None when it has problems) and the problems."""
    scenario, walk = convert_all(data, Scenario)
    problems = list(walk.problems)
    if scenario is not None:
        for problem in scenario_problems(scenario, limits, where):
            path = walk.index.original(problem.path)
            if walk.index.shortened(path):
                continue  # a list with items set aside above: its own check would mislead
            problems.append(Problem(path, problem.message))
    return (None if problems else scenario), problems


def load(path: str | Path, limits: Limits | None = None) -> Scenario:
    """Read and validate a scenario file; the data files it names must be inside its
    folder, the bundled data or a ``--data-dir`` (:mod:`vpp.runs.scenario.data_files`; they
    are read when used)."""
    return from_mapping(read_mapping(path, limits=limits), path, limits)


def from_mapping(data: Any, path: str | Path, limits: Limits | None = None) -> Scenario:
    """Validate a scenario file's data already read (:func:`read_mapping`) and confine the
    data files it names (see :func:`load`).

    Raises:
        ScenarioProblems: every problem found, the data files' included.
    """
    scenario, problems = parse_problems(data, str(path), limits)
    if scenario is not None:
        problems += data_problems(scenario, path)
    if problems:
        raise ScenarioProblems(str(path), problems, data)
    return scenario


def data_problems(scenario: Scenario, path: str | Path | None,
                  exist: bool = False) -> list[Problem]:
    """The data files ``scenario`` names that are outside its folder, the bundled data
    and any ``--data-dir`` (:func:`~.data_files.resolve_data`), and with ``exist`` those
    that are not there, one problem each."""
    from vpp.runs.scenario.data_files import data_paths, resolve_data

    out = []
    for field, relative in data_paths(scenario):
        try:
            resolved = resolve_data(path, relative, field)
        except ScenarioError as exc:
            out.append(from_message(str(exc), str(path)))
            continue
        if exist and not resolved.is_file():
            out.append(Problem(field, f"{field}: no file {resolved}"))
    return out


def read_mapping(path: str | Path, content: bytes | None = None,
                 limits: Limits | None = None) -> dict:
    """Read a YAML file (or ``content``, the file's bytes already read) whose top level is
    a mapping, within ``limits`` (file size, YAML nodes with aliases expanded, depth:
    :mod:`vpp.runs.scenario.yaml_bounds`); errors name the file."""
    from vpp.runs.scenario.yaml_bounds import YamlError, read_yaml

    try:
        data = read_yaml(path, content, limits)
    except (YamlError, LimitsError) as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: Expected a mapping at the top level - at `$`")
    return data


def resolve(scenario_path: Path | None, relative: str, field: str = "csv") -> Path:
    """The data file a scenario names in ``field`` (relative to the scenario's folder, or
    ``bundled:NAME``), confined to the scenario's folder, the bundled data and any
    ``--data-dir`` (:func:`vpp.runs.scenario.data_files.resolve_data`)."""
    from vpp.runs.scenario.data_files import resolve_data

    return resolve_data(scenario_path, relative, field)
