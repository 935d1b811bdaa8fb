"""Every file the README's commands name exists, and the example files run: the bakery's
own site file joins the default scenario's aggregator and gives the one-process dispatch;
the example alert rules raise an "unserved" alert once per stretch of unserved steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import vpp
import yaml
from vpp.runs.placement.remote import RemotePlacement
from vpp.runs.runner import run_scenario
from vpp.runs.scenario import DEFAULT_SCENARIO, load

from tests.proc_helpers import ROOT, leftovers, start_site, stop_all

pytestmark = pytest.mark.timeout(240)

WRITTEN_BY_THE_README = {"fleet.yaml", "prices.csv", "study/sweep.csv"}
"""Files the README's own commands write before another one reads them (``vpp init``
writes the first two, ``vpp sweep --out study`` the table)."""


def _named_files() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return {m for block in blocks for m in re.findall(r"[\w./-]+\.(?:yaml|yml|csv)\b", block)}


def test_every_file_the_readmes_commands_name_exists():
    named = _named_files()
    assert {"docs/examples/bakery.yaml", "docs/examples/alerts.yaml",
            "runs/scenarios/default.yaml"} <= named
    missing = sorted(n for n in named - WRITTEN_BY_THE_README if not (ROOT / n).is_file())
    assert missing == []


def _short_default(tmp_path: Path, steps: int) -> Path:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["steps"] = steps
    path = tmp_path / "default-short.yaml"  # its data is a bundled dataset, by name
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_bakerys_site_file_joins_and_gives_the_one_process_dispatch(tmp_path):
    path = _short_default(tmp_path, steps=3)
    scenario = load(path)
    others = [n for n in scenario.site_names() if n != "bakery"]
    local = run_scenario(scenario, tmp_path / "local", scenario_path=path)
    procs = []
    placement = RemotePlacement(
        "tcp://127.0.0.1:*", join_timeout_s=90,
        on_listening=lambda endpoint: procs.extend([
            start_site(ROOT / "docs/examples/bakery.yaml", endpoint, [],
                       tmp_path / "bakery", "--insecure"),
            start_site(path, endpoint, others, tmp_path / "others", "--insecure")]))
    try:
        remote = run_scenario(scenario, tmp_path / "remote", scenario_path=path,
                              placement=placement)
    finally:
        stop_all(procs)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr.read() for p in procs]
    assert leftovers() == []
    assert remote.summary["lost_sites"] == [] and remote.summary["processes"] == 2
    mine, theirs = local.run.aggregator.outcomes, remote.run.aggregator.outcomes
    assert len(mine) == len(theirs) == 3
    for a, b in zip(mine, theirs):
        assert b.served_kw == pytest.approx(a.served_kw, abs=1e-9)
        assert b.cost_eur == pytest.approx(a.cost_eur, abs=1e-9)
        assert ({k.split("/")[1]: v for k, v in b.site_power_kw.items()}
                == pytest.approx({k.split("/")[1]: v for k, v in a.site_power_kw.items()}))


def test_the_example_alerts_raise_unserved_once_per_stretch_of_unserved_steps(tmp_path):
    from typer.testing import CliRunner
    from vpp.runs.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", str(DEFAULT_SCENARIO), "--out", str(out),
                                      "--alerts", str(ROOT / "docs/examples/alerts.yaml")])
    assert result.exit_code == 0, result.output
    unserved = vpp.open_run(out).steps["unserved_kw"].to_numpy()
    short = unserved > 1e-9
    stretches = int(short[0]) + int(((~short[:-1]) & short[1:]).sum())
    assert stretches >= 1                     # the evening peak is above what the fleet has
    alerts = json.loads((out / "summary.json").read_text())["alerts"]
    # evaluated after each step: raised when a step falls short, cleared when one does not
    assert alerts["raised"] == stretches
    assert alerts["cleared"] == stretches - int(short[-1])
