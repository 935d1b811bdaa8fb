"""``vpp bench swarm --regions R``: the swarm bench's fleet under ``R`` regional
aggregators (the ``merit_hierarchy`` mode), every message over ZeroMQ (traced at the
size's default level, or ``--trace``).

Besides the swarm bench's figures (wall time, messages, the paired overhead against a
direct allocation of as many bids) it checks the dispatch: the flat auction
(:class:`~vpp.coordination.merit_order.auction.MeritOrderAuction`) is run directly on the
step's bids with the sites' answers, and ``flat_equal`` says whether every checked step's
per-site set-points and reserves equal the hierarchy's exactly. In one process the bids and
answers are those the sites sent (tapped); with ``--processes`` those the root received,
each region's curve carrying its sites' bids and its answers their declines
(:mod:`.regions_check`). Every step is checked up to 200,000 site-steps, an even sample of
8 beyond (``flat_checked_steps``). The check runs outside the timed steps.
"""

from __future__ import annotations

import gc
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from vpp.coordination.hierarchy.merit_driver import run_flat_step
from vpp.coordination.merit_order.messages import Accept, Award, Bid, Decline
from vpp.runs.bench.paired import interleave
from vpp.runs.bench.regions_check import RootTap, checked_steps, root_flat_equal
from vpp.runs.bench.swarm import bench_scenario, direct_allocation
from vpp.runs.record.trace_level import choose_level
from vpp.runs.runner import build_run
from vpp.runs.scenario import parse


class SiteTap:
    """What the local sites send in a step: each one's bid, and its answers in order.

    It wraps the ``send`` of the sites' hosts (a site sends through its host directly),
    keeping what a site of ``sites`` sends."""

    def __init__(self, sites: list[Any]) -> None:
        self.bids: dict[str, Bid] = {}
        self.answers: dict[str, list[Accept | Decline]] = defaultdict(list)
        tapped = {id(site) for site in sites}
        for host in {id(site.host): site.host for site in sites}.values():
            host.send = self._tapped(tapped, host.send)

    def _tapped(self, sites: set[int], send: Any) -> Any:
        def send_and_record(sender: Any, receiver: str, body: Any, **kw: Any) -> None:
            if id(sender) in sites:
                if isinstance(body, Bid):
                    self.bids[sender.address] = body
                elif isinstance(body, (Accept, Decline)):
                    self.answers[sender.address].append(body)
            send(sender, receiver, body, **kw)

        return send_and_record

    def clear(self) -> None:
        """Forget the step's records."""
        self.bids = {}
        self.answers = defaultdict(list)

    def replay(self) -> Any:
        """A flat auction's site answers: each site's k-th award answered as it answered
        its k-th award in the run (silent past its last answer)."""
        seen: dict[str, int] = defaultdict(int)
        answers = self.answers

        def answer(site: str, award: Award) -> Accept | Decline | None:
            k = seen[site]
            seen[site] = k + 1
            said = answers.get(site, [])
            if k >= len(said):
                return None
            if isinstance(said[k], Decline):
                return said[k]
            return Accept(award.step, award.power_kw, award.reserve_kw)

        return answer


def flat_equal(model: Any, tap: SiteTap, k: int) -> bool:
    """Step ``k`` (the last negotiated)'s hierarchical dispatch equals the flat auction's
    on the recorded bids and answers (every site's set-point and reserve, exactly)."""
    return flat_equal_at(model, tap, k, model.aggregator.outcomes[-1])


def flat_equal_at(model: Any, tap: SiteTap, k: int, got: Any = None) -> bool:
    """As :func:`flat_equal` for step ``k``'s outcome ``got`` (default: the ``k``-th
    kept), the sites taking part being those that bid or were called."""
    scenario, root = model.scenario, model.aggregator
    got = got if got is not None else root.outcomes[k]
    flat = run_flat_step(
        root.sites, tap.bids, step=k, target_kw=model.targets[k], reserve_kw=model.reserves[k],
        window_start_s=k * model.window_s, window_s=model.window_s, answer=tap.replay(),
        deadline_ms=scenario.negotiation.deadline_ms,
        max_rounds=scenario.negotiation.max_rounds).outcome
    return (got.site_power_kw == flat.site_power_kw
            and got.site_reserve_kw == flat.site_reserve_kw
            and got.silent == flat.silent and got.declined == flat.declined)


def traced_steps(run_dir: str, steps: int) -> tuple[list[SiteTap], int]:
    """Each step's bids and site answers as the trace recorded them (every shard: the
    sites of other processes too), and how many messages were sent in all."""
    import msgspec
    from vpp.agents.runtime.trace_reader import TraceReader

    taps = [SiteTap([]) for _ in range(steps)]
    kinds = {"Bid": Bid, "Accept": Accept, "Decline": Decline}
    reader = TraceReader(run_dir)
    try:
        sent = sum(n for (_, direction), n in reader.message_counts().items()
                   if direction == "send")
        rows = [r for r in reader.messages(direction="send")
                if r.kind in kinds and (r.conversation or "").startswith("merit-order/")]
    finally:
        reader.close()
    rows.sort(key=lambda r: (r.round or 0, r.wall_ns))  # a site's answers in round order
    for r in rows:
        k = int(r.conversation.rpartition("/")[2])
        if not 0 <= k < steps:
            continue
        body = msgspec.convert(r.body, kinds[r.kind])
        if r.kind == "Bid":
            taps[k].bids[r.sender] = body
        else:
            taps[k].answers[r.sender].append(body)
    return taps, sent


