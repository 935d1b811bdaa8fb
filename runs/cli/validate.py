"""``vpp validate``: check a scenario file without running it."""

from __future__ import annotations

from pathlib import Path

import typer

from vpp.runs.cli.common import console, fail


def validate(
    scenario: Path = typer.Argument(..., help="The scenario YAML file to check."),
) -> None:
    """Check a scenario: every error names the file, the field path and what was expected."""
    from vpp.runs.plugins import site_strategies
    from vpp.runs.scenario import ScenarioError, load, target_series

    try:
        spec = load(scenario)
        if spec.target is None:  # it sells at market prices instead of following a target
            if spec.market is not None:
                from vpp.runs.market_run import hourly_prices

                prices = hourly_prices(spec, scenario)
            else:
                from vpp.runs.admm_sites import price_series

                prices = price_series(spec, scenario)
            site_strategies(spec, str(scenario))
            console.print(f"[green]ok[/] {scenario}: scenario [bold]{spec.name}[/], "
                          f"{len(spec.site_names())} sites, {spec.steps} steps of "
                          f"{spec.step_minutes} min, selling at {min(prices):,.2f} to "
                          f"{max(prices):,.2f} EUR/MWh", soft_wrap=True)
            return
        targets = target_series(spec, scenario)
        site_strategies(spec, str(scenario))
    except ScenarioError as exc:
        fail(str(exc), code=1)
    console.print(
        f"[green]ok[/] {scenario}: scenario [bold]{spec.name}[/], {len(spec.site_names())} sites, "
        f"{spec.steps} steps of {spec.step_minutes} min, target {min(targets):,.0f} to "
        f"{max(targets):,.0f} kW", soft_wrap=True)
