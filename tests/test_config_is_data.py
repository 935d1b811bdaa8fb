"""A scenario is data: it never makes a process run code unless the person running the
command allows it, and a site process never imports code named by the scenario it
received from the aggregator (issue #19, finding 2; docs/security.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import yaml
from typer.testing import CliRunner
from vpp.coordination.plugins import PluginError, check_reference, load_class
from vpp.runs.cli import app
from vpp.runs.scenario import ScenarioError, load

from tests.proc_helpers import ROOT, leftovers, small_scenario, stop_all

runner = CliRunner()


def _hostile(tmp_path, strategy: dict):
    """The small default scenario whose first site names ``strategy``."""
    path = small_scenario(tmp_path, steps=2)
    data = yaml.safe_load(path.read_text())
    data["sites"][0]["strategy"] = strategy
    path.write_text(yaml.safe_dump(data))
    return path


def _strategies(marker):
    script = marker.with_suffix(".py")
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    return [
        {"use": "os:system", "params": {"command": f"touch {marker}"}},
        {"use": "builtins:open", "params": {"file": str(marker), "mode": "w"}},
        {"use": "runpy:run_path", "params": {"path_name": str(script)}},
    ]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["os:system", "builtins:open",
                                                  "runpy:run_path"])
def test_validate_and_run_never_run_the_code_a_scenario_names(tmp_path, which):
    marker = tmp_path / "marker"
    path = _hostile(tmp_path, _strategies(marker)[which])
    checked = runner.invoke(app, ["validate", str(path)])
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())
    assert "not checked: `$.sites[0].strategy`: module:Class" in said
    assert "--allow-plugins imports it" in said
    ran = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "--no-plot"])
    assert ran.exit_code == 1 and isinstance(ran.exception, SystemExit)
    said = " ".join(ran.output.split())
    assert "--allow-plugins" in said and said.endswith("at `$.sites[0].strategy`")
    assert not marker.exists()
    assert not (tmp_path / "run").exists()  # refused before anything was made


def test_allowed_a_module_class_is_imported_and_must_be_a_class(tmp_path):
    marker = tmp_path / "marker"
    path = _hostile(tmp_path, _strategies(marker)[0])
    # with --allow-plugins the owner runs code of their choosing; os:system is not a class
    allowed = runner.invoke(app, ["validate", str(path), "--allow-plugins"])
    assert allowed.exit_code == 1
    assert "is not a class" in allowed.output and not marker.exists()


def test_a_backtest_trader_is_data_too(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "bt.yaml"
    path.write_text(yaml.safe_dump({
        "name": "bt", "data": {"source": "simulated", "days": 2},
        "traders": [{"use": "os:system", "params": {"command": f"touch {marker}"}}]}))
    result = runner.invoke(app, ["backtest", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "--allow-plugins" in said and said.endswith("at `$.traders[0]`")
    assert not marker.exists()


def test_the_one_loader_checks_names_without_importing(tmp_path, monkeypatch):
    (tmp_path / "loud_plugin.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    builtins = {"mine": dict}
    assert check_reference("loud_plugin:Thing", builtins=builtins, group="x") == "module:Class"
    assert check_reference("mine", builtins=builtins, group="x") == "built-in"
    assert "loud_plugin" not in sys.modules
    for bad in ("os:system;rm", "a:b:c", ":x", "x:", "../x:y", 3):
        with pytest.raises(PluginError):
            check_reference(bad, builtins=builtins, group="x")
    with pytest.raises(PluginError, match="--allow-plugins"):
        load_class("loud_plugin:Thing", builtins=builtins, group="x", allow_import=False)
    assert "loud_plugin" not in sys.modules


def test_a_site_file_refuses_its_own_module_class_unless_allowed(tmp_path):
    site = yaml.safe_load(small_scenario(tmp_path).read_text())["sites"][0]
    site["strategy"] = {"use": "os:system", "params": {"command": "true"}}
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"site": site}))
    result = runner.invoke(app, ["site", str(mine), "--connect", "ipc:///nonexistent/agg",
                                 "--insecure"])
    assert result.exit_code == 1  # refused before it connects
    said = " ".join(result.output.split())
    assert "--allow-plugins" in said and said.endswith("at `$.site.strategy`")


PLUGIN = textwrap.dedent("""
    import pathlib, os
    pathlib.Path(os.environ["VPP_TEST_MARKER"]).write_text("imported")

    class Boom:
        def bid(self, call, offers):
            raise RuntimeError("never")
""")


@pytest.mark.timeout(120)
def test_a_site_process_never_imports_code_from_the_aggregators_scenario(tmp_path):
    """The aggregator's scenario names ``boom_plugin:Boom`` (importable on the site's
    machine, and writing a marker when imported) for a site the site process does not
    serve; the process joins from its own site file with --allow-plugins, serves its own
    site, and never imports the aggregator's plug-in."""
    from vpp.runs.placement.remote import RemotePlacement
    from vpp.runs.runner import run_scenario

    (tmp_path / "boom_plugin.py").write_text(PLUGIN)
    marker = tmp_path / "imported"
    path = small_scenario(tmp_path, steps=2)
    data = yaml.safe_load(path.read_text())
    data["sites"] = data["sites"][:2]
    data["sites"][1]["strategy"] = {"use": "boom_plugin:Boom"}
    path.write_text(yaml.safe_dump(data))
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"site": data["sites"][0]}))
    scenario = load(path)
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
               VPP_TEST_MARKER=str(marker))
    procs = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", min_sites=1, join_timeout_s=20.0,
        on_listening=lambda endpoint: procs.append(subprocess.Popen(
            [sys.executable, "-m", "vpp.runs.cli", "site", str(mine), "--connect", endpoint,
             "--insecure", "--allow-plugins", "--host-name", "owner", "--out", str(out)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)))
    try:
        result = run_scenario(scenario, out, scenario_path=path, placement=placement)
    finally:
        stop_all(procs)
    (proc,), summary, agg = procs, result.summary, result.run.fleet
    errors = proc.stderr.read().decode()
    assert proc.returncode == 0, errors
    assert leftovers() == []
    assert summary["processes"] == 1
    assert not marker.exists(), "the site process imported the aggregator's plug-in"
    # it served its own site: the awards it acknowledged are on record
    served = [step for step in agg.applied if data["sites"][0]["name"] in step]
    assert len(served) == 2


def test_the_one_process_swarm_imports_it_only_when_allowed(tmp_path, monkeypatch):
    from vpp.runs.runner import build_run

    (tmp_path / "boom_plugin.py").write_text(PLUGIN)
    marker = tmp_path / "imported"
    monkeypatch.setenv("VPP_TEST_MARKER", str(marker))
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _hostile(tmp_path, {"use": "boom_plugin:Boom"})
    with pytest.raises(ScenarioError, match=r"--allow-plugins.*\$\.sites\[0\]\.strategy"):
        build_run(load(path), tmp_path / "run", scenario_path=path)
    assert not marker.exists() and "boom_plugin" not in sys.modules
    _, model = build_run(load(path), tmp_path / "run", scenario_path=path, allow_plugins=True)
    model.close()
    sys.modules.pop("boom_plugin", None)
    assert marker.read_text() == "imported"