def _children_peak_mb(children: Any) -> float:
    """The peak resident memory (VmHWM) of a fleet's site processes (``children``), summed."""
    total = 0
    for proc in getattr(getattr(children, "spawner", None), "processes", []):
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def process_timing(sites: int, processes: int) -> dict[str, int]:
    """The deadlines of a fleet in ``processes`` site processes: the negotiation's
    deadline, the link's timeout and the wait for an ``Applied`` before a resend, each at
    least its default and 0.2 ms (the ack 0.1 ms) a site of one process: a process busy
    with 50,000 sites' calls for bids for some seconds is neither late nor lost."""
    from vpp.agents.membership.coordinator import LinkSettings
    from vpp.runs.modes.base import RunContext

    n = -(-sites // processes)
    link = LinkSettings.for_host(n, RunContext.site_call_ms)
    return {"deadline_ms": max(2000, n // 5), "link_timeout_ms": link.timeout_ms,
            "ack_ms": link.ack_ms}


def run(sites: int = 1000, steps: int = 96, regions: int = 10, seed: int = 0,
        processes: int | None = None, trace: str | None = None) -> dict:
    """The hierarchical swarm: wall seconds, messages, peak memory, drops, whether its
    dispatch equals the flat merit order of the same bids (on the steps
    :func:`~.regions_check.checked_steps` picks), and the swarm bench's paired overhead
    against a direct allocation. With ``processes``, whole regions run in that many site
    processes: the flat check then runs on what the root received (see the module's doc),
    the messages are those every process counted, the peak memory is this process's
    plus every site process's, and the deadlines are :func:`process_timing`'s. ``trace``
    is the trace level (default: by size). ``silent_site_steps`` counts the sites silent
    in each step (a late process shows there)."""
    if not 1 <= regions <= sites:
        raise ValueError(f"--regions must be between 1 and --sites ({sites}), got {regions}")
    data = bench_scenario(sites, steps, seed)
    data["topology"] = {"regions": regions}
    timing = process_timing(sites, processes) if processes is not None else {}
    if timing:
        data["negotiation"] = {"deadline_ms": timing["deadline_ms"]}
    scenario = parse(data, "<bench>")
    level = choose_level(trace, scenario)[0].text
    direct = direct_allocation(sites, seed)

    checked = checked_steps(sites, steps)
    to_check = set(checked)
    equal, check_s, children_mb, silent = True, 0.0, 0.0, 0
    placement = None
    if processes is not None:
        from vpp.agents.membership.coordinator import LinkSettings
        from vpp.runs.placement.processes import ProcessesPlacement

        placement = ProcessesPlacement(processes, settings=LinkSettings(
            timeout_ms=timing["link_timeout_ms"], ack_ms=timing["ack_ms"]))
    with tempfile.TemporaryDirectory(prefix="vpp-bench-") as out:
        # (the bench reads the last outcome only: 100,000 sites' per-step dicts, kept for
        # every step, would be gigabytes in this process)
        mode, model = build_run(scenario, out, placement=placement, trace=level,
                                outcome_window=2)
        try:
            if mode.name != "merit_hierarchy":
                raise RuntimeError(f"the bench scenario ran as {mode.name}, not through regions")
            tap = SiteTap(model.sites) if processes is None else None
            root_tap = RootTap(model.aggregator, checked) if processes is not None else None
            ks = iter(range(steps))

            def step() -> float:
                nonlocal equal, check_s, silent
                k = next(ks)
                if tap is not None:
                    tap.clear()
                t = time.perf_counter()
                model.step(k)
                took = time.perf_counter() - t
                silent += len(model.aggregator.outcomes[-1].silent)
                if k in to_check:
                    t = time.perf_counter()
                    got = model.aggregator.outcomes[-1]
                    if tap is not None:
                        equal = flat_equal(model, tap, k) and equal
                        tap.clear()
                    else:
                        equal = root_flat_equal(model, root_tap.seen.pop(k, None), k,
                                                got) and equal
                    gc.collect()  # the check's garbage collected here, not in the next step
                    check_s += time.perf_counter() - t
                return took

            direct()                                          # warm up
            got = interleave(step, direct, steps)
            hosts = model.fleet.hosts
            messages = sum(h.stats.sent for h in hosts)
            dropped = sum(h.stats.dropped_total for h in hosts)
            own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            if processes is not None:
                children_mb = _children_peak_mb(model.fleet.children)
                model.fleet.finish()  # the sites stop, each process telling what it sent
                summary = model.fleet.summary()
                dropped, messages = summary["dropped"], summary["messages"]
        finally:
            model.close()
    wall, allocations = sum(got.first), sum(got.second)
    return {
        "sites": sites, "regions": regions, "steps": steps, "trace": level,
        "wall_s": round(wall, 3),
        "ms_per_step": round(1000 * wall / steps, 1),
        "messages": messages, "messages_per_s": round(messages / wall, 1),
        "processes": processes or 1,
        "peak_rss_mb": round(own_mb + children_mb, 1),
        "dropped": dropped, "silent_site_steps": silent, "flat_equal": equal,
        "flat_check": "root" if processes is not None else "sites",
        "flat_checked_steps": checked if len(checked) < steps else "all",
        "flat_check_s": round(check_s, 3), **timing,
        "direct_allocation_s": round(allocations, 4),
        "overhead_ratio": round(wall / allocations, 1),
        **got.summary("overhead_ratio", digits=1),
    }
