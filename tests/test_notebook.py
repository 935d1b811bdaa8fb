"""The fleet-study notebook (docs/examples/) runs from start to end in a kernel, its
outputs stripped in the repository, and what it computes is what the API computes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import vpp

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "examples" / "fleet-study.ipynb"


def test_the_notebook_is_kept_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_the_fleet_study_notebook_runs_end_to_end(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []
    for figure in ("dispatch-a.png", "sweep.png"):
        assert (tmp_path / figure).stat().st_size > 1000
    # the run it made is the scenario it saved, run again here
    scenario = vpp.load(tmp_path / "fleet-study.yaml")
    assert scenario.sites[2].devices[0].capacity_kwh == 200.0 and scenario.seed == 7
    a = json.loads((tmp_path / "run-a" / "summary.json").read_text())
    b = json.loads((tmp_path / "run-b" / "summary.json").read_text())
    again = vpp.run(tmp_path / "fleet-study.yaml", out=tmp_path / "again").summary
    for key in ("target_kwh", "served_kwh", "unserved_kwh", "cost_eur", "messages"):
        assert again[key] == a[key], key
    assert a["served_kwh"] + a["unserved_kwh"] == pytest.approx(a["target_kwh"])
    # the comparison it printed: the one field changed, and the served difference
    shown = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                    for o in c.outputs)
    assert "('scenario.sites[2].devices[0].capacity_kwh', 200.0, 800.0)" in shown
    # the sweep's rows for the scenario's own seed are run-a and run-b again
    table = vpp.open_run(tmp_path / "study" / "run-001").summary
    assert table["served_kwh"] == a["served_kwh"]
    assert vpp.open_run(tmp_path / "study" / "run-004").summary["served_kwh"] == b["served_kwh"]
