"""What the explorer's pages show, checked against the run's own results and the CLI."""

from __future__ import annotations

import json

import pytest
from vpp.agents.runtime.messages import WIRE_VERSION, Envelope
from vpp.agents.runtime.trace import TraceRecorder, shard_path
from vpp.agents.runtime.trace_reader import TraceReader
from vpp.runs.explorer import sequence, studies, views
from vpp.runs.explorer.record import RunRecord

from tests.explorer.conftest import cli_json


def test_a_steps_messages_are_the_clis_in_the_same_order(default_run):
    record = RunRecord(default_run)
    reader = TraceReader(default_run)
    try:
        for step in (0, 34, 82, 95):
            expected = [m.as_dict() for m in reader.messages(step=step)]
            got = [m.as_dict() for m in record.step_messages(step)]
            assert got == expected and len(got) > 50
    finally:
        reader.close()
    counts = record.step_numbers()
    assert sorted(counts) == list(range(96))
    assert sum(counts.values()) == sum(1 for _ in cli_json("trace", "messages", str(default_run)))


def test_overview_balances_and_finds_every_unserved_step(default_run):
    summary = json.loads((default_run / "summary.json").read_text())
    o = views.overview(RunRecord(default_run))
    assert len(o["sites"]) == summary["sites"] == 14 and o["others"] is None
    # each step's site powers add up to what was served
    for i, served in enumerate(o["served_kw"]):
        assert sum(s["power_kw"][i] for s in o["sites"]) == pytest.approx(served, abs=1e-6)
    assert len(o["unserved_steps"]) == summary["steps_with_unserved"] == 8
    assert all(o["unserved_kw"][o["steps"].index(k)] > 0 for k in o["unserved_steps"])
    for key in ("target_kwh", "served_kwh", "unserved_kwh", "cost_eur"):
        assert o["totals"][key] == pytest.approx(summary[key], rel=1e-9)
    # clock time: step 34 of a 15-minute day from midnight is 08:30
    assert o["times"][34] == "2019-01-16 08:30:00"


def test_a_sequence_pairs_every_send_with_its_receive(default_run):
    rows = RunRecord(default_run).step_messages(82)
    seq = sequence.negotiation(82, rows)
    c = seq["counts"]
    assert c["events"] == len(rows) == c["send"] + c["recv"] + c["drop"]
    # one process: every message was received, so one arrow per receive
    assert c["arrows"] == c["recv"] and c["drop"] == 0
    assert not any(a[7] & (sequence.NO_RECEIVE | sequence.NO_SEND) for a in seq["arrows"])
    declines = [a for a in seq["arrows"] if a[7] & sequence.DECLINE]
    assert len(declines) == 1 and seq["lanes"][declines[0][4]] == "sites/chp-south"
    # chp-south declined: round 2 re-awards to four sites down the merit order
    reawards = [seq["lanes"][a[5]] for a in seq["arrows"] if a[7] & sequence.REAWARD]
    assert sorted(reawards) == ["sites/chp-north", "sites/cold-store", "sites/diesel-backup",
                                "sites/heat-pumps"]
    # a broadcast's one send fans out to each of the 14 sites
    cleared = [a for a in seq["arrows"] if a[7] & sequence.BROADCAST]
    assert len(cleared) == 14 and len({a[1] for a in cleared}) == 1
    assert seq["lanes"][0] == "agg/aggregator"


def _envelope(kind, sender, receiver, rnd, body, conversation="merit-order/3"):
    return Envelope(version=WIRE_VERSION, kind=kind, sender=sender, receiver=receiver,
                    conversation=conversation,
                    round=rnd, sim_time=2700.0, body=body)


def test_drops_lost_messages_and_missing_sends_are_marked(tmp_path):
    rec = TraceRecorder(shard_path(tmp_path, "agg"), "agg")
    rec.set_meta(scenario="synthetic", steps=4, step_minutes=15)
    bid = _envelope("Bid", "sites/a", "agg/aggregator", 0, {"step": 3})
    rec.message("send", _envelope("Award", "agg/aggregator", "sites/b", 1, {"step": 3}), 50)
    rec.message("recv", bid, 40)  # its send is on a shard we do not have
    rec.dropped(12, "malformed: not msgpack")
    rec.dropped(30, "oversized", _envelope("Bid", "sites/c", "agg/aggregator", 0, None))
    rec.message("send", _envelope("StepCleared", "agg/aggregator", "*dispatch", 1, {}), 20)
    rec.close()
    rows = RunRecord(tmp_path).step_messages(3)
    # the undecodable drop has no conversation: it belongs to no step
    assert len(rows) == 4
    seq = sequence.negotiation(3, rows)
    flags = sorted(a[7] for a in seq["arrows"])
    assert flags == sorted([sequence.NO_RECEIVE, sequence.NO_SEND, sequence.DROP,
                            sequence.NO_RECEIVE | sequence.BROADCAST])
    drop = next(a for a in seq["arrows"] if a[7] == sequence.DROP)
    assert seq["bodies"][drop[2]] == "oversized"
    assert seq["lanes"][drop[4]] == "sites/c"


