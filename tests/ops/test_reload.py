"""Hot reload: a running swarm takes a valid edit from the next step, rejects an invalid
one with the field named and goes on unchanged, and reports what needs a restart."""

from __future__ import annotations

import copy
import time

import pytest
import yaml
from vpp.agents.ops.agent import OpsAgent
from vpp.agents.ops.messages import FieldChange
from vpp.agents.ops.reload import classify, diff, generic_path, indices
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.ops.appliers import SwarmApplier
from vpp.runs.ops.reload import ScenarioReloader
from vpp.runs.runner import build_run
from vpp.runs.scenario import load

from tests.ops.helpers import SMALL, StepByStep, save, write_small


def test_diff_names_each_changed_leaf_and_classify_splits_them():
    old = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "s": [{"p": 1.0}, {"p": 2.0}]}
    new = copy.deepcopy(old)
    new["b"]["c"][1] = 3
    new["s"][1]["p"] = 2.5
    new["e"] = True
    changes = diff(old, new)
    assert changes == [FieldChange("$.b.c[1]", 2, 3), FieldChange("$.s[1].p", 2.0, 2.5),
                       FieldChange("$.e", None, True)]
    assert diff(old, copy.deepcopy(old)) == []
    # a list that changes length changes as a whole; 1 and 1.0 differ in type
    assert diff({"l": [1]}, {"l": [1, 2]}) == [FieldChange("$.l", [1], [1, 2])]
    assert generic_path("$.s[1].d[12].p") == "$.s[].d[].p" and indices("$.s[1].d[12]") == [1, 12]
    plan = classify(changes, ["$.s[].p", "$.b.c"])
    assert [c.path for c in plan.live] == ["$.b.c[1]", "$.s[1].p"]
    assert [c.path for c in plan.restart] == ["$.e"]


@pytest.fixture
def swarm(tmp_path):
    path = write_small(tmp_path / "s.yaml")
    _, model = build_run(load(path), tmp_path / "run", scenario_path=path)
    ops = model.fleet.host.add(OpsAgent())
    reloader = ScenarioReloader(path, model.scenario, SwarmApplier(model, path), ops=ops,
                                debounce_ms=20)
    live = StepByStep(model, hooks=[reloader])
    yield path, model, reloader, live, ops
    live.close()


def _edit(path, fn):
    data = yaml.safe_load(path.read_text())
    fn(data)
    save(path, yaml.safe_dump(data, sort_keys=False))  # as an editor saves


def test_a_valid_edit_applies_from_the_next_step(swarm):
    path, model, reloader, live, _ = swarm
    live.step()
    live.step()
    assert model.aggregator.outcomes[1].target_kw == 300.0

    def edit(d):
        d["target"]["values_kw"] = [300.0, 300.0] + [450.0] * 6    # a target
        d["negotiation"]["max_rounds"] = 4
        d["sites"][0]["devices"][0]["p_max_kw"] = 200.0           # a flexible unit's limit
        d["sites"][1]["devices"][0]["capacity_kwh"] = 900.0       # needs a restart
        d["seed"] = 5                                              # needs a restart

    _edit(path, edit)
    assert reloader.wait_staged(5.0)
    assert model.aggregator.outcomes[-1].target_kw == 300.0   # nothing applied before a step
    live.step()
    out = model.aggregator.outcomes[2]
    assert out.target_kw == 450.0
    assert model.aggregator.max_rounds == 4
    # the CHP now offers at most 200 kW: the battery (250 kW) serves the rest or it is unserved
    assert out.site_power_kw.get("chp", 0.0) <= 200.0 + 1e-9
    assert out.served_kw + out.unserved_kw == pytest.approx(450.0)
    rec = reloader.records[-1]
    assert rec.step == 2 and rec.error is None
    assert {c.path for c in rec.applied} == {
        *(f"$.target.values_kw[{i}]" for i in range(2, 8)), "$.negotiation.max_rounds",
        "$.sites[0].devices[0].p_max_kw"}
    assert {c.path for c in rec.restart} == {"$.sites[1].devices[0].capacity_kwh", "$.seed"}
    assert set(reloader.needs_restart) == {"$.sites[1].devices[0].capacity_kwh", "$.seed"}
    assert rec.reload_ms < 100.0
    # the battery's capacity did not change (it needs a restart)
    assert model.sites[1].devices[0].model.capacity_kwh == 500.0
    # the reload is on the bus, hence in the trace
    model.fleet.trace.sync()
    reader = TraceReader(path.parent / "run")
    sent = reader.messages(kind="ConfigReloaded", direction="send")
    reader.close()
    assert len(sent) == 1
    assert sent[0].body["from_step"] == 2 and sent[0].body["version"] == 1
    assert {c[0] for c in sent[0].body["restart"]} == {"$.sites[1].devices[0].capacity_kwh",
                                                       "$.seed"}


