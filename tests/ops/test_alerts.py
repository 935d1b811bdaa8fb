"""Alert rules: thresholds, hold times, clearing, rates; delivered to a local webhook and
to a command; a bad alerts file names the field."""

from __future__ import annotations

import json
import math
import sys

import pytest
import yaml
from vpp.agents.ops.agent import OpsAgent
from vpp.agents.ops.alerts import AlertEngine, AlertRule, AlertsSpec
from vpp.agents.ops.messages import AlertCleared, AlertRaised
from vpp.agents.ops.metrics import OpsMetrics
from vpp.runs import modes
from vpp.runs.modes.base import RunContext
from vpp.runs.ops.alerting import AlertMonitor, AlertsError, load_alerts
from vpp.runs.ops.hooks import ops_hooks
from vpp.runs.placement.local import LocalPlacement
from vpp.runs.runner import Runner, build_run
from vpp.runs.scenario import load

from tests.ops.helpers import write_small
from tests.ops.webhook import Receiver


def _samples(values):
    return lambda name: values.get(name, [])


def test_a_condition_must_hold_for_the_hold_time_and_clears_when_it_stops():
    rule = AlertRule(name="soc-low", metric="soc", op="<", threshold=0.2, hold_s=10.0)
    engine = AlertEngine([rule])
    low = {"soc": [({"site": "a"}, 0.1), ({"site": "b"}, 0.5)]}
    assert engine.evaluate(_samples(low), 0.0) == []          # starts holding
    assert engine.evaluate(_samples(low), 9.9) == []          # not long enough
    (raised,) = engine.evaluate(_samples(low), 10.0)
    assert isinstance(raised, AlertRaised) and raised.subject == "site=a"
    assert raised.value == 0.1 and raised.threshold == 0.2
    assert engine.evaluate(_samples(low), 20.0) == []         # raised once, not again
    assert engine.firing == [("soc-low", "site=a")]
    ok = {"soc": [({"site": "a"}, 0.3), ({"site": "b"}, 0.5)]}
    (cleared,) = engine.evaluate(_samples(ok), 21.0)
    assert isinstance(cleared, AlertCleared) and cleared.value == 0.3
    # a dip shorter than the hold time raises nothing
    assert engine.evaluate(_samples(low), 30.0) == []
    assert engine.evaluate(_samples(ok), 35.0) == []
    assert engine.evaluate(_samples(low), 36.0) == []
    assert engine.evaluate(_samples(low), 45.9) == []


def test_rates_labels_and_disappearing_subjects():
    rule = AlertRule(name="drops", metric="dropped_total", op=">", threshold=5.0,
                     rate=True, labels={"host": "agg"})
    engine = AlertEngine([rule])
    at = lambda v: {"dropped_total": [({"host": "agg", "reason": "x"}, v),
                                      ({"host": "sites", "reason": "x"}, 1e9)]}
    assert engine.evaluate(_samples(at(0.0)), 0.0) == []      # no rate yet
    assert engine.evaluate(_samples(at(4.0)), 1.0) == []      # 4 a second
    (raised,) = engine.evaluate(_samples(at(14.0)), 2.0)      # 10 a second
    assert raised.value == pytest.approx(10.0) and raised.subject == "host=agg,reason=x"
    (cleared,) = engine.evaluate(_samples({}), 3.0)           # the sample is gone
    assert isinstance(cleared, AlertCleared) and math.isnan(cleared.value)
    # a changed rule clears what its old version raised
    engine.evaluate(_samples(at(0.0)), 4.0)
    engine.evaluate(_samples(at(100.0)), 5.0)
    assert engine.firing
    gone = engine.set_rules([])
    assert [type(a).__name__ for a in gone] == ["AlertCleared"] and not engine.firing


def test_a_bad_alerts_file_names_the_field(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump({"rules": [{"name": "x", "metric": "m", "threshold": "hi"}]}))
    with pytest.raises(AlertsError, match=r"alerts.yaml.*`\$.rules\[0\].threshold`"):
        load_alerts(path)
    path.write_text(yaml.safe_dump({"rules": [], "webhook": "ftp://x"}))
    with pytest.raises(AlertsError, match=r"`\$.webhook`"):
        load_alerts(path)
    path.write_text(yaml.safe_dump({"rules": [{"name": "x", "metric": "m", "threshold": 1,
                                               "hold": 3}]}))
    with pytest.raises(AlertsError, match=r"unknown field `hold`"):
        load_alerts(path)


