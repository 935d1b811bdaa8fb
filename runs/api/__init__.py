"""vpp-swarm's public Python API (installed as the ``vpp`` package).

Load and check a scenario, run it in any mode and placement, open a finished run::

    import vpp

    scenario = vpp.load("runs/scenarios/default.yaml")   # every check run; errors name the field
    result = vpp.run(scenario, out="my-run", seed=7)      # one process; processes=4 for site processes
    result.summary["served_kwh"]
    record = vpp.open_run("my-run")                       # manifest, summary, steps, sites

The reference library's quick-start names are in :mod:`vpp.optimization` and
:mod:`vpp.trading`. The repository's folders are installed under this one import root:
``vpp.agents`` (the runtime and the agent kinds), ``vpp.coordination`` (negotiation
protocols and solvers), ``vpp.markets`` (market mechanisms and trading), ``vpp.physics``
(device and grid models) and ``vpp.runs`` (scenarios, modes, placements, the runner, the
``vpp`` command). This file is ``runs/api/`` in the repository (see ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vpp.runs.record.reader import RunRecordReader
    from vpp.runs.runner import RunResult

try:
    __version__ = version("vpp-swarm")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"

_NAMES = {
    # a scenario in code: vpp.Scenario(name=..., start=..., steps=..., sites=[
    #     vpp.Site(name="chp", devices=[vpp.Flexible(name="engine", ...)])])
    "Scenario": "schema:Scenario", "Site": "schema:SiteSpec",
    "Strategy": "schema:StrategySpec", "Target": "schema:TargetSpec",
    "Profile": "schema:ProfileSpec", "Negotiation": "schema:NegotiationSpec",
    "Market": "market:MarketSpec", "DayAhead": "market:DayAheadSpec",
    "Prices": "market:PriceSeriesSpec", "Ancillary": "market:AncillarySpec",
    "Admm": "admm:AdmmSpec", "Flexible": "devices:FlexibleSpec", "Battery": "devices:BatterySpec",
    "PV": "devices:PVSpec", "Wind": "devices:WindSpec", "Load": "devices:LoadSpec",
    "CurtailableLoad": "devices:CurtailableLoadSpec",
    "ShiftableLoad": "devices:ShiftableLoadSpec", "EV": "devices:EVSpec"}
"""The scenario's building blocks by their names here (module of vpp.runs.scenario:class)."""

__all__ = ["__version__", "changed", "compare", "load", "modes", "open_run", "run", "save",
           "sweep", "validate",
           *sorted(_NAMES)]


def __getattr__(name: str) -> Any:
    """The scenario's building blocks, imported when first asked for (``vpp.Scenario``,
    ``vpp.Site``, ``vpp.Battery``, ...: the structures of :mod:`vpp.runs.scenario`)."""
    if name not in _NAMES:
        raise AttributeError(f"module 'vpp' has no attribute {name!r}")
    from importlib import import_module

    module, attr = _NAMES[name].split(":")
    return getattr(import_module(f"vpp.runs.scenario.{module}"), attr)


def load(path: str | Path) -> Any:
    """Read and check a run's file: a scenario (or a backtest file), with every check of
    ``vpp validate``.

    Raises:
        vpp.runs.scenario.ScenarioError: naming the file and the field at fault.
    """
    from vpp.runs import modes as registry

    return registry.load(path)[0]


def modes() -> list[str]:
    """The run modes known here: built-in, registered, installed."""
    from vpp.runs import modes as registry

    return registry.names()


