"""The grid agent and the site agents over ZeroMQ (inproc), closed with the swing
equation: the nadir rises with the VPP, the initial RoCoF is the swing equation's, a run
without a VPP is the physics model's own, the battery's energy adds up, bad samples are
dropped without harm."""

from __future__ import annotations

import pytest
from vpp.agents.frequency.grid import SwingSource
from vpp.agents.frequency.site import DeferredBookkeeping, FrequencySiteAgent
from vpp.coordination.frequency import presets
from vpp.coordination.frequency.messages import FREQUENCY_TOPIC, FrequencySample
from vpp.coordination.frequency.rule import SiteFrequencyRule
from vpp.physics.battery import Battery, BatteryParams
from vpp.physics.frequency import GridFrequency, GridParams, LossOfInfeed
from vpp.runs.modes.grid_event.rig import FrequencyRig

PARAMS = GridParams(f0_hz=50.0, inertia_h_s=4.0, s_base_mw=1000.0, damping_pu=1.0,
                    droop_pu=0.05, governor_time_constant_s=5.0,
                    events=(LossOfInfeed(1.05, 60.0),))


def Rig(context, params: GridParams, sites: list[FrequencySiteAgent]) -> FrequencyRig:
    """A grid host and a site host on the test's context, driven in simulated time."""
    return FrequencyRig(SwingSource(params), sites, sample_period_s=0.1, context=context)


def battery_site(i: int, kw: float = 2000.0,
                 book: DeferredBookkeeping | None = None) -> FrequencySiteAgent:
    rule = SiteFrequencyRule(f0_hz=50.0, service=presets.service("gb-dc", 50.0),
                             contracted_kw=kw)
    bat = Battery(BatteryParams(capacity_kwh=kw, p_charge_max_kw=kw, p_discharge_max_kw=kw,
                                soc_min=0.1, soc_max=0.9, soc_init=0.5))
    return FrequencySiteAgent(f"bess-{i}", rule, grid="grid/grid",
                              aggregator="grid/aggregator", battery=bat, bookkeeping=book)


def idle_site(i: int) -> FrequencySiteAgent:
    return FrequencySiteAgent(f"idle-{i}", SiteFrequencyRule(f0_hz=50.0), grid="grid/grid",
                              aggregator="grid/aggregator")


def nadir(timeline) -> float:
    return min(r.f_hz for r in timeline)


def test_without_vpp_the_loop_is_the_swing_equation(context):
    rig = Rig(context, PARAMS, [idle_site(i) for i in range(3)])
    try:
        result = rig.run(20.0)
    finally:
        rig.close()
    model = GridFrequency(PARAMS)
    direct = [model.f_hz] + [model.step(0.0, 0.1).f_hz for _ in range(200)]
    assert [r.f_hz for r in result.timeline] == pytest.approx(direct, abs=1e-12)
    assert result.late_samples == 0 and all(r.vpp_kw == 0.0 for r in result.timeline)


