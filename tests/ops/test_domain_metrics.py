"""Frequency and trading metrics: the scraped values are the run's own, and alert rules
over them fire (a frequency excursion, a risk limit hit)."""

from __future__ import annotations

from collections import Counter

import pytest
from vpp.agents.frequency.grid import ReplaySource, publish_until_answered
from vpp.agents.ops.alerts import AlertEngine, AlertRule
from vpp.markets.trading.backtest import run_backtest
from vpp.markets.trading.engine import create_trading_engine
from vpp.markets.trading.market_data import simulated_market_data
from vpp.markets.trading.risk import RiskLimits
from vpp.runs.modes.grid_event.event import build_sites
from vpp.runs.modes.grid_event.rig import FrequencyRig
from vpp.runs.ops.domain_metrics import frequency_metrics, trading_metrics
from vpp.runs.scenario import parse

from tests.ops.test_reload_droop import GRID_SCENARIO


def test_frequency_metrics_follow_the_event_and_an_excursion_alerts():
    scenario = parse(GRID_SCENARIO)
    sites = build_sites(scenario)
    # 49.8 Hz for 3 s, then back to 50 Hz
    rig = FrequencyRig(ReplaySource([0.0, 2.999, 3.0, 100.0], [49.8, 49.8, 50.0, 50.0], 50.0),
                       sites, sample_period_s=1.0)
    metrics = frequency_metrics(sites, rig.grid)
    engine = AlertEngine([AlertRule(name="excursion", metric="vpp_frequency_hz", op="<",
                                    threshold=49.9, hold_s=1.5)])
    seen = []
    try:
        for k in range(5):
            rig.clock.advance_to(rig.grid.source.t_s)
            assert publish_until_answered(rig.loop, rig.grid, 5.0)
            table = metrics.sample_table()
            seen.append(table)
            seen.extend(engine.evaluate(lambda n, t=table: t.get(n, ()), rig.grid.source.t_s))
            rig.grid.advance()
    finally:
        rig.close()
    tables = [t for t in seen if isinstance(t, dict)]
    assert [t["vpp_frequency_hz"][0][1] for t in tables] == [49.8, 49.8, 49.8, 50.0, 50.0]
    first = {lab["site"]: v for lab, v in tables[0]["vpp_frequency_response_kw"]}
    assert first == {"bess-1": pytest.approx(400.0), "bess-2": pytest.approx(400.0)}
    last = {lab["site"]: v for lab, v in tables[-1]["vpp_frequency_response_kw"]}
    assert last == {"bess-1": 0.0, "bess-2": 0.0}
    # the batteries discharged 400 kW for 3 s: their state of charge went down
    socs = [v for _, v in tables[-1]["vpp_site_state_of_charge"]]
    assert all(s < 0.5 for s in socs)
    assert tables[-1]["vpp_frequency_samples_total"][0][1] == 5
    alerts = [type(a).__name__ for a in seen if not isinstance(a, dict)]
    assert alerts == ["AlertRaised", "AlertCleared"]       # raised at t = 2 s, cleared at 3


def test_trading_metrics_are_the_engines_figures_and_risk_hits_alert():
    data = simulated_market_data(6, seed=2)
    tight = create_trading_engine("arbitrage", hours=data.hours,
                                  limits=RiskLimits(position_limit_mw=2.0))
    free = create_trading_engine("arbitrage", hours=data.hours)
    run_backtest(data, [tight, free])
    metrics = trading_metrics({"tight": tight, "free": free})
    table = metrics.sample_table()
    by = lambda name: {lab["trader"]: v for lab, v in table[name]}
    assert by("vpp_trader_cash_eur") == {"tight": tight.portfolio.cash_eur,
                                         "free": free.portfolio.cash_eur}
    assert by("vpp_trader_equity_eur")["free"] == free.risk.equity_eur
    assert by("vpp_trader_pnl_eur")["free"] == pytest.approx(
        free.risk.equity_eur - free.portfolio.initial_equity_eur)
    assert 0.0 <= by("vpp_trader_state_of_charge")["tight"] <= 1.0
    refused = Counter(r.limit for r in tight.rejections)
    assert refused, "the 2 MW position limit refused some orders"
    scraped = {(lab["trader"], lab["limit"]): v
               for lab, v in table["vpp_trader_risk_rejections_total"]}
    assert {k[1]: v for k, v in scraped.items() if k[0] == "tight"} == dict(refused)
    engine = AlertEngine([AlertRule(name="risk-limit-hit", op=">", threshold=0.0,
                                    metric="vpp_trader_risk_rejections_total",
                                    labels={"trader": "tight"})])
    raised = engine.evaluate(lambda n: table.get(n, ()), 0.0)
    assert {a.subject for a in raised} == {f"limit={k},trader=tight" for k in refused}
