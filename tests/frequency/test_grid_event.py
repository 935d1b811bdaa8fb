"""The bundled grid events run end to end from `vpp run`: the loss of infeed with and
without the VPP, the Iberian blackout replay; the scenario section's errors name the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.cli import app
from vpp.runs.scenario import BUNDLED, ScenarioError, load, parse

runner = CliRunner()


def _run(scenario: Path, out: Path) -> dict:
    result = runner.invoke(app, ["run", str(scenario), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text())


def test_loss_of_infeed_with_and_without_the_vpp(tmp_path):
    s = _run(BUNDLED / "loss-of-infeed.yaml", tmp_path / "run")
    with_vpp, without = s["with-vpp"], s["without-vpp"]
    # -dP f0 / (2 H S) = -560 * 50 / (2 * 3 * 5000)
    assert s["swing_equation_rocof_hz_per_s"] == pytest.approx(-560 * 50 / 30000, abs=1e-5)
    # the first sample after the loss: the same RoCoF with and without (the VPP has not
    # acted yet), within 2 % of the swing equation's (0.1 s of damping and governor)
    assert with_vpp["initial_rocof_hz_per_s"] == without["initial_rocof_hz_per_s"]
    assert with_vpp["initial_rocof_hz_per_s"] == pytest.approx(
        s["swing_equation_rocof_hz_per_s"], rel=0.02)
    # the VPP's 100 MW of Dynamic Containment raise the nadir above the first UFLS stage
    assert with_vpp["nadir_hz"] > 49.0 > without["nadir_hz"]
    assert s["nadir_gain_hz"] == pytest.approx(with_vpp["nadir_hz"] - without["nadir_hz"])
    # 40 x 2.5 MW, and the two nearly empty batteries at most what 2 % of 2500 kWh above
    # soc_min sustains for 15 min through eta_d = 0.95: 50 x 0.95 / 0.25 = 190 kW each
    assert 100.0 < with_vpp["response_peak_mw"] <= 100.38 + 1e-9
    # the settlement: the 40 delivered in full, the two empty ones are penalized
    settlement = s["settlement"]
    assert settlement["penalized"] == ["old-bess-1", "old-bess-2"]
    paid = {p["site"]: p for p in settlement["providers"]}
    assert paid["bess-7"]["net_payment_eur"] == 2.5 * 17.0 * 4 == 170.0
    old = paid["old-bess-1"]
    assert 0.0 < old["performance"] < 0.5 and old["penalty_eur"] == pytest.approx(
        150.0 * old["shortfall_mwh"], abs=1e-4)
    assert old["withheld_eur"] == pytest.approx(170.0 * (1 - old["performance"]), abs=1e-3)
    assert settlement["capacity_payment_eur"] == 42 * 170.0
    assert with_vpp["stages"] == [] and with_vpp["shed_peak_mw"] == 0.0
    # without it, stage 1 of the German scheme sheds 12.5 % of 10 x 6 MW
    assert [(g["kind"], g["stage"], g["action"], g["count"]) for g in without["stages"]] == [
        ("ufls", 1, "trip", 10)]
    assert without["stages"][0]["f_hz"] <= 49.0
    assert without["shed_peak_mw"] == pytest.approx(7.5)
    # PV on LFSM-O does nothing on under-frequency (the sign)
    assert with_vpp["curtailed_peak_mw"] == 0.0 == without["curtailed_peak_mw"]
    assert s["dropped"] == 0 and with_vpp["late_samples"] == 0
    # the event timeline is in the trace and in timeline.csv, and the plot was written
    reader = TraceReader(tmp_path / "run")
    rows = reader.rounds()
    received = reader.messages(kind="FrequencySample", direction="recv")
    reader.close()
    # a broadcast is traced as received by each local agent it was handed to
    assert {m.receiver for m in received if m.receiver.startswith("sites/")} == {
        *(f"sites/bess-{i}" for i in range(1, 41)), "sites/old-bess-1", "sites/old-bess-2",
        *(f"sites/plant-{i}" for i in range(1, 11)),
        *(f"sites/pv-{i}" for i in range(1, 13))}
    samples = [r for r in rows if r["protocol"] == "frequency"]
    assert len(samples) == 2 * with_vpp["samples"]
    assert min(r["detail"]["f_hz"] for r in samples
               if r["conversation"] == "frequency/with-vpp") == pytest.approx(with_vpp["nadir_hz"])
    trips = [r for r in rows if r["protocol"] == "frequency-stage"]
    assert len(trips) == 10 and all(r["conversation"] == "frequency/without-vpp" for r in trips)
    with (tmp_path / "run" / "timeline.csv").open() as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == 2 * with_vpp["samples"]
    assert (tmp_path / "run" / "frequency.png").stat().st_size > 10_000


def test_iberian_blackout_replay_reports_which_stages_fired_when(tmp_path):
    s = _run(BUNDLED / "iberian-blackout.yaml", tmp_path / "run")
    assert s["open_loop"] is True and s["replay_start"] == "2025-04-28 12:30:00"
    replay = s["replay"]
    stages = replay["stages"]
    assert [(g["stage"], g["action"]) for g in stages] == [(k, "trip") for k in (1, 2, 3, 4)]
    thresholds = (49.0, 48.8, 48.6, 48.4)
    for g, threshold in zip(stages, thresholds):
        assert g["f_hz"] <= threshold and g["count"] == 8
    times = [g["first_t_s"] for g in stages]
    assert times == sorted(times) and all(t > 195.0 for t in times)   # the collapse at 12:33:1x
    assert stages[0]["clock"].startswith("12:33:1")
    assert replay["shed_peak_mw"] == pytest.approx(0.5 * 8 * 4.0)
    assert replay["response_peak_mw"] == pytest.approx(20.0)            # CE FCR full at 200 mHz
    result = runner.invoke(app, ["trace", "plot", str(tmp_path / "run"), "--frequency",
                                 "--out", str(tmp_path / "f.png")])
    assert result.exit_code == 0 and (tmp_path / "f.png").exists()


def _event(**grid) -> dict:
    data = yaml.safe_load((BUNDLED / "loss-of-infeed.yaml").read_text())
    data["grid"].update(grid)
    return data


def test_grid_section_errors_name_the_field(tmp_path):
    with pytest.raises(ScenarioError, match=r"unknown field `inertia`; did you mean `inertia_h_s`\? - at `\$\.grid`"):
        parse(_event(inertia=3.0), "x.yaml")
    with pytest.raises(ScenarioError, match=r"f0_hz must be 50 or 60, got 55.0 - at `\$\.grid`"):
        parse(_event(f0_hz=55), "x.yaml")
    with pytest.raises(ScenarioError, match="either events .* or replay"):
        parse(_event(replay={"csv": "x.csv"}), "x.yaml")
    bad = _event(response=[{"sites": ["bess-*"], "service": "ercot-ffr"}])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "response[0].service: preset 'ercot-ffr' is for 60 Hz grids, the grid is 50 Hz" in (
        result.output)
    assert "`$.grid`" in result.output
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and "is for 60 Hz grids" in result.output
    with pytest.raises(ScenarioError, match=r"unknown shedding preset 'nope'"):
        parse(_event(response=[{"sites": ["plant-*"], "shedding": "nope"}]), "x.yaml")
    # a site with a service but neither a battery nor a contracted power
    plain = _event(response=[{"sites": ["plant-*"], "service": "gb-dc"}])
    with pytest.raises(ScenarioError, match=r"no battery and no contracted_kw .* - at "
                                            r"`\$\.grid\.response\[0\]\.contracted_kw`"):
        from vpp.runs.modes.grid_event.event import build_sites

        build_sites(parse(plain, "x.yaml"), "x.yaml")


def test_frequency_plot_of_a_run_without_samples_fails_clearly(tmp_path):
    from vpp.agents.runtime.trace import TraceRecorder, shard_path

    TraceRecorder(shard_path(tmp_path, "agg"), "agg").close()
    result = runner.invoke(app, ["trace", "plot", str(tmp_path), "--frequency"])
    assert result.exit_code != 0 and "holds no frequency samples" in result.output


def test_bundled_grid_scenarios_validate():
    for name in ("loss-of-infeed.yaml", "iberian-blackout.yaml", "ercot-ffr.yaml"):
        assert load(BUNDLED / name).grid is not None


def test_ercot_ffr_on_a_60_hz_grid(tmp_path):
    data = yaml.safe_load((BUNDLED / "ercot-ffr.yaml").read_text())
    data["grid"]["duration_s"] = 6.0
    path = tmp_path / "ercot.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    s = _run(path, tmp_path / "run")
    with_vpp, without = s["with-vpp"], s["without-vpp"]
    assert s["f0_hz"] == 60.0
    assert with_vpp["initial_rocof_hz_per_s"] == pytest.approx(-1400 * 60 / (2 * 4 * 20000))
    ffr = [g for g in with_vpp["stages"] if g["kind"] == "service"]
    assert [(g["action"], g["count"]) for g in ffr] == [("trip", 40)]
    assert 59.8 < ffr[0]["f_hz"] <= 59.85                          # at the trigger, no delay
    assert with_vpp["response_peak_mw"] == pytest.approx(400.0)
    assert with_vpp["nadir_hz"] > without["nadir_hz"] + 0.1
    # without FFR the first ERCOT UFLS stage (59.3 Hz, 5 % of 10 x 20 MW) fires
    assert [(g["kind"], g["stage"]) for g in without["stages"]] == [("ufls", 1)]
    assert without["shed_peak_mw"] == pytest.approx(10.0)
    assert not any(g["kind"] == "ufls" for g in with_vpp["stages"])