def test_vpp_raises_the_nadir_and_the_initial_rocof_is_the_swing_equations(context):
    runs = {}
    for label, sites in (("without", [idle_site(i) for i in range(20)]),
                         ("with", [battery_site(i) for i in range(20)])):
        rig = Rig(context, PARAMS, sites)
        try:
            runs[label] = rig.run(20.0)
            if label == "with":
                batteries = [s.battery for s in rig.sites]
                finals = dict(rig.reports.final)
        finally:
            rig.close()
    without, with_vpp = runs["without"].timeline, runs["with"].timeline
    # the first sample after the loss (at 1.05 s) is 0.05 s in: its RoCoF is the swing
    # equation's -dP f0 / (2 H S), less the load damping of 0.05 s of decline (< 1 %)
    for timeline in (without, with_vpp):
        before = [r for r in timeline if r.t_s < 1.05]
        after = next(r for r in timeline if r.t_s > 1.05)
        assert all(r.rocof_hz_per_s == 0.0 for r in before)
        assert after.rocof_hz_per_s == pytest.approx(-60.0 * 50.0 / (2 * 4.0 * 1000.0), rel=0.01)
        assert after.rocof_hz_per_s == pytest.approx(PARAMS.initial_rocof_hz_per_s(60.0),
                                                     rel=0.01)
        assert (after.f_hz - 50.0) / (after.t_s - 1.05) == pytest.approx(
            PARAMS.initial_rocof_hz_per_s(60.0), rel=0.01)
    # 20 x 2 MW of Dynamic Containment: the nadir rises well above the one without
    assert nadir(with_vpp) > nadir(without) + 0.05
    assert nadir(with_vpp) > nadir(without) + 0.1
    model = GridFrequency(PARAMS)
    assert nadir(without) == pytest.approx(min(model.step(0.0, 0.1).f_hz for _ in range(200)))
    # the batteries injected (right sign), and their energy adds up with eta_d
    peak = max(r.vpp_kw for r in with_vpp)
    assert 15_000.0 < peak <= 40_000.0 and min(r.vpp_kw for r in with_vpp) >= 0.0
    for b in batteries:
        assert b.energy_kwh == pytest.approx(1000.0 - b.energy_discharged_kwh / 0.95)
        assert b.soc < 0.5
    # every site sent a final report, with its injected energy
    assert len(finals) == 20
    total = sum(b.energy_discharged_kwh for b in batteries)
    assert sum(r.response_kwh for r in finals.values()) == pytest.approx(total)


def test_ufls_stages_fire_in_the_closed_loop_and_are_reported(context):
    big = GridParams(f0_hz=50.0, inertia_h_s=3.0, s_base_mw=1000.0, damping_pu=1.0,
                     droop_pu=0.05, governor_time_constant_s=8.0,
                     events=(LossOfInfeed(0.5, 150.0),))
    sites = [FrequencySiteAgent(f"load-{i}", SiteFrequencyRule(
        f0_hz=50.0, shedding=presets.shedding("de-ufls", 50.0), sheddable_kw=8000.0),
        grid="grid/grid", aggregator="grid/aggregator") for i in range(5)]
    rig = Rig(context, big, sites)
    try:
        result = rig.run(15.0)
        reports = rig.reports.reports
    finally:
        rig.close()
    first_trip = next(r for r in result.timeline if r.shed_kw > 0)
    # stage 1 (49.0 Hz) fires 0.1 s (one sample) after the first sample at or below 49.0
    below = next(r for r in result.timeline if r.f_hz <= 49.0)
    assert first_trip.t_s == pytest.approx(below.t_s + 0.1)
    assert first_trip.shed_kw == pytest.approx(5 * 0.125 * 8000.0)
    assert nadir(result.timeline) > 48.4                        # shedding arrested it
    changes = [c for rs in reports.values() for r in rs if not r.final for c in r.changes]
    assert {(c.kind, c.action) for c in changes} >= {("ufls", "trip")}
    assert all(c.f_hz <= 49.0 for c in changes if c.stage == 1 and c.action == "trip")


def test_bad_samples_are_dropped_and_the_site_keeps_serving(context):
    site = battery_site(0)
    rig = Rig(context, PARAMS, [site])
    try:
        rig.run(0.3)
        before = site.seq
        for bad in (FrequencySample(99, 1.0, float("nan"), 0.0),
                    FrequencySample(100, 1.0, 5.0, 0.0),
                    FrequencySample(0, 1.0, 49.9, 0.0)):
            rig.grid.publish(FREQUENCY_TOPIC, bad)
        rig.loop.run_for(0.05)
        assert site.seq == before
        assert rig.site_host.stats.dropped["rejected"] == 3
        rig.grid.publish_sample()
        assert rig.loop.run_until(rig.grid.all_answered, 2.0)
    finally:
        rig.close()


