"""A site in a region process hears ``AdmmDone`` from its region and ``StepCleared`` from
the coordinator, by two paths: a ``StepCleared`` that overtakes the plan is held and run
on the plan once it is in, not at the devices' baselines."""

from __future__ import annotations

import msgspec
import pytest
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.coordination.admm.messages import AdmmDone, AdmmRound
from vpp.coordination.dispatch import Applied, StepCleared
from vpp.runs.placement.site_process import build_sites
from vpp.runs.scenario import BUNDLED, load


def _envelope(sender: str, kind: str, round_: int = 0) -> Envelope:
    return Envelope(WIRE_VERSION, kind, sender, "regions-1/school", "admm/0", round_, 0.0,
                    msgspec.Raw(b""))


@pytest.fixture
def school():
    scenario = load(BUNDLED / "admm-regions.yaml")
    (site,), _ = build_sites(scenario, ["school"], "<t>")
    sent: list = []
    site.send = lambda receiver, body, **kw: sent.append((receiver, body))
    return site, sent


def _negotiate_round_0(site, sent):
    horizon = site.plan.model.horizon
    zero = [0.0] * horizon
    site._on_round(_envelope("regions-1/storage", "AdmmRound"),
                   AdmmRound(0, horizon, 1.0, 0.002, zero, zero, zero, 2000))
    (_, schedule), = sent
    sent.clear()
    return schedule.schedule_kw, zero


def test_a_step_cleared_before_the_plan_is_held_and_run_on_the_plan(school):
    site, sent = school
    schedule, zero = _negotiate_round_0(site, sent)
    cleared = StepCleared(0, 10.0, 10.0, 0.0, 50.0)
    site._on_cleared(_envelope("agg/coordinator", "StepCleared"), cleared)
    assert sent == [] and site.last_cleared_step == -1      # held: no plan yet
    site._on_done(_envelope("regions-1/storage", "AdmmDone"),
                  AdmmDone(0, True, 1, True, schedule, zero))
    (receiver, applied), = sent
    assert receiver == "agg/coordinator" and isinstance(applied, Applied)
    assert applied.step == 0 and site.last_cleared_step == 0
    # run on the plan (at the baselines it would have no planned power): the plan's
    # exact device schedules, which the site settles from its last answer at the end
    # (within the tolerance of the one it sent), and the devices ran to them
    assert applied.planned_kw is not None
    assert applied.planned_kw == site._schedule[0]
    assert applied.planned_kw == pytest.approx(schedule[0], abs=0.05)
    assert applied.power_kw == pytest.approx(applied.planned_kw, abs=1e-6)


def test_a_step_cleared_after_the_plan_runs_at_once(school):
    site, sent = school
    schedule, zero = _negotiate_round_0(site, sent)
    site._on_done(_envelope("regions-1/storage", "AdmmDone"),
                  AdmmDone(0, True, 1, True, schedule, zero))
    site._on_cleared(_envelope("agg/coordinator", "StepCleared"),
                     StepCleared(0, 10.0, 10.0, 0.0, 50.0))
    (_, applied), = sent
    assert applied.planned_kw is not None and applied.planned_kw == site._schedule[0]
    assert applied.power_kw == pytest.approx(applied.planned_kw, abs=1e-6)


def test_without_a_negotiation_open_a_step_cleared_runs_at_the_baselines(school):
    site, sent = school  # never asked to plan: the step runs at once, at the baselines
    site._on_cleared(_envelope("agg/coordinator", "StepCleared"),
                     StepCleared(0, 10.0, 10.0, 0.0, 50.0))
    (_, applied), = sent
    assert applied.step == 0 and applied.planned_kw is None