def run(scenario: Any, *, out: str | Path | None = None, seed: int | None = None,
        processes: int | None = None, placement: Any = None, plot: bool = False,
        allow_plugins: bool = False, overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None, hooks: Sequence[Any] = (),
        changes: dict[str, Any] | None = None, **options: Any) -> RunResult:
    """Run ``scenario`` (a file's path, or a scenario already loaded or built in code) to
    its end. A scenario built in code is checked as a file is first.

    Args:
        scenario: a path, or a :class:`~vpp.runs.scenario.Scenario` (or backtest) object.
        out: the run's directory (default ``vpp-output/<name>-<time>``); claimed for the
            run (refused when another run holds it, or holds a finished run unless
            ``overwrite``).
        seed: overrides the scenario's seed.
        processes: the sites in that many local processes (default: all in this one).
        placement: a placement object instead (:mod:`vpp.runs.placement`).
        plot: draw the mode's figures into the run's directory.
        allow_plugins: ``module:Class`` strategies named by the scenario may load.
        progress: called with (steps done, steps) after each step.
        hooks: step hooks (:class:`vpp.runs.runner.StepHook`).
        changes: ``{field path: value}`` set first (``{"sites[chp].devices[0].p_max_kw":
            300}``; see :func:`changed`).
        **options: mode options (``pace`` for a grid event, ``agents`` for a backtest),
            and ``trace``, the trace level (``full``, ``rounds``, ``sample:N``; default:
            full up to 2,000,000 estimated messages, ``docs/runtime.md``).

    Returns:
        The :class:`~vpp.runs.runner.RunResult`: summary, directory, figures, and the run's
        objects to look at.

    Raises:
        vpp.runs.scenario.ScenarioError: the scenario cannot run (names the field).
        vpp.runs.record.claim.OutputError: the directory cannot be used.
    """
    from vpp.runs import modes as registry
    from vpp.runs.modes.base import RunContext
    from vpp.runs.placement.local import LocalPlacement
    from vpp.runs.record.claim import claim
    from vpp.runs.runner import Runner
    from vpp.runs.scenario import ScenarioError

    from vpp.runs.scenario import Scenario

    path = None
    if isinstance(scenario, (str, Path)):
        path = Path(scenario)
        scenario, mode = registry.load(path, changes=changes)
    else:
        if isinstance(scenario, Scenario):  # built or changed in code: the one check
            scenario = changed(scenario, changes or {})
        mode = registry.select(scenario)
    if placement is None:
        if processes is None:
            placement = LocalPlacement()
        else:
            from vpp.runs.placement.processes import ProcessesPlacement

            placement = ProcessesPlacement(processes, allow_plugins=allow_plugins)
    problem = mode.placement_problem(scenario, placement.name)
    if problem is not None:
        raise ScenarioError(problem)
    if out is None:
        from vpp.runs.cli.common import new_run_dir

        out = new_run_dir(scenario.name)
    lock = claim(Path(out), overwrite=overwrite)
    try:
        context = RunContext(Path(out), scenario.seed if seed is None else seed, path,
                             placement, options={"allow_plugins": allow_plugins, **options})
        return Runner(mode, scenario, context, hooks=hooks, progress=progress).run(plot=plot)
    finally:
        lock.release()


def validate(scenario: Any, *, allow_plugins: bool = False) -> Any:
    """Every problem of a scenario (a path, or one loaded or built in code), as
    ``vpp validate`` finds them.

    Returns:
        A :class:`~vpp.runs.validation.ValidationReport`: ``ok``, ``lines`` (one per problem,
        naming the field path and the site by name), ``summary``, ``unchecked``.
    """
    from vpp.runs.validation import validate_document, validate_file

    if isinstance(scenario, (str, Path)):
        return validate_file(scenario, allow_plugins=allow_plugins)
    return validate_document(scenario, allow_plugins=allow_plugins)


def changed(scenario: Any, changes: dict[str, Any]) -> Any:
    """A copy of a scenario with fields set by path, checked again::

        vpp.changed(scenario, {"steps": 48, "sites[chp].devices[0].p_max_kw": 300})

    A list item is named by its index or by its name in brackets.

    Raises:
        vpp.runs.scenario.ScenarioError: a path that leads nowhere, or every problem of the
            changed scenario.
    """
    from vpp.runs.scenario.edit import with_changes

    return with_changes(scenario, changes, getattr(scenario, "name", "<scenario>"))


def save(scenario: Any, path: str | Path) -> Path:
    """Write a scenario as YAML (defaults left out) that ``vpp.load`` reads back equal;
    return the path. Relative data paths are relative to the file's folder."""
    from vpp.runs.scenario.edit import save as save_yaml

    return save_yaml(scenario, path)


def sweep(scenario: str | Path, values: dict[str, Sequence[Any]], out: str | Path, *,
          seeds: int | None = None, processes: int = 1) -> Any:
    """Run the product of fields' values (times ``seeds`` seeds: the scenario's, +1, ...)
    as ordinary runs in ``out/run-001`` ..., ``processes`` at once, as ``vpp sweep`` does;
    a folder holding the same sweep is resumed (finished runs are not redone)::

        table = vpp.sweep("fleet.yaml", {"sites[chp].devices[0].p_max_kw": [200, 300]},
                          out="study", seeds=4, processes=2)

    Returns:
        A pandas DataFrame, one row per run (its values, seed, headline numbers, error),
        also written to ``out/sweep.csv``.
    """
    from vpp.runs.sweep import sweep as run_sweep

    return run_sweep(scenario, {k: list(v) for k, v in values.items()}, out, seeds=seeds,
                     processes=processes)


def compare(run_a: str | Path, run_b: str | Path) -> Any:
    """Two finished runs side by side: what differed in what was run, and each headline
    number (A, B, B - A, change in percent). Returns a
    :class:`~vpp.runs.compare.Comparison` (``inputs``, ``numbers`` DataFrame, ``texts``)."""
    from vpp.runs.compare import compare_runs

    return compare_runs(run_a, run_b)


def open_run(path: str | Path) -> RunRecordReader:
    """A finished (or running) run's record: its manifest, summary and per-step tables.

    Raises:
        FileNotFoundError: no run record in ``path``.
    """
    from vpp.runs.record.reader import RunRecordReader

    return RunRecordReader(Path(path))