def test_an_invalid_edit_is_rejected_with_the_field_named_and_the_run_goes_on(swarm):
    path, model, reloader, live, ops = swarm
    live.step()
    _edit(path, lambda d: (d["target"].__setitem__("values_kw", [999.0] * 8),
                           d["sites"][0]["devices"][0].__setitem__("p_max_kw", "lots")))
    assert reloader.wait_staged(5.0)
    live.step()
    assert model.aggregator.outcomes[1].target_kw == 300.0    # unchanged
    rec = reloader.records[-1]
    assert rec.error is not None and "`$.sites[0].devices[0].p_max_kw`" in rec.error
    assert str(path) in rec.error
    assert reloader.running is model.scenario
    # a later valid edit is taken, compared against what runs (not the invalid file)
    write_small(path, negotiation={"deadline_ms": 800, "max_rounds": 3})
    assert reloader.wait_staged(5.0)
    live.step()
    assert model.aggregator.deadline_ms == 800
    assert [c.path for c in reloader.records[-1].applied] == ["$.negotiation.deadline_ms"]
    assert model.aggregator.outcomes[2].target_kw == 300.0
    kinds = [type(b).__name__ for b in ops.announced]
    assert kinds == ["ReloadRejected", "ConfigReloaded"]


def test_a_strategy_parameter_changes_the_bids_live(swarm):
    path, model, reloader, live, _ = swarm
    live.step()
    price0 = model.aggregator.outcomes[0].marginal_price_eur_mwh
    _edit(path, lambda d: d["sites"][0].__setitem__(
        "strategy", {"use": "markup", "params": {"markup_eur_mwh": 50.0}}))
    assert reloader.wait_staged(5.0)
    live.step()
    assert reloader.records[-1].applied[0].path.startswith("$.sites[0].strategy")
    assert type(model.sites[0].strategy).__name__ == "MarkupBidder"
    assert model.aggregator.outcomes[1].marginal_price_eur_mwh == pytest.approx(price0 + 50.0)


def test_small_scenario_is_unchanged_by_the_tests():
    assert SMALL["target"]["values_kw"] == [300.0] * 8


def test_an_edit_that_cannot_be_applied_is_rejected_before_anything_changes(swarm):
    path, model, reloader, live, _ = swarm
    live.step()

    def edit(d):
        d["negotiation"]["max_rounds"] = 4
        d["sites"][0]["strategy"] = {"use": "no.such.module:Bidder"}

    _edit(path, edit)
    assert reloader.wait_staged(5.0)
    live.step()
    rec = reloader.records[-1]
    assert rec.error is not None and "`$.sites[0].strategy`" in rec.error
    assert model.aggregator.max_rounds == 3               # nothing of the edit applied
    assert type(model.sites[0].strategy).__name__ == "MarginalCostBidder"


def test_a_target_profile_that_cannot_be_read_is_rejected_off_the_run(swarm):
    path, model, reloader, live, _ = swarm
    live.step()
    _edit(path, lambda d: d.__setitem__("target", {"profile": {
        "csv": "missing.csv", "column": "x", "low_kw": 0.0, "high_kw": 1.0}}))
    assert reloader.wait_staged(5.0)
    live.step()
    rec = reloader.records[-1]
    assert rec.error is not None and "target.profile.csv" in rec.error and "missing.csv" in rec.error
    assert model.aggregator.outcomes[-1].target_kw == 300.0


