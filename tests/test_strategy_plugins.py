"""Strategies are plug-ins: the worked example of docs/strategies.md, run for real."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from vpp.runs.fleet.strategies import PluginError, make_strategy, strategy_class
from vpp.runs.runner import build_run, run_scenario
from vpp.runs.scenario import ScenarioError, parse

DOC = Path(__file__).resolve().parents[1] / "docs" / "strategies.md"


@pytest.fixture
def example_module(tmp_path, monkeypatch):
    """The docs' example, written out as an importable module."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    (tmp_path / "doc_bidders.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "doc_bidders"
    sys.modules.pop("doc_bidders", None)


def _scenario(strategy, targets):
    return parse({
        "name": "plugin", "start": "2019-01-16T00:00:00Z", "steps": len(targets),
        "target": {"values_kw": targets},
        "sites": [
            {"name": "cheap-but-scarce", "strategy": strategy,
             "devices": [{"type": "flexible", "name": "g", "p_max_kw": 1000, "cost_eur_mwh": 40}]},
            {"name": "steady", "devices": [
                {"type": "flexible", "name": "g", "p_max_kw": 2000, "cost_eur_mwh": 60}]},
        ]})


def test_the_docs_example_changes_the_dispatch(example_module, tmp_path):
    strategy = {"use": f"{example_module}:ScarcityBidder", "params": {"threshold_kw": 1000}}
    with pytest.raises(ScenarioError, match=r"--allow-plugins.* - at `\$\.sites\[0\]\.strategy`"):
        build_run(_scenario(strategy, [800.0, 1500.0]), tmp_path / "refused")
    model = run_scenario(_scenario(strategy, [800.0, 1500.0]), tmp_path / "run",
                         allow_plugins=True).run
    calm, scarce = model.aggregator.outcomes
    # calm step: the plug-in bids 40 and is taken first
    assert calm.site_power_kw == {"sites/cheap-but-scarce": 800.0, "sites/steady": 0.0}
    # scarce step: it bids 90, so the 60 EUR/MWh site serves all it can first
    assert scarce.site_power_kw == {"sites/cheap-but-scarce": 0.0, "sites/steady": 1500.0}
    assert scarce.marginal_price_eur_mwh == 60.0


def test_entry_points_and_errors_name_the_plugin():
    from vpp.coordination.merit_order.strategies import MarginalCostBidder, MarkupBidder

    assert strategy_class("marginal-cost") is MarginalCostBidder
    assert isinstance(make_strategy("markup", {"markup_eur_mwh": 3}), MarkupBidder)
    with pytest.raises(PluginError, match="no strategy named 'nope'"):
        strategy_class("nope")
    with pytest.raises(PluginError, match="cannot import module"):
        strategy_class("no_such_module_xyz:Thing", allow_import=True)
    with pytest.raises(PluginError, match="does not take the parameters"):
        make_strategy("markup", {"colour": "red"})
    with pytest.raises(PluginError, match="no bid"):
        make_strategy("collections:OrderedDict", allow_import=True)
    with pytest.raises(PluginError, match="--allow-plugins"):
        make_strategy("collections:OrderedDict")


def test_a_bad_strategy_in_a_scenario_names_the_field(tmp_path):
    scenario = _scenario({"use": "markup", "params": {"colour": "red"}}, [1.0])
    with pytest.raises(ScenarioError, match=r"\$\.sites\[0\]\.strategy"):
        build_run(scenario, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing half-made
