"""Metrics of frequency response and of trading, read at scrape time.

- :func:`frequency_metrics`: the grid's frequency and RoCoF, each site's response, load
  shed and curtailment (kW), its stage events and its store's state of charge; alert on
  a frequency excursion with ``vpp_frequency_hz < 49.8`` held for a few seconds.
- :func:`trading_metrics`: per trader (a :class:`~markets.trading.engine.TradingEngine`)
  equity, P&L against the first mark, cash, open exposure, the battery's state of
  charge, and orders refused by each risk limit (``vpp_trader_risk_rejections_total``:
  alert on ``rate: true`` to hear of a risk limit hit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from vpp.agents.ops.metrics import OpsMetrics, Reading


def frequency_metrics(sites: Sequence, grid=None, metrics: OpsMetrics | None = None
                      ) -> OpsMetrics:
    """Register frequency-responsive sites (and the grid agent, when given)."""
    metrics = metrics or OpsMetrics()
    if grid is not None:
        metrics.gauge("vpp_frequency_hz", "The grid's last published frequency (Hz).", (),
                      lambda: [((), grid.source.f_hz)])
        metrics.gauge("vpp_frequency_rocof_hz_per_s", "The grid's rate of change of "
                      "frequency (Hz/s).", (), lambda: [((), grid.source.rocof_hz_per_s)])
        metrics.counter("vpp_frequency_samples", "Frequency samples published.", (),
                        lambda: [((), grid.seq + 1)])

    def per_site(attr: str) -> Reading:
        return [((s.name,), getattr(s.rule, attr)) for s in list(sites)]

    for attr, help in (("response_kw", "A site's service response (kW, + = injection)."),
                       ("shed_kw", "Load a site shed (kW)."),
                       ("curtailed_kw", "PV and wind output a site cut (kW).")):
        metrics.gauge(f"vpp_frequency_{attr}", help, ("site",), lambda a=attr: per_site(a))
    metrics.counter("vpp_frequency_stage_events", "Stage trips and restores of a site.",
                    ("site",), lambda: [((s.name,), len(s.rule.events)) for s in list(sites)])
    metrics.gauge("vpp_site_state_of_charge", "A store's state of charge (0-1).",
                  ("site", "device"),
                  lambda: [((s.name, "battery"), s.battery.soc) for s in list(sites)
                           if s.battery is not None])
    return metrics


def trading_metrics(engines: Mapping[str, object], metrics: OpsMetrics | None = None
                    ) -> OpsMetrics:
    """Register trading engines by trader name."""
    metrics = metrics or OpsMetrics()

    def each(fn) -> Reading:
        return [((name,), fn(e)) for name, e in list(engines.items())]

    def pnl(engine) -> float:
        start = getattr(engine.portfolio, "initial_equity_eur", None)
        return engine.risk.equity_eur - start if start is not None else 0.0

    metrics.gauge("vpp_trader_equity_eur", "Equity at the last mark (EUR).", ("trader",),
                  lambda: each(lambda e: e.risk.equity_eur))
    metrics.gauge("vpp_trader_pnl_eur", "Equity less the equity at the first mark (EUR).",
                  ("trader",), lambda: each(pnl))
    metrics.gauge("vpp_trader_cash_eur", "Cash (EUR).", ("trader",),
                  lambda: each(lambda e: e.portfolio.cash_eur))
    metrics.gauge("vpp_trader_exposure_mwh", "Bought minus sold over undelivered hours, "
                  "plus stored energy (MWh).", ("trader",),
                  lambda: each(lambda e: e.risk.exposure_mwh()))
    metrics.gauge("vpp_trader_state_of_charge", "The trader's battery (0-1).", ("trader",),
                  lambda: each(lambda e: e.portfolio.battery.soc))

    def rejections() -> Reading:
        for name, engine in list(engines.items()):
            for limit, n in Counter(r.limit for r in list(engine.rejections)).items():
                yield (name, limit), n

    metrics.counter("vpp_trader_risk_rejections", "Orders refused, by the limit that refused "
                    "them.", ("trader", "limit"), rejections)
    return metrics