def test_an_aggregator_takes_targets_live_and_sites_join_with_the_edited_file(tmp_path):
    from vpp.runs.ops.wiring import AggregatorApplier
    from vpp.runs.placement.remote import scenario_digest

    from tests.proc_helpers import listening_placement

    path = write_small(tmp_path / "s.yaml")
    _, agg = build_run(load(path), tmp_path / "run", scenario_path=path,
                       placement=listening_placement("tcp://127.0.0.1:*"))
    reloader = ScenarioReloader(path, agg.scenario, AggregatorApplier(agg, path),
                                debounce_ms=20)
    try:
        write_small(path, target={"values_kw": [500.0] * 8}, seed=3,
                    negotiation={"deadline_ms": 700, "max_rounds": 3})
        assert reloader.wait_staged(5.0)
        reloader.before_step(0)
        assert agg.targets == [500.0] * 8 and agg.aggregator.deadline_ms == 700
        assert [c.path for c in reloader.records[-1].restart] == ["$.seed"]
        assert agg.fleet.coordinator.scenario_digest == scenario_digest(load(path))
    finally:
        reloader.close()
        agg.close()


def test_a_save_whose_last_write_brings_no_event_is_still_taken(tmp_path, monkeypatch):
    # an editor that truncates, then writes: the watcher may see only the empty file (one
    # batch of events) and nothing after it; the rejected file is read again on each
    # timeout until it changes, so the finished save is staged and applied
    import watchfiles

    path = write_small(tmp_path / "s.yaml")
    good = yaml.safe_load(path.read_text())
    good["target"]["values_kw"] = [300.0, 300.0] + [450.0] * 6
    _, model = build_run(load(path), tmp_path / "run", scenario_path=path)
    path.write_text("")  # the first half of the save

    def watch(*_args, stop_event, **_kw):
        yield set()  # the watch is set up: the empty file is checked (and rejected)
        path.write_text(yaml.safe_dump(good, sort_keys=False))  # no event for this write
        while not stop_event.is_set():
            yield set()  # timeouts only

    monkeypatch.setattr(watchfiles, "watch", watch)
    reloader = ScenarioReloader(path, model.scenario, SwarmApplier(model, path),
                                debounce_ms=20)
    live = StepByStep(model, hooks=[reloader])
    try:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and reloader._staged is None:
            time.sleep(0.01)
        assert reloader._rejected and "Expected a mapping" in reloader._rejected[0]
        live.step()
        assert model.aggregator.outcomes[0].target_kw == 300.0
        live.step()
        live.step()
        assert model.aggregator.outcomes[2].target_kw == 450.0
        assert reloader.records[-1].error is None
    finally:
        reloader.close()
        live.close()


def test_a_file_caught_in_the_middle_of_a_save_is_read_again_not_rejected(tmp_path):
    # ``write_text`` truncates, then writes: a watcher may read the empty file between the
    # two; the empty bytes fail, the file is read again once the save has had time to end,
    # and only the finished save counts (no rejection logged, announced or recorded)
    from vpp.runs.ops.reload import load_fast

    path = write_small(tmp_path / "s.yaml")
    good = yaml.safe_load(path.read_text())
    good["target"]["values_kw"] = [300.0, 300.0] + [450.0] * 6
    _, model = build_run(load(path), tmp_path / "run", scenario_path=path)
    path.write_text("")  # the first half of the save
    seen = []

    def loader(p, content):
        seen.append(content)
        if len(seen) == 1:  # the second half lands while the first read is validated
            path.write_text(yaml.safe_dump(good, sort_keys=False))
        return load_fast(p, content)

    reloader = ScenarioReloader(path, model.scenario, SwarmApplier(model, path),
                                watch=False, loader=loader)
    live = StepByStep(model, hooks=[reloader])
    try:
        assert reloader.check() is True
        assert seen[0] == b"" and seen[1] == path.read_bytes() and len(seen) == 2
        assert not reloader._rejected
        assert reloader.check() is None  # the finished save's bytes, already taken
        live.step()
        live.step()
        live.step()
        assert [o.target_kw for o in model.aggregator.outcomes] == [300.0, 300.0, 450.0]
        assert [r.error for r in reloader.records] == [None]
        # bytes that stay invalid are rejected once they have stayed the same
        path.write_text("target: [")
        assert reloader.check() is False and len(seen) == 3
        assert "s.yaml" in reloader._rejected[0]
    finally:
        reloader.close()
        live.close()