def test_deferred_bookkeeping_books_the_same_energy(context):
    """Booking after the pass (the fast path), at once or 2 ms later (as site processes
    do), integrates the same energy as booking before each decision; the limits lag one
    sample, which does not bind here."""
    out = {}
    for label, book in (("inline", None), ("deferred", DeferredBookkeeping()),
                        ("delayed", DeferredBookkeeping(0.002))):
        rig = Rig(context, PARAMS, [battery_site(i, book=book) for i in range(4)])
        try:
            result = rig.run(10.0)
            out[label] = (result.timeline, [s.battery.energy_kwh for s in rig.sites],
                          [r.response_kwh for r in rig.reports.final.values()])
        finally:
            rig.close()
    (t1, e1, r1) = out["inline"]
    for label in ("deferred", "delayed"):
        t2, e2, r2 = out[label]
        assert [r.f_hz for r in t1] == pytest.approx([r.f_hz for r in t2], abs=1e-12)
        assert e1 == pytest.approx(e2) and r1 == pytest.approx(r2)
        assert all(e < 1000.0 for e in e2)
    with pytest.raises(ValueError, match="delay_s"):
        DeferredBookkeeping(-1.0)


def test_wall_clock_mode_publishes_at_its_rate_and_closes_the_loop(context):
    from vpp.agents.runtime.clock import WallClock

    sites = [battery_site(i) for i in range(3)]
    rig = FrequencyRig(SwingSource(PARAMS), sites, sample_period_s=0.05, context=context,
                       clock=WallClock())
    try:
        rig.grid.start_wall()
        rig.loop.run_for(1.0)
        rig.grid.stop_wall()
        rig.loop.run_for(0.1)
    finally:
        rig.close()
    grid = rig.grid
    # about 20 samples in 1 s at 50 ms (timers on a shared machine run late, never early)
    assert 10 <= grid.seq <= 21
    assert len(grid.timeline) == grid.seq
    assert all(s.seq == grid.seq for s in sites)
    # the model's time advances by the period per sample, and the loss at 1.05 s of model
    # time has not happened before sample 21
    assert grid.timeline[-1].t_s == pytest.approx(0.05 * (grid.seq - 1))


def test_the_grid_rejects_answers_from_strangers_and_stale_or_bad_answers(context):
    from vpp.agents.runtime.agent import Agent
    from vpp.coordination.frequency.messages import FrequencyResponse

    site = battery_site(0)
    rig = Rig(context, PARAMS, [site])
    stranger = Agent("stranger")
    rig.site_host.add(stranger)
    try:
        rig.run(0.2)
        before = rig.grid.vpp_kw()
        stranger.send("grid/grid", FrequencyResponse(rig.grid.seq, 0.2, 5e6, 5e6, 0.0, 0.0))
        site.send("grid/grid", FrequencyResponse(0, 0.0, 5e6, 5e6, 0.0, 0.0))          # stale
        site.send("grid/grid", FrequencyResponse(rig.grid.seq + 5, 0.0, 1.0, 1.0, 0.0, 0.0))
        rig.loop.run_for(0.05)
        assert rig.grid_host.stats.dropped["rejected"] == 3
        assert rig.grid.vpp_kw() == before
    finally:
        rig.close()


def test_two_samples_in_one_pass_are_both_booked_and_metered(context):
    book = DeferredBookkeeping()
    site = battery_site(0, book=book)
    rig = Rig(context, PARAMS, [site])
    try:
        rig.run(1.5)                                   # past the loss: the battery injects
        grid = rig.grid
        before = site.battery.energy_kwh
        grid.advance()
        first = grid.publish_sample()
        grid.advance()
        second = grid.publish_sample()
        rig.loop.run_for(0.1)
        assert rig.grid_host.stats.dropped_total == 0 == rig.site_host.stats.dropped_total
        assert grid.meters["sites/bess-0"].seq == second.seq == first.seq + 1
        # the interval between the two samples was run at the first one's set-point
        assert site._held_t == second.t_s
        assert site.battery.energy_kwh < before
    finally:
        rig.close()
