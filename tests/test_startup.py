"""Start-up shows progress at once, and the summary's time is the command's whole time.

``vpp`` runs here as a user runs it, under a pseudo-terminal (so rich draws as on a
terminal), and the tests read what arrives when. They assert on order (the first stage
line arrives before numpy, pandas, mesa and pvlib have been imported; the stages come in
the order the work does them) and on the printed total against the time measured here;
the one bound on time is generous for a loaded machine.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vpp.runs.bench.startup import STAGE_LINE as STAGE
from vpp.runs.bench.startup import run_in_terminal
from vpp.runs.cli import app
from vpp.runs.cli.execute import time_line
from vpp.runs.cli.startup import Origin, StageLines, process_start
from vpp.runs.scenario import DEFAULT_SCENARIO
from vpp.runs.stages import announce, listening

pytestmark = pytest.mark.timeout(120)

TIME = re.compile(r"time: (\d+\.\d) s in all since the (process|command) started "
                  r"\(start-up (\d+\.\d) s, building (\d+\.\d) s, steps (\d+\.\d) s")
VPP = str(Path(sys.executable).with_name("vpp"))


def _small_scenario(tmp_path: Path, steps: int = 8) -> Path:
    data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
    data["steps"] = steps
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_vpp_run_names_its_stages_at_once_in_order_and_prints_its_whole_time(tmp_path):
    scenario = _small_scenario(tmp_path)
    term = run_in_terminal([VPP, "run", str(scenario), "--out", "r", "--no-plot"], tmp_path)
    assert term.status == 0, term.text
    # the first thing on the screen is the first stage, and it comes from the work
    assert STAGE.match(term.lines[0]) and "loading scenario" in term.lines[0], term.lines[:3]
    stages = term.stages()
    assert [name for _, name in stages] == [
        f"loading scenario {scenario}", "loading the agent runtime (mesa, ZeroMQ)",
        "building", "reading data files (target.profile)", "building 14 sites",
        "solar model (pvlib)", "wind model (windpowerlib)", "starting agents", "steps"]
    printed = [at for at, _ in stages]
    assert printed == sorted(printed)
    first = term.arrival(term.lines[0])
    assert first < 5.0  # about 0.4 s here; generous for a loaded machine
    assert first < term.arrival(" s  steps")

    match = TIME.search(" ".join(term.text.split()))
    assert match, term.text
    total, since, startup_s, build_s, steps_s = match.groups()
    assert since == "process"
    arrived = term.arrival("time: ")
    # the total counts from the process's start: all but the last moment before printing
    assert arrived - 0.3 <= float(total) <= arrived + 0.1
    assert float(total) >= first - 0.1 and float(total) >= printed[-1]
    assert float(startup_s) >= printed[1] - 0.1  # start-up includes loading the scenario
    parts = float(startup_s) + float(build_s) + float(steps_s)
    assert parts <= float(total) + 0.15
    summary = yaml.safe_load((tmp_path / "r" / "summary.json").read_text())
    assert summary["startup_s"] == pytest.approx(float(startup_s), abs=0.051)
    assert {"build_s", "steps_s"} <= set(summary)  # kept, with their meaning


def test_the_first_stage_line_comes_before_the_heavy_imports(tmp_path):
    """Under ``-X importtime`` each import prints a line when it ends: the first stage is on
    the terminal before numpy, pandas, mesa, ZeroMQ or pvlib has been imported."""
    scenario = _small_scenario(tmp_path, steps=2)
    term = run_in_terminal([sys.executable, "-X", "importtime", "-m", "vpp.runs.cli", "run",
                            str(scenario), "--out", "r", "--no-plot"], tmp_path)
    assert term.status == 0, term.text[-2000:]
    first_stage = next(i for i, line in enumerate(term.lines) if "loading scenario" in line)
    for module in ("numpy", "pandas", "mesa", "zmq", "pvlib"):
        ended = next(i for i, line in enumerate(term.lines)
                     if re.search(rf"\|\s+{module}$", line))
        assert first_stage < ended, module


def test_the_runs_own_work_announces_its_stages(tmp_path):
    """The stages come from the code that does the work (no command, no terminal)."""
    import vpp

    heard: list[str] = []
    with listening(heard.append):
        vpp.run(vpp.load(_small_scenario(tmp_path, steps=2)), out=tmp_path / "r")
    assert heard[0] == "building" and heard[-1] == "steps"
    for stage in ("building 14 sites", "starting agents"):
        assert stage in heard
    assert heard.index("building 14 sites") < heard.index("starting agents")


def test_a_grid_event_announces_its_sites_and_agents(tmp_path):
    import vpp

    heard: list[str] = []
    path = DEFAULT_SCENARIO.with_name("loss-of-infeed.yaml")
    with listening(heard.append):
        vpp.run(vpp.load(path), out=tmp_path / "r")
    assert heard[0] == "building" and heard[-1] == "steps"
    order = ["building the sites", "building the sites without the VPP's services",
             "starting agents"]
    assert [stage for stage in heard if stage in order] == order


def test_vpp_backtest_stages_and_time_in_process(tmp_path, monkeypatch):
    """Called in-process (not through the entry point), the time counts from the
    command's start and says so."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["backtest", "--days", "2", "--out", "bt"])
    assert result.exit_code == 0, result.output
    names = [m[2] for line in result.output.splitlines() if (m := STAGE.match(line))]
    assert names == ["loading the default backtest", "building",
                     "loading the trading engine", "reading market data",
                     "building 3 traders", "steps", "figures"]
    flat = " ".join(result.output.split())
    assert "s in all since the command started (start-up" in flat
    assert ", figures " in flat


