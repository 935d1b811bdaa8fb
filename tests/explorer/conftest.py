"""Real runs for the explorer's tests, made once per session under one folder (the folder
the test server serves)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vpp.runs.cli import app
from vpp.runs.scenario import DEFAULT_SCENARIO

SCENARIOS = DEFAULT_SCENARIO.parent
runner = CliRunner()


def vpp(*args: str) -> str:
    """Run a ``vpp`` command in this process; its output, or the test fails."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def cli_json(*args: str):
    """A ``vpp ... --json`` command's output, parsed."""
    return json.loads(vpp(*args, "--json"))


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    """The folder every session run goes into."""
    return tmp_path_factory.mktemp("explorer-runs")


def _run(root: Path, name: str, *args: str) -> Path:
    out = root / name
    if not out.exists():
        vpp(*args, "--out", str(out))
    return out


@pytest.fixture(scope="session")
def default_run(runs_root) -> Path:
    """The bundled default scenario (14 sites, 96 steps, unserved steps, one decline)."""
    return _run(runs_root, "default", "run", "--no-plot")


@pytest.fixture(scope="session")
def admm_run(runs_root) -> Path:
    """The bundled ADMM scenario."""
    return _run(runs_root, "admm", "run", str(SCENARIOS / "admm.yaml"), "--no-plot")


@pytest.fixture(scope="session")
def market_run(runs_root) -> Path:
    """The bundled market scenario (day-ahead and ancillary by message)."""
    return _run(runs_root, "market", "run", str(SCENARIOS / "market.yaml"), "--no-plot")


@pytest.fixture(scope="session")
def grid_run(runs_root) -> Path:
    """The bundled Iberian replay (four under-frequency load-shedding stages)."""
    return _run(runs_root, "iberian", "run", str(SCENARIOS / "iberian-blackout.yaml"),
                "--no-plot")


@pytest.fixture(scope="session")
def voltage_run(runs_root) -> Path:
    """The bundled Volt-VAR day."""
    return _run(runs_root, "volt-var", "run", str(SCENARIOS / "volt-var.yaml"), "--no-plot")


@pytest.fixture(scope="session")
def backtest_run(runs_root) -> Path:
    """Two days of the bundled backtest."""
    return _run(runs_root, "backtest", "backtest", "--days", "2")


@pytest.fixture(scope="session")
def wide_run(tmp_path_factory) -> Path:
    """25 sites x 30 steps (the bench's fleet): more sites than the overview draws one by
    one, so it has a heat map; in a folder of its own."""
    import yaml
    from vpp.runs.bench.swarm import bench_scenario

    root = tmp_path_factory.mktemp("explorer-wide")
    path = root / "wide.yaml"
    path.write_text(yaml.safe_dump(bench_scenario(25, 30)))
    return _run(root / "runs", "wide", "run", str(path), "--no-plot")