def test_admm_page_ends_within_tolerance_and_schedules_add_up(admm_run):
    summary = json.loads((admm_run / "summary.json").read_text())
    a = studies.admm(RunRecord(admm_run))
    n = a["negotiations"][0]
    assert len(n["round"]) == summary["negotiations"][0]["iterations"]
    assert n["primal_residual"][-1] == pytest.approx(summary["negotiations"][0]["primal_residual"])
    assert n["primal_residual"][-1] <= n["eps_pri"][-1]
    assert n["dual_residual"][-1] <= n["eps_dual"][-1]
    s = a["schedules"]
    assert len(s["sites"]) == summary["sites"] and len(s["times"]) == summary["steps"]
    # the consensus reaches the target (coupling "target") within the run's stated gap
    for consensus, target in zip(s["consensus_kw"], s["target_kw"]):
        assert consensus == pytest.approx(target, abs=summary["max_target_gap_kw"] + 1e-3)


def test_a_steps_messages_of_some_kinds_are_those_of_all_its_messages(admm_run):
    record = RunRecord(admm_run)
    every = record.step_messages(0)
    assert {m.kind for m in every} >= {"AdmmRound", "AdmmDone", "AdmmSchedule"}
    for kinds in (("AdmmDone",), ("AdmmRound", "AdmmSchedule"), ("NoSuchKind",)):
        assert record.step_messages(0, kinds=kinds) == [m for m in every if m.kind in kinds]
    first = record.first_message(0, "AdmmRound")
    assert first == next(m for m in every if m.kind == "AdmmRound")
    assert isinstance(first.body, dict) and first.body["round"] == 0
    assert record.first_message(0, "NoSuchKind") is None
    assert record.step_messages(10**6) == [] and record.first_message(10**6, "AdmmRound") is None


def test_a_large_steps_page_draws_its_oldest_events_and_counts_the_rest(default_run,
                                                                        monkeypatch):
    from vpp.runs.explorer import app

    record = RunRecord(default_run)
    every = record.step_messages(5)
    assert record.step_messages(5, limit=50) == every[:50]
    assert record.step_messages(5, kinds=("Bid",), limit=3) == [
        m for m in every if m.kind == "Bid"][:3]
    monkeypatch.setattr(app, "STEP_EVENTS_SHOWN", 50)
    page = app.view_data(record, "step", "5")
    assert page["counts"]["events"] == 50 and page["events_in_step"] == len(every) > 50
    assert page["events"] == sequence.negotiation(5, every[:50])["events"]
    monkeypatch.setattr(app, "STEP_EVENTS_SHOWN", 10**6)
    whole = app.view_data(record, "step", "5")
    assert whole["counts"]["events"] == whole["events_in_step"] == len(every)


def test_the_overview_reads_each_sites_dispatch_and_bins_a_long_heat_map(wide_run,
                                                                          monkeypatch):
    record = RunRecord(wide_run)
    ks = [s["step"] for s in record.steps()]
    power: dict[str, list[float]] = {}
    with record.reader() as reader:                 # the reference: one dict a row
        rows = reader.dispatch()
    for d in rows:
        power.setdefault(d["site"], [0.0] * len(ks))[ks.index(d["step"])] = d["power_kw"]
    o = views.overview(record)
    assert len(power) == 25 and len(o["sites"]) == views.MAX_SITE_SERIES - 1
    for s in o["sites"]:
        assert s["power_kw"] == power[s["address"]]
    ranked = sorted(power, key=lambda s: (-sum(abs(p) for p in power[s]), s))
    assert [s["address"] for s in o["sites"]] == ranked[:19]
    assert o["others"]["count"] == 6
    assert o["others"]["power_kw"] == [sum(power[s][i] for s in ranked[19:])
                                       for i in range(len(ks))]
    assert o["heatmap"]["z"] == [power[s] for s in ranked]        # by step: unchanged
    assert "bin_steps" not in o["heatmap"]

    monkeypatch.setattr(views, "HEATMAP_COLUMNS", 7)                # 30 steps: runs of 5
    binned = views.overview(record)["heatmap"]
    assert binned["bin_steps"] == 5 and binned["steps"] == [0, 5, 10, 15, 20, 25]
    assert binned["times"] == record.step_times(binned["steps"], record.meta())
    assert binned["sites"] == o["heatmap"]["sites"]
    for row, s in zip(binned["z"], ranked):
        assert row == pytest.approx([sum(power[s][i:i + 5]) / 5 for i in range(0, 30, 5)])
    monkeypatch.setattr(views, "HEATMAP_COLUMNS", 8)                # runs of 4, the last of 2
    last = views.overview(record)["heatmap"]
    assert last["steps"][-1] == 28 and len(last["z"][0]) == 8
    assert last["z"][0][-1] == pytest.approx(sum(power[ranked[0]][28:30]) / 2)


