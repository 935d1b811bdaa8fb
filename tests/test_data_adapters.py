"""Acceptance of the data adapters (issue #18): a scenario and a backtest run on a user's
own price CSV through the documented mapping, with a non-EUR currency shown as such, and
on each public-format fixture; a bundled scenario copied to an empty folder runs as it is;
a mapping's file stays in the scenario's folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner
from vpp.runs.cli import app
from vpp.runs.scenario import BUNDLED

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "timeseries"

# (file, mapping without `file`, the price's value, the day the scenario runs, currency)
PUBLIC = {
    "entsoe": ("entsoe_day_ahead_prices_de_lu_2019-10-26_28.csv", {"format": "entsoe"},
               "price", "2019-10-26T22:00:00Z", "EUR"),
    "ercot": ("ercot_dam_spp_2019-11-02_04.csv",
              {"format": "ercot", "select": {"SettlementPoint": "HB_NORTH"}}, "price",
              "2019-11-03T05:00:00Z", "USD"),
    "omie": ("omie_marginalpdbc_2019-03-30_04-01.1", {"format": "omie"}, "price_es",
             "2019-03-30T23:00:00Z", "EUR"),
}


def _said(result) -> str:
    return " ".join(result.output.split())


def _own_prices(folder: Path) -> Path:
    """A user's own file: local Chicago hours, prices in $/kWh (0.02, 0.03, ... USD)."""
    hours = pd.date_range("2019-11-02", "2019-11-06", freq="h", inclusive="left",
                          tz="America/Chicago")
    rows = [f"{t:%m/%d/%Y %H:%M},{0.02 + 0.01 * (i % 4):.2f}" for i, t in enumerate(hours)]
    path = folder / "my_prices.csv"
    path.write_text("Time,Price ($/kWh)\n" + "\n".join(rows) + "\n")
    return path


OWN_MAPPING = {"file": "my_prices.csv", "time_column": "Time", "time_format": "%m/%d/%Y %H:%M",
               "time_zone": "America/Chicago",
               "values": [{"column": "Price ($/kWh)", "unit": "$/kWh", "name": "price"}]}


def _market_scenario(folder: Path, mapping: dict, column: str, start: str) -> Path:
    data = yaml.safe_load((BUNDLED / "market.yaml").read_text())
    data.pop("data")
    data.update(start=start, steps=8)  # two hours at 15 min
    data["market"]["day_ahead"]["prices"] = {"data": mapping, "column": column}
    path = folder / "market.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _backtest(folder: Path, source, price: str | None = None) -> Path:
    data = yaml.safe_load((BUNDLED / "backtest_de_lu_2019.yaml").read_text())
    data["data"] = {"source": source, **({"price": price} if price else {})}
    data["traders"] = [{"use": "arbitrage"}]
    path = folder / "bt.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_scenario_on_my_own_usd_prices_reports_usd(tmp_path):
    _own_prices(tmp_path)
    path = _market_scenario(tmp_path, OWN_MAPPING, "price", "2019-11-02T05:00:00Z")
    said = _said(runner.invoke(app, ["validate", str(path)]))
    assert "selling at 20.00 to 30.00 USD/MWh" in said, said  # 0.02 and 0.03 $/kWh
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"),
                                 "--no-plot"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["currency"] == "USD"
    # 00:00 and 01:00 CDT are 05:00Z and 06:00Z: the first two hours, 0.02 and 0.03 $/kWh
    prices = [h["clearing_price_eur_mwh"] for h in summary["market"]["day_ahead"]["hours"]]
    assert prices == [20.0, 30.0]
    assert "day-ahead revenue (USD)" in result.output and "(EUR" not in result.output


