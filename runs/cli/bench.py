"""``vpp bench``: benchmarks that print one JSON object each (with ``--json``)."""

from __future__ import annotations

import json

import typer
from vpp.runs.cli.common import console, fail, table

app = typer.Typer(help="Benchmarks; each prints one JSON object with --json.",
                  no_args_is_help=True)


def _emit(name: str, result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        console.print(table(f"bench {name}", ("figure", "value"), result.items()))


@app.command("merit-order")
def merit_order(
    sites: int = typer.Option(100_000, "--sites", help="Bids to allocate."),
    repeats: int = typer.Option(30, "--repeats", help="Allocations timed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Merit-order allocation time for N bids (p50, p99), against a full sort."""
    from vpp.runs.bench import merit_order as bench

    _emit("merit-order", bench.run(sites, repeats), as_json)


def _trace_option(trace: str | None) -> str | None:
    """``--trace`` checked (an error naming the option), the default left to the bench."""
    from vpp.agents.runtime.trace_level import parse_level

    try:
        return None if trace is None else parse_level(trace).text
    except ValueError as exc:
        fail(f"--trace {trace}: {exc}")


TRACE_BENCH_HELP = ("The trace level: full, rounds or sample:N \\[default: full up to "
                    "2,000,000 estimated messages, rounds beyond]; the JSON says it (trace).")


@app.command("swarm")
def swarm(
    sites: int = typer.Option(1000, "--sites", help="Sites in the swarm."),
    steps: int = typer.Option(96, "--steps", help="Steps to run."),
    trace: str | None = typer.Option(None, "--trace", help=TRACE_BENCH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    regions: int = typer.Option(0, "--regions", min=0, help="Regional aggregators the "
                                "sites are split under (0: flat); checks the dispatch "
                                "against a flat merit order of the same bids."),
    processes: int | None = typer.Option(None, "--processes", min=1, help="With --regions: "
                                         "whole regions in this many site processes."),
) -> None:
    """A local swarm over ZeroMQ, traced: wall time and message rate (through regional
    aggregators with --regions, its dispatch checked against flat)."""
    if regions:
        from vpp.runs.bench import swarm_regions

        if regions > sites or (processes or 1) > regions:
            fail("--regions must not exceed --sites, nor --processes --regions")
        try:
            result = swarm_regions.run(sites, steps, regions, processes=processes,
                                       trace=_trace_option(trace))
        except ValueError as exc:
            fail(str(exc))
        _emit("swarm", result, as_json)
        return
    if processes is not None:
        fail("--processes: with --regions (whole regions go to each process)")
    from vpp.runs.bench import swarm as bench

    _emit("swarm", bench.run(sites, steps, trace=_trace_option(trace)), as_json)


@app.command("year")
def year(
    sites: int = typer.Option(1000, "--sites", help="Sites in the generated fleet."),
    steps: int = typer.Option(35_040, "--steps", help="Steps run: the first N of the "
                              "15-minute year (35,040); a shorter slice extrapolates the "
                              "year's time and says so."),
    trace: str | None = typer.Option(None, "--trace", help=TRACE_BENCH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """A 15-minute year of a local swarm, recorded and traced as `vpp run` does: wall
    time, peak memory, memory growth per 1,000 steps in each half (flat: near 0)."""
    if sites < 1 or steps < 4:
        fail("--sites must be at least 1 and --steps at least 4")
    from vpp.runs.bench import year as bench

    _emit("year", bench.run(sites, steps, trace=_trace_option(trace)), as_json)


@app.command("startup")
def startup(
    repeats: int = typer.Option(3, "--repeats", min=1, help="Runs of vpp run timed."),
    steps: int = typer.Option(8, "--steps", min=1, help="Steps of the default scenario."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """How soon `vpp run` shows something under a terminal: first output, each stage, the
    printed whole time; against a bare interpreter's start."""
    from vpp.runs.bench import startup as bench

    _emit("startup", bench.run(repeats, steps), as_json)


@app.command("physics")
def physics(
    pairs: int = typer.Option(10, "--pairs", min=1, help="Interleaved pairs of a PV year and "
                              "pvlib's ModelChain year (the ratio: median and spread)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Battery and grid steps (us), a year of PV and wind (s), PV against pvlib's ModelChain."""
    from vpp.runs.bench import physics as bench

    _emit("physics", bench.run(pairs), as_json)


@app.command("codec")
def codec(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Encode plus decode of a typical bid message, against JSON."""
    from vpp.runs.bench import codec as bench

    _emit("codec", bench.run(), as_json)


@app.command("orderbook")
def orderbook(
    orders: int = typer.Option(200_000, "--orders", help="Orders in the seeded stream."),
    baseline_orders: int = typer.Option(5_000, "--baseline-orders",
                                        help="Orders for the naive list-scan baseline."),
    pairs: int = typer.Option(10, "--pairs", min=1,
                              help="Interleaved pairs of the book and the naive matcher (the ratio: median and spread)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Continuous order book: limit, market and cancel orders per second, against a list scan."""
    from vpp.runs.bench import orderbook as bench

    _emit("orderbook", bench.run(orders, baseline_orders, pairs=pairs), as_json)


@app.command("auction")
def auction(
    bids: int = typer.Option(100_000, "--bids", help="Bid steps over 24 hours."),
    repeats: int = typer.Option(5, "--repeats", help="Clearings timed (median)."),
    baseline_bids: int = typer.Option(2_000, "--baseline-bids",
                                      help="Bid steps for the scipy LP baseline."),
    pairs: int = typer.Option(10, "--pairs", min=1,
                              help="Interleaved pairs of our clearing and the LP (the ratio: median and spread)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Day-ahead auction: clearing time of N bid steps, against a welfare LP (HiGHS)."""
    from vpp.runs.bench import auction as bench

    _emit("auction", bench.run(bids, repeats, baseline_bids, pairs=pairs), as_json)


@app.command("admm")
def admm(
    sites: int = typer.Option(20, "--sites", help="Sites in the negotiation."),
    horizon: int = typer.Option(24, "--horizon", help="Steps of one hour in the schedules."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random instance."),
    market: bool = typer.Option(False, "--market",
                                help="Sell at market prices instead of following a target."),
    pairs: int = typer.Option(10, "--pairs", min=1,
                              help="Interleaved pairs of a negotiation and the central solve (in-process only) (the ratio: median and spread)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    processes: int | None = typer.Option(
        None, "--processes", help="Put the sites in N processes (adds round_ms_p50)."),
    transport: str = typer.Option("tcp", "--transport",
                                  help="With --processes: tcp (loopback) or ipc."),
    regions: int | None = typer.Option(
        None, "--regions", help="Through R regional aggregators (hierarchical sharing form)."),
    flat: bool = typer.Option(False, "--flat",
                              help="With --regions: negotiate the same instance flat too."),
) -> None:
    """ADMM by messages over inproc ZeroMQ, against the centralized cvxpy solve."""
    if regions is not None:
        if market or transport != "tcp":
            fail("--regions negotiates a target over inproc or tcp: leave out --market and "
                 "--transport")
        from vpp.runs.bench import admm_regions

        try:
            _emit("admm", admm_regions.run(sites, regions, horizon, seed, processes, flat),
                  as_json)
        except ValueError as exc:
            fail(str(exc))
        return
    if processes is not None:
        from vpp.runs.bench import admm_processes

        _emit("admm", admm_processes.run(sites, processes, horizon, seed, transport), as_json)
        return
    from vpp.runs.bench import admm as bench

    _emit("admm", bench.run(sites, horizon, seed, market, pairs), as_json)


@app.command("trading")
def trading(
    days: int = typer.Option(365, "--days", help="Days of DE-LU 2019 to backtest."),
    repeats: int = typer.Option(200, "--repeats", help="Schedule solves timed (median)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The exact schedule: 24 hours (ms; an independent LP and MILP alongside) and 8,760
    hours of DE-LU 2019 (s, the LP relaxation alongside); backtest days per second."""
    from vpp.runs.bench import trading as bench

    _emit("trading", bench.run(days, repeats), as_json)


@app.command("frequency")
def frequency(
    sites: int = typer.Option(1000, "--sites", help="Sites answering each frequency sample."),
    samples: int = typer.Option(200, "--samples", help="Frequency samples timed."),
    processes: int = typer.Option(1, "--processes",
                                  help="Site processes (more than 1 needs --transport tcp)."),
    transport: str = typer.Option("inproc", "--transport", help="inproc or tcp (loopback)."),
    trace: bool = typer.Option(False, "--trace",
                               help="Record every message, as a run does (one process only)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Frequency response: one site's decision (us, against a numpy interp droop) and a
    sample's fan-out to N sites, published -> every site decided and applied (ms)."""
    from vpp.runs.cli.common import fail

    if transport not in ("inproc", "tcp"):
        fail(f"--transport must be inproc or tcp, got {transport!r}")
    if sites < 1 or samples < 1:
        fail("--sites and --samples must be at least 1")
    if processes > 1 and transport != "tcp":
        fail("--processes above 1 needs --transport tcp (sites in other processes)")
    if not 1 <= processes <= sites:
        fail(f"--processes must be between 1 and --sites ({sites}), got {processes}")
    if trace and processes > 1:
        fail("--trace is for sites in this process (--processes 1)")
    from vpp.runs.bench import frequency as bench

    _emit("frequency", bench.run(sites, samples, transport, processes, trace), as_json)


@app.command("spawn")
def spawn(
    processes: int = typer.Option(50, "--processes", help="Site processes to start."),
    baseline_processes: int = typer.Option(
        10, "--baseline-processes", help="Fresh-interpreter processes for the baseline (0: none)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Site processes from a warm fork server: ready (joined) and teardown seconds,
    against fresh interpreters."""
    from vpp.runs.bench import spawn as bench

    _emit("spawn", bench.run(processes, baseline_processes), as_json)


@app.command("cvar")
def cvar(
    scenarios: int = typer.Option(100, "--scenarios", help="Scenarios (bootstrapped 2019 errors)."),
    horizon: int = typer.Option(24, "--horizon", help="Hours planned."),
    repeats: int = typer.Option(3, "--repeats", help="Solves timed (median)."),
    risk_weight: float = typer.Option(0.5, "--risk-weight",
                                      help="0 = expected cost only, 1 = CVaR only."),
    grid_limit_kw: float = typer.Option(600.0, "--grid-limit-kw",
                                        help="Grid connection both ways, kW (0: unlimited)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """CVaR stochastic battery LP (cvxpy + HiGHS), against the rules and the risk-neutral LP."""
    from vpp.runs.bench import cvar as bench

    try:
        result = bench.run(scenarios, horizon, repeats, risk_weight=risk_weight,
                           grid_limit_kw=grid_limit_kw or None)
    except ValueError as exc:
        fail(f"bench cvar: {exc}")
    _emit("cvar", result, as_json)


@app.command("mpc")
def mpc(
    steps: int = typer.Option(168, "--steps", help="Hourly steps of closed loop (a week)."),
    horizon: int = typer.Option(36, "--horizon", help="Hours in each MPC window."),
    forecast: str = typer.Option("noisy", "--forecast",
                                 help="noisy (real prices plus error growing with lead time) "
                                      "or day-ahead (published prices, then persistence)."),
    sigma: float = typer.Option(10.0, "--sigma", help="Noisy forecast error at 24 h, EUR/MWh."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """MPC on a real 2019 price week: step time and closed-loop cost against perfect foresight."""
    from vpp.runs.bench import mpc as bench

    try:
        result = bench.run(steps, horizon, forecast, sigma)
    except ValueError as exc:
        fail(f"bench mpc: {exc}")
    _emit("mpc", result, as_json)


@app.command("ops")
def ops(
    sites: int = typer.Option(200, "--sites", help="Sites in the swarm."),
    steps: int = typer.Option(96, "--steps", help="Steps of each run."),
    pairs: int = typer.Option(10, "--pairs", help="Pairs of runs, metrics off and on, "
                              "interleaved (the overhead: median and spread over the pairs)."),
    scrape_every_s: float = typer.Option(
        1.0, "--scrape-every-s", help="How often the endpoint is scraped (Prometheus' usual "
        "interval is 15-60 s; each scrape of a 200-site swarm costs about 15 ms)."),
    reloads: int = typer.Option(10, "--reloads", help="Edits of a live swarm's YAML timed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Metrics overhead on swarm throughput (interleaved off/on pairs: median and spread)
    and hot reload time."""
    from vpp.runs.cli.common import fail

    if sites < 1 or steps < 1 or pairs < 1 or reloads < 1 or scrape_every_s <= 0:
        fail("--sites, --steps, --pairs, --reloads must be at least 1 and "
             "--scrape-every-s above 0")
    from vpp.runs.bench import ops as bench

    _emit("ops", bench.run(sites, steps, pairs, scrape_every_s, reloads), as_json)


@app.command("hostile")
def hostile(
    frames: int = typer.Option(100_000, "--frames", help="Hostile frames to throw (at least)."),
    sites: int = typer.Option(20, "--sites", help="Sites of the legitimate run."),
    steps: int = typer.Option(60, "--steps", help="Steps of the legitimate run."),
    pace_s: float = typer.Option(0.1, "--pace-s",
                                 help="Seconds the aggregator serves between steps."),
    seed: int = typer.Option(0, "--seed", help="Seed of the hostile frames."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Hostile frames (random, mutated, nested, oversized, wrong kinds, floods, spoofed)
    at a live aggregator and a site while a legitimate run goes on, against the run
    undisturbed: crashes, memory growth, share of the run still served, drops by reason."""
    if frames < 1 or sites < 1 or steps < 2 or not pace_s >= 0:
        fail("--frames and --sites must be at least 1, --steps at least 2, --pace-s >= 0")
    from vpp.runs.bench import hostile as bench

    _emit("hostile", bench.run(frames, sites, steps, pace_s, seed=seed), as_json)


@app.command("explorer")
def explorer(
    sites: int = typer.Option(1000, "--sites", help="Sites in the generated swarm."),
    steps: int = typer.Option(96, "--steps", help="Steps of the run."),
    repeats: int = typer.Option(3, "--repeats", help="Loads timed (medians)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The trace explorer in headless Chromium on a large traced run: overview and one
    step's negotiation drawn (s), against fetching their JSON raw. Needs the `explorer`
    extra, playwright and /usr/bin/chromium."""
    from vpp.runs.bench.explorer import BenchUnavailable, run

    if sites < 1 or steps < 2 or repeats < 1:
        fail("--sites and --repeats must be at least 1, --steps at least 2")
    try:
        result = run(sites, steps, repeats)
    except BenchUnavailable as exc:
        fail(f"bench explorer: {exc}")
    _emit("explorer", result, as_json)
