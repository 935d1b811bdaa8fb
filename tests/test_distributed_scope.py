"""What site processes cannot run yet is refused up front, naming the scenario field."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vpp.runs.cli import app
from vpp.runs.scenario import BUNDLED


@pytest.mark.parametrize(("scenario", "field"), [
    ("market.yaml", "$.market"),
    ("loss-of-infeed.yaml", "$.grid"),
])
def test_processes_refuse_what_they_cannot_run(tmp_path, scenario, field):
    result = CliRunner().invoke(app, ["run", str(BUNDLED / scenario), "--processes", "2",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert field in result.output
    assert not (tmp_path / "run" / "summary.json").exists()
