"""At 80 columns the trace tables cut no number and no name; the PNGs use clock time,
mark what matters and label it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs import plots
from vpp.runs.cli.common import table

from tests.explorer.conftest import cli_json


def _vpp80(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80", "LINES": "50", "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-m", "vpp.runs.cli", *args], capture_output=True,
                          text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    return done.stdout


def test_show_at_80_columns_keeps_every_name_and_number(default_run):
    out = _vpp80("trace", "show", str(default_run))
    reader = TraceReader(default_run)
    dispatch = reader.dispatch()
    reader.close()
    injected: dict[str, float] = {}
    for d in dispatch:
        injected[d["site"]] = injected.get(d["site"], 0.0) + max(d["power_kw"], 0.0) * 0.25
    lines = out.splitlines()
    for site, kwh in injected.items():
        row = next(line for line in lines if f" {site} " in line)
        assert f"{kwh:,.1f}" in row
    summary = json.loads((default_run / "summary.json").read_text())
    assert f"{summary['target_kwh']:,.1f}" in out and f"{summary['cost_eur']:,.1f}" in out


def test_messages_at_80_columns_show_each_body_whole(default_run):
    out = _vpp80("trace", "messages", str(default_run), "--step", "82", "--limit", "200")
    flat = "".join(line.strip() for line in out.splitlines())
    listed = cli_json("trace", "messages", str(default_run), "--step", "82")
    for m in listed:
        if m["body"] is not None:
            assert json.dumps(m["body"], separators=(",", ":")) in flat


def test_rounds_at_80_columns_split_rather_than_cut(default_run, admm_run):
    out = _vpp80("trace", "rounds", str(default_run), "--step", "82")
    assert "(continued)" in out and "declines" in out
    out = _vpp80("trace", "rounds", str(admm_run))
    assert "primal" in out and "residual" in out


def test_a_table_too_wide_for_the_console_repeats_its_key_columns():
    from rich.console import Console

    console = Console(width=40, record=True)
    console.print(table("t", ("step", "round", "aaaa", "bbbb", "cccc", "dddd", "eeee"),
                        [(1, 2, 1234567.0, 2345678.0, 3456789.0, 4567890.0, 5678901.0)],
                        width=40, key=2))
    text = console.export_text()
    assert "…" not in text and text.count("step") == text.count("round") >= 2
    for number in ("1,234,567.0", "2,345,678.0", "3,456,789.0", "4,567,890.0", "5,678,901.0"):
        assert number in text


def _figure_texts(fig) -> list[str]:
    out = []
    for ax in fig.axes:
        out += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
        legend = ax.get_legend()
        if legend:
            out += [t.get_text() for t in legend.get_texts()]
        out += [t.get_text() for t in ax.texts]
    return out


@pytest.fixture
def figures():
    """Figures to close after the test."""
    import matplotlib.pyplot as plt

    made: list = []
    yield made
    for fig in made:
        plt.close(fig)


def test_dispatch_png_uses_clock_time_and_marks_unserved_energy(default_run, tmp_path,
                                                                 figures):
    import matplotlib.dates as mdates

    out = plots.plot_run(default_run, tmp_path / "d.png")
    assert out.stat().st_size > 50_000
    fig = plots.run_figure(default_run)
    figures.append(fig)
    texts = _figure_texts(fig)
    assert "time (UTC)" in texts and "marginal price\n(EUR/MWh)" in texts
    assert any("unserved energy in 8 steps" in t for t in texts)
    assert {"reserve asked", "reserve held", "unserved power"} <= set(texts)
    sites = {"chp-north", "bakery", "wind-park", "pv-farm"}
    assert sites <= set(texts)
    # every site its own colour (each site's bars: one filled outline, labelled by site)
    areas = [c for c in fig.axes[0].collections if not c.get_label().startswith("_")]
    assert len(areas) == 14
    assert len({tuple(c.get_facecolor()[0]) for c in areas}) == 14
    assert isinstance(fig.axes[2].xaxis.get_major_formatter(), mdates.DateFormatter)
    # one red band per unserved step in the dispatch panel
    assert sum(1 for p in fig.axes[0].patches if p.get_facecolor()[:3] == pytest.approx(
        (0.839, 0.153, 0.157), abs=0.01) and p.get_alpha() == 0.25) == 8


def test_rounds_png_draws_the_tolerances(admm_run, figures):
    figures.append(plots.rounds_figure(admm_run))
    labels = _figure_texts(figures[-1])
    assert {"primal residual", "dual residual", "primal tolerance", "dual tolerance"} <= set(labels)
    assert "residual (kW)" in labels


def test_frequency_png_labels_each_shedding_stage(grid_run, figures):
    figures.append(plots.frequency_figure(grid_run))
    labels = [t for t in _figure_texts(figures[-1]) if "ufls stage" in t]
    assert [label.split(" trip")[0] for label in labels] == [
        f"replay: ufls stage {k}" for k in (1, 2, 3, 4)]
    assert labels[0].endswith("at 12:33:19.5, 48.893 Hz")