def test_grid_event_shows_each_shedding_stage_once(grid_run):
    summary = json.loads((grid_run / "summary.json").read_text())
    g = studies.grid(RunRecord(grid_run))
    trips = [s for s in g["stages"] if s["action"] == "trip"]
    expected = [s for s in summary["replay"]["stages"] if s["action"] == "trip"]
    assert [(s["kind"], s["stage"]) for s in trips] == [(s["kind"], s["stage"]) for s in expected]
    for got, want in zip(trips, expected):
        assert got["t_s"] == pytest.approx(want["first_t_s"])
        assert len(got["sites"]) == want["count"]
    run = g["runs"]["replay"]
    assert min(run["f_hz"]) == pytest.approx(summary["replay"]["nadir_hz"])
    assert g["clock_start"] == "2025-04-28T12:30:00"


def test_day_ahead_curves_cross_at_the_clearing_point(market_run):
    m = studies.market(RunRecord(market_run))
    assert m["ancillary"]["awarded_mw"] == pytest.approx(0.1)
    hours = m["day_ahead"]["hours"]
    assert len(hours) == 24
    for h in hours:
        price, volume = h["clearing_price_eur_mwh"], h["volume_mwh"]
        supply = list(zip(h["supply"]["q_mw"][1::2], h["supply"]["price_eur_mwh"][1::2]))
        demand = list(zip(h["demand"]["q_mw"][1::2], h["demand"]["price_eur_mwh"][1::2]))
        # what sells at or below the price covers the volume; so does what buys at or above
        assert max(q for q, p in supply if p <= price + 1e-9) >= volume - 1e-6
        assert max(q for q, p in demand if p >= price - 1e-9) >= volume - 1e-6
        # and nothing more is both offered below and wanted above the clearing price
        below = max((q for q, p in supply if p < price - 1e-9), default=0.0)
        above = max((q for q, p in demand if p > price + 1e-9), default=0.0)
        assert min(below, above) <= volume + 1e-6


def test_backtest_drawdown_matches_the_summary(backtest_run):
    summary = json.loads((backtest_run / "summary.json").read_text())
    b = studies.market(RunRecord(backtest_run))["backtest"]
    for t in summary["traders"]:
        series = b["traders"][t["trader"]]
        equity = series["equity_eur"]
        assert len(equity) == len(b["times"]) == 48 + 1
        # drawdown: how far below its best so far the equity stands, hour by hour
        for i in (0, 10, 30, len(equity) - 1):
            assert series["drawdown_eur"][i] == pytest.approx(equity[i] - max(equity[:i + 1]))
        # the summary's is of the equity at each day's end: the hourly one is as deep or more
        assert -min(series["drawdown_eur"]) >= t["max_drawdown_eur"] - 0.01
    intraday = [x for x in b["trades"] if x["market"] == "intraday"]
    assert intraday and all(x["side"] in ("buy", "sell") for x in intraday)


def test_compare_lists_the_differences(default_run, market_run):
    c = views.compare(RunRecord(default_run), RunRecord(market_run))
    rows = {k: (a, b, d) for k, a, b, d in c["differences"]}
    a, b, d = rows["sites"]
    assert (a, b, d) == (14, 8, -6)
    assert set(c["series"]) == {"a", "b"}


def test_modes_and_pages_of_each_kind_of_run(default_run, admm_run, grid_run, voltage_run,
                                             backtest_run, market_run):
    cards = {p.name: views.card(RunRecord(p)) for p in (
        default_run, admm_run, grid_run, voltage_run, backtest_run, market_run)}
    assert {k: (c["mode"], c["pages"]) for k, c in cards.items()} == {
        "default": ("merit-order", ["overview", "negotiation"]),
        "admm": ("admm", ["overview", "negotiation", "admm"]),
        "iberian": ("grid-event", ["grid"]),
        "volt-var": ("volt-var", ["voltage"]),
        "backtest": ("backtest", ["market"]),
        "market": ("merit-order", ["overview", "negotiation", "market"]),
    }
