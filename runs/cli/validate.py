"""``vpp validate``: check a scenario file without running it."""

from __future__ import annotations

from pathlib import Path

import typer
from vpp.runs.cli.common import console, fail
from vpp.runs.cli.options import ALLOW_PLUGINS_HELP, DATA_DIR_HELP, with_data_dirs


@with_data_dirs
def validate(
    scenario: Path = typer.Argument(..., help="The scenario YAML file to check."),
    allow_plugins: bool = typer.Option(
        False, "--allow-plugins", help=ALLOW_PLUGINS_HELP + " With it, validate imports "
        "and builds them; without it, their names are checked and no plug-in code runs."),
    data_dir: list[Path] = typer.Option([], "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Check a scenario: every error names the file, the field path and what was expected.

    The same checks as `vpp run` (sizes, finite numbers within their caps, each device's
    values, the sections' rules), the data files read, and the strategies built. Without
    --allow-plugins no plug-in code runs: entry points and module:Class strategies are
    checked by name only, and the output lists them as not checked.
    """
    from vpp.runs.scenario import ScenarioError

    try:
        summary, unchecked = _check(scenario, allow_plugins)
    except ScenarioError as exc:
        fail(str(exc), code=1)
    console.print(f"[green]ok[/] {scenario}: {summary}", soft_wrap=True, highlight=False)
    for line in unchecked:
        console.print(f"  not checked: {line}", soft_wrap=True, highlight=False)


def _check(path: Path, allow_plugins: bool) -> tuple[str, list[str]]:
    """The checks; return the summary line and what was not checked."""
    from vpp.runs.fleet.strategies import check_strategies
    from vpp.runs.scenario import load, target_series
    from vpp.runs.scenario.data_files import data_paths, resolve_data

    spec = load(path)
    for field, relative in data_paths(spec):
        resolved = resolve_data(path, relative, field)
        if not resolved.is_file():
            from vpp.runs.scenario import ScenarioError

            raise ScenarioError(f"{path}: {field}: no file {resolved} - at `$.{field}`")
    unchecked = check_strategies([(f"sites[{i}]", site) for i, site in enumerate(spec.sites)],
                                 str(path), allow_import=allow_plugins)
    head = (f"scenario [bold]{spec.name}[/], {len(spec.site_names())} sites, {spec.steps} "
            f"steps of {spec.step_minutes} min")
    if spec.target is None:  # it sells at market prices instead of following a target
        if spec.market is not None:
            from vpp.runs.modes.merit_order.market import hourly_prices

            prices = hourly_prices(spec, path)
        elif spec.grid is not None:
            return f"{head}, a grid event", unchecked
        else:
            from vpp.runs.modes.admm.sites import price_series

            prices = price_series(spec, path)
        return (f"{head}, selling at {min(prices):,.2f} to {max(prices):,.2f} EUR/MWh",
                unchecked)
    targets = target_series(spec, path)
    return f"{head}, target {min(targets):,.0f} to {max(targets):,.0f} kW", unchecked