def test_stage_lines_record_print_and_skip_a_repeat():
    class Console:
        def __init__(self):
            self.lines = []

        def print(self, text, **_):
            self.lines.append(text)

    console = Console()
    lines = StageLines(Origin(time.monotonic() - 2.0, "process start"), console)
    seen = []
    lines.on_stage = seen.append
    with listening(lines):
        announce("solar model (pvlib)")
        announce("solar model (pvlib)")
        announce("steps [bold]")
    announce("not heard")
    assert [name for name, _ in lines.stages] == ["solar model (pvlib)", "steps [bold]"]
    assert seen == ["solar model (pvlib)", "steps [bold]"]
    assert all(at >= 2.0 for _, at in lines.stages) and lines.elapsed() >= 2.0
    assert console.lines[0].endswith("s[/]  solar model (pvlib)")
    assert console.lines[1].endswith("steps \\[bold]")  # markup escaped
    quiet = StageLines(Origin(time.monotonic(), "command start"))
    quiet("loading")  # no console: recorded, not printed
    assert quiet.stages[0][0] == "loading"


def test_the_process_start_is_read_and_precedes_now():
    start = process_start()
    if not Path("/proc/self/stat").exists():
        assert start is None
        return
    assert start is not None and start <= time.monotonic()


def test_the_time_line_says_what_it_counts():
    summary = {"command_s": 7.14, "command_from": "process start", "startup_s": 1.9,
               "build_s": 4.5, "steps_s": 0.41, "figures_s": 0.3}
    assert time_line(summary) == ("time: 7.1 s in all since the process started (start-up "
                                  "1.9 s, building 4.5 s, steps 0.4 s, figures 0.3 s)")
    assert time_line({"build_s": 1.0, "steps_s": 2.0}) == "time: building 1.0 s, steps 2.0 s"
    summary["metrics"] = {"process_cpu_s": 3.8, "process_rss_mib": 254.2}
    summary["command_from"] = "command start"
    assert time_line(summary).endswith("since the command started (start-up 1.9 s, building "
                                       "4.5 s, steps 0.4 s, figures 0.3 s); CPU 3.8 s, "
                                       "memory 254 MiB")


def test_bench_startup_prints_one_json_object():
    result = CliRunner().invoke(app, ["bench", "startup", "--repeats", "1", "--steps", "2",
                                      "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert 0 < figures["bare_interpreter_s_p50"] < figures["first_output_s_p50"]
    assert figures["first_output_s_p50"] < figures["time_line_arrival_s_p50"]
    stages = list(figures["stage_s_p50"])
    assert stages[0] == "loading scenario FILE" and stages[-1] == "steps"
    assert figures["printed_total_s_p50"] >= figures["stage_s_p50"]["steps"]


def test_vpp_sweep_says_what_it_loads_first(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = _small_scenario(tmp_path, steps=2)
    result = CliRunner().invoke(app, ["sweep", str(scenario), "--set", "steps=2",
                                      "--out", "study"])
    assert result.exit_code == 0, result.output
    first = STAGE.match(result.output.splitlines()[0])
    assert first and first[2] == f"loading scenario {scenario}"
    assert "sweep of" in result.output.splitlines()[1]


def test_the_start_up_time_is_no_headline_number():
    """``vpp compare`` and ``sweep.csv`` leave the timings out, the new one too."""
    from vpp.runs.sweep import headline

    assert headline({"startup_s": 1.9, "build_s": 1.0, "served_kwh": 3.0}) == {
        "served_kwh": 3.0}