def test_a_swarm_alert_reaches_the_webhook_and_the_command_and_clears(tmp_path):
    receiver = Receiver()
    got = tmp_path / "got.jsonl"
    command = [sys.executable, "-c",
               f"import sys; open({str(got)!r}, 'a').write(sys.stdin.read() + '\\n')"]
    targets = [300.0, 300.0, 900.0, 900.0, 900.0, 300.0, 300.0, 300.0]
    path = write_small(tmp_path / "s.yaml", target={"values_kw": targets})
    scenario = load(path)
    spec = AlertsSpec(rules=[AlertRule(name="unserved", metric="vpp_unserved_kw", op=">",
                                       threshold=0.0, hold_s=1.5, severity="critical")],
                      webhook=receiver.url, command=command)
    steps = iter(range(100))
    ops = monitor = None

    def built(run):
        nonlocal ops, monitor
        ops = run.fleet.host.add(OpsAgent())
        metrics = OpsMetrics()
        hooks = ops_hooks(run, scenario, metrics=metrics, out_dir=tmp_path / "run")
        monitor = AlertMonitor(spec, metrics, ops=ops, host="agg",
                               clock=lambda: float(next(steps)))   # one second a step
        return [*hooks, monitor]

    context = RunContext(tmp_path / "run", scenario.seed, path, LocalPlacement())
    try:
        result = Runner(modes.select(scenario), scenario, context, on_built=built).run()
        summary, model = result.summary, result.run
        assert monitor.delivery.flush(10.0)
    finally:
        receiver.close()
    # 900 kW asked of at most 650 kW: unserved from step 2; held 1.5 s -> raised after
    # step 4; served again at step 5 -> cleared
    unserved = [o.unserved_kw for o in model.aggregator.outcomes]
    assert [u > 0 for u in unserved] == [False, False, True, True, True, False, False, False]
    kinds = [(type(a).__name__, a.subject) for a in monitor.history]
    assert kinds == [("AlertRaised", "-"), ("AlertCleared", "-")]
    assert monitor.history[0].value == pytest.approx(unserved[4])
    firing, resolved = receiver.bodies("firing"), receiver.bodies("resolved")
    assert len(firing) == len(resolved) == 1
    assert firing[0]["rule"] == "unserved" and firing[0]["severity"] == "critical"
    assert firing[0]["host"] == "agg" and resolved[0]["value"] == 0.0
    lines = [json.loads(x) for x in got.read_text().splitlines() if x]
    assert [b["status"] for b in lines] == ["firing", "resolved"]
    assert summary["alerts"]["raised"] == 1 and summary["alerts"]["firing"] == []
    assert summary["alerts"]["delivered"] == 4
    assert [type(b).__name__ for b in ops.announced] == ["AlertRaised", "AlertCleared"]


def test_alert_rules_reload_live_and_a_bad_edit_keeps_the_rules(tmp_path):
    from vpp.agents.ops.metrics import OpsMetrics
    from vpp.runs.ops.wiring import attach

    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"rules": [
        {"name": "hot", "metric": "vpp_x", "op": ">", "threshold": 10.0}]}))
    scenario = write_small(tmp_path / "s.yaml")
    _, model = build_run(load(scenario), tmp_path / "run", scenario_path=scenario)
    metrics = OpsMetrics(process=False)
    value = {"v": 5.0}
    metrics.gauge("vpp_x", "a test gauge", (), lambda: [((), value["v"])])
    from vpp.runs.ops.appliers import SwarmApplier

    _, monitor, reloader = attach(model.fleet.host, metrics, alerts=rules, watch=scenario,
                                  running=model.scenario,
                                  applier=SwarmApplier(model, scenario), host_name="agg")
    try:
        assert monitor.evaluate() == []
        rules.write_text(yaml.safe_dump({"rules": [
            {"name": "hot", "metric": "vpp_x", "op": ">", "threshold": 1.0}]}))
        assert monitor.reloader.wait_staged(5.0)
        monitor.before_step(1)                                  # applied from the next step
        (raised,) = monitor.evaluate()
        assert isinstance(raised, AlertRaised) and raised.threshold == 1.0
        rules.write_text("rules: [{name: hot, metric: vpp_x, threshold: high}]\n")
        assert monitor.reloader.wait_staged(5.0)
        monitor.before_step(2)
        assert "`$.rules[0].threshold`" in monitor.reloader.records[-1].error
        assert monitor.engine.rules[0].threshold == 1.0         # the rules stay
        # a changed rule clears what the old one raised
        rules.write_text(yaml.safe_dump({"rules": [
            {"name": "hot", "metric": "vpp_x", "op": ">", "threshold": 50.0}]}))
        assert monitor.reloader.wait_staged(5.0)
        monitor.before_step(3)
        assert isinstance(monitor.history[-1], AlertCleared) and monitor.engine.firing == []
        assert monitor.evaluate() == []
    finally:
        monitor.close()
        reloader.close()
        model.close()
