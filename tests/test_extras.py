"""A lean default install: the heavy libraries are extras, and a feature whose extra is
missing fails in one line naming ``pip install 'vpp-swarm[EXTRA]'`` (or, for a run's
plot, says it was not drawn and finishes the run). Each missing library is simulated in
a fresh interpreter by blocking its import (``sys.modules[NAME] = None``)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from vpp.physics.extras import EXTRAS, MissingExtra, require
from vpp.runs.modes.backtest.files import DEFAULT_BACKTEST
from vpp.runs.scenario import BUNDLED

from tests.proc_helpers import ROOT, small_scenario

HEAVY = {"blast-lite", "pandapower", "scikit-learn", "matplotlib", "cvxpy", "nrel-rex"}


def _vpp(tmp_path: Path, blocked: str, *args: str) -> subprocess.CompletedProcess:
    """``vpp ARGS`` (the console script's entry, ``main``) with ``blocked`` unimportable."""
    code = (f"import sys; sys.modules[{blocked!r}] = None\n"
            "from vpp.runs.cli import main\n"
            f"sys.argv = ['vpp', *{list(args)!r}]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=240)


def _one_line_error(done: subprocess.CompletedProcess, extra: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    text = " ".join(lines)
    assert text.startswith("error:") and text.endswith(f"pip install 'vpp-swarm[{extra}]'")


def _names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
            for r in requirements}


def test_the_default_install_leaves_the_heavy_libraries_to_extras():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _names(project["dependencies"]) & HEAVY == set()
    extras = project["optional-dependencies"]
    for extra, (_, dist) in EXTRAS.items():            # each extra brings its library
        assert dist in _names(extras[extra]), extra
    # the test extra installs everything
    test = " ".join(extras["test"])
    assert all(e in test for e in (*EXTRAS, "explorer")) and "vpp-swarm[" in test
    assert project["scripts"]["vpp"] == "vpp.runs.cli:main"


def test_require_names_the_extra_and_hides_no_other_import_error(monkeypatch):
    for name in ("pandapower", "pandapower.networks"):    # as if never installed
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtra) as err:
        require("grid", "the feeder power flow", "pandapower.networks")
    assert str(err.value) == ("the feeder power flow needs pandapower, which is not "
                              "installed: pip install 'vpp-swarm[grid]'")
    assert err.value.extra == "grid" and isinstance(err.value, ImportError)
    # an installed library missing one of its own modules is an error of its own
    with pytest.raises(ModuleNotFoundError) as other:
        require("ml", "a forecaster", "sklearn.no_such_module_here")
    assert not isinstance(other.value, MissingExtra)


def test_battery_ageing_without_the_ageing_extra(tmp_path):
    data = yaml.safe_load(small_scenario(tmp_path, steps=2).read_text())
    battery = next(d for s in data["sites"] for d in s["devices"] if d["type"] == "battery")
    battery["degradation"] = True
    path = tmp_path / "ageing.yaml"
    path.write_text(yaml.safe_dump(data))
    _one_line_error(_vpp(tmp_path, "blast", "run", str(path), "--out", "r"), "ageing")


def test_a_grid_feeder_without_the_grid_extra(tmp_path):
    done = _vpp(tmp_path, "pandapower", "run", str(BUNDLED / "volt-var.yaml"), "--out", "r")
    _one_line_error(done, "grid")


def test_the_ml_trader_without_the_ml_extra(tmp_path):
    done = _vpp(tmp_path, "sklearn", "backtest", str(DEFAULT_BACKTEST), "--days", "2",
                "--out", "bt")
    _one_line_error(done, "ml")


def test_plots_without_the_plots_extra(tmp_path):
    path = small_scenario(tmp_path, steps=2)
    run = _vpp(tmp_path, "matplotlib", "run", str(path), "--out", "r")
    # the run itself finishes and says its plot was not drawn, and why
    assert run.returncode == 0, run.stderr
    assert "no plot: drawing PNG plots needs matplotlib, which is not installed: " \
           "pip install 'vpp-swarm[plots]'" in " ".join(run.stdout.split())
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["steps"] == 2 and not (tmp_path / "r" / "dispatch.png").exists()
    # asked for explicitly, a plot is an error
    _one_line_error(_vpp(tmp_path, "matplotlib", "trace", "plot", "r"), "plots")
    # a backtest writes its tables and says its figures were not drawn
    bt = _vpp(tmp_path, "matplotlib", "backtest", str(DEFAULT_BACKTEST), "--days", "2",
              "--out", "bt")
    assert bt.returncode == 0, bt.stderr
    assert "pip install 'vpp-swarm[plots]'" in bt.stdout
    assert (tmp_path / "bt" / "summary.json").exists()
    assert not (tmp_path / "bt" / "equity.png").exists()