def test_a_backtest_on_my_own_usd_prices_reports_usd(tmp_path):
    _own_prices(tmp_path)
    path = _backtest(tmp_path, OWN_MAPPING)
    result = runner.invoke(app, ["backtest", str(path), "--out", str(tmp_path / "bt")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    assert summary["currency"] == "USD" and summary["hours"] == 96
    assert summary["first"] == "2019-11-02T05:00:00Z"  # midnight CDT
    assert "prices in USD" in _said(result) and "EUR" not in result.output
    assert result.output.count("USD") >= 5  # profit, max DD, fees, FCR: the table's heads
    assert "load: not in the data" in summary["data"]


@pytest.mark.parametrize("layout", sorted(PUBLIC))
def test_a_scenario_and_a_backtest_on_each_public_format_fixture(tmp_path, layout):
    name, mapping, value, start, currency = PUBLIC[layout]
    shutil.copy(FIXTURES / name, tmp_path / name)
    mapping = {"file": name, **mapping}
    path = _market_scenario(tmp_path, mapping, value, start)
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"),
                                 "--no-plot"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["currency"] == currency
    assert len(summary["market"]["day_ahead"]["hours"]) == 2
    bt = _backtest(tmp_path, mapping, value)
    result = runner.invoke(app, ["backtest", str(bt), "--out", str(tmp_path / "bt")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    assert summary["currency"] == currency and summary["hours"] in (48, 72)
    assert f"prices in {currency}" in _said(result) and result.output.count(currency) >= 5


@pytest.mark.parametrize("bundled", ["default.yaml", "market.yaml", "admm.yaml",
                                     "market-plan.yaml", "volt-var.yaml",
                                     "iberian-blackout.yaml"])
def test_a_bundled_scenario_copied_to_an_empty_folder_validates_as_it_is(tmp_path, bundled):
    shutil.copy(BUNDLED / bundled, tmp_path / bundled)
    result = runner.invoke(app, ["validate", str(tmp_path / bundled)])
    assert result.exit_code == 0, result.output


def test_the_copied_default_scenario_runs_and_says_eur(tmp_path):
    shutil.copy(BUNDLED / "default.yaml", tmp_path / "default.yaml")
    result = runner.invoke(app, ["run", str(tmp_path / "default.yaml"), "--out",
                                 str(tmp_path / "run"), "--no-plot"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["currency"] == "EUR" and summary["steps"] == 96


def test_a_mapping_file_outside_the_scenarios_folder_is_refused(tmp_path):
    path = _market_scenario(tmp_path, {**OWN_MAPPING, "file": "../../../../etc/passwd"},
                            "price", "2019-11-02T06:00:00Z")
    result = runner.invoke(app, ["validate", str(path)])
    said = _said(result)
    assert result.exit_code == 1 and "root:" not in said
    assert said.endswith("at `$.market.day_ahead.prices.data.file`"), said


def test_mapping_errors_name_the_field(tmp_path):
    _own_prices(tmp_path)
    cases = [({**OWN_MAPPING, "time_zone": "Mars/Base"}, "market.day_ahead.prices.data."
              "time_zone", "unknown time zone"),
             ({**OWN_MAPPING, "time_column": "When"}, "market.day_ahead.prices.data."
              "time_column", "no column 'When'"),
             ({**OWN_MAPPING, "values": [
                 {"column": "Price ($/kWh)", "unit": "furlongs", "name": "price"}]},
              "market.day_ahead.prices.column", "unknown unit")]
    for mapping, field, text in cases:
        path = _market_scenario(tmp_path, mapping, "price", "2019-11-02T06:00:00Z")
        said = _said(runner.invoke(app, ["validate", str(path)]))
        assert text in said and said.endswith(f"at `${'.'}{field}`"), said
    data = yaml.safe_load((BUNDLED / "backtest_de_lu_2019.yaml").read_text())
    data["data"] = {"source": "de_lu_2020"}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(data))
    said = _said(runner.invoke(app, ["backtest", str(tmp_path / "b.yaml")]))
    assert "a bundled dataset (de_lu_2019" in said and said.endswith("at `$.data.source`")
