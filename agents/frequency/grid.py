"""The grid agent (publishes frequency, takes the VPP's response back into the swing
equation) and the collector of the sites' service reports.

See ``docs/protocols/frequency.md``. A :class:`SwingSource` closes the loop through
:class:`vpp.physics.frequency.GridFrequency`; a :class:`ReplaySource` plays a recording and
cannot be moved by the VPP (``open_loop``). In simulated time :func:`drive_simulated`
moves the clock sample by sample and waits for the sites' answers; in wall-clock time
:meth:`GridAgent.start_wall` publishes from a host timer.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from vpp.agents.runtime.agent import Agent
from vpp.agents.runtime.clock import SimulatedClock
from vpp.agents.runtime.loop import EventLoop
from vpp.agents.runtime.messages import Envelope
from vpp.coordination.errors import ProtocolError
from vpp.coordination.frequency.messages import (
    FREQUENCY_TOPIC,
    EventClosed,
    FrequencyResponse,
    FrequencySample,
    ServiceReport,
)
from vpp.physics.frequency import GridFrequency, GridParams

log = logging.getLogger(__name__)


class SwingSource:
    """Frequency from the swing equation; the VPP's injection feeds back (closed loop)."""

    open_loop = False

    def __init__(self, params: GridParams) -> None:
        self.model = GridFrequency(params)
        self.f0_hz = float(params.f0_hz)
        self.t_s = 0.0
        self.f_hz = self.model.f_hz
        self.rocof_hz_per_s = 0.0

    def advance(self, vpp_mw: float, dt_s: float) -> None:
        """Integrate ``dt_s`` seconds with ``vpp_mw`` injected by the VPP."""
        state = self.model.step(vpp_mw, dt_s)
        self.t_s, self.f_hz, self.rocof_hz_per_s = state.t_s, state.f_hz, state.rocof_hz_per_s


class ReplaySource:
    """A recorded frequency, linearly interpolated; the VPP cannot change it (open loop).

    Args:
        times_s: sample times (s, increasing).
        f_hz: the frequency at each time.
        f0_hz: the grid's nominal frequency.
    """

    open_loop = True

    def __init__(self, times_s: Sequence[float], f_hz: Sequence[float], f0_hz: float) -> None:
        if len(times_s) != len(f_hz) or len(times_s) < 2:
            raise ValueError("replay: need at least two (time, frequency) points of equal count")
        if any(b <= a for a, b in zip(times_s, times_s[1:])):
            raise ValueError("replay: times must increase strictly")
        if not all(math.isfinite(f) for f in f_hz):
            raise ValueError("replay: frequencies must be finite (drop the gaps first)")
        self.times = [float(t) for t in times_s]
        self.values = [float(f) for f in f_hz]
        self.f0_hz = float(f0_hz)
        self.t_s = self.times[0]
        self.f_hz = self.values[0]
        self.rocof_hz_per_s = 0.0

    def _at(self, t: float) -> tuple[float, float]:
        i = bisect.bisect_right(self.times, t) - 1
        i = min(max(i, 0), len(self.times) - 2)
        t0, t1 = self.times[i], self.times[i + 1]
        slope = (self.values[i + 1] - self.values[i]) / (t1 - t0)
        if t >= self.times[-1]:
            return self.values[-1], 0.0
        return self.values[i] + slope * (t - t0), slope

    def advance(self, vpp_mw: float, dt_s: float) -> None:
        """Move ``dt_s`` seconds along the recording (``vpp_mw`` cannot change it)."""
        self.t_s += dt_s
        self.f_hz, self.rocof_hz_per_s = self._at(self.t_s)


@dataclass
class TimelineRow:
    """One sample of an event: the grid's state and the VPP's aggregate answer to it."""

    seq: int
    t_s: float
    f_hz: float
    rocof_hz_per_s: float
    vpp_kw: float = 0.0
    response_kw: float = 0.0
    shed_kw: float = 0.0
    curtailed_kw: float = 0.0
    state_of_charge: float | None = None
    sites_missing: int = 0


@dataclass
class _SiteMeter:
    seq: int = -1
    delta_kw: float = 0.0
    response_kw: float = 0.0
    shed_kw: float = 0.0
    curtailed_kw: float = 0.0
    state_of_charge: float | None = None


class GridAgent(Agent):
    """Publishes frequency samples and adds up the sites' metered answers.

    Args:
        name: the agent's name.
        source: a :class:`SwingSource` or a :class:`ReplaySource`.
        sample_period_s: time between samples.
        sites: the addresses of the sites it meters (others are rejected).
        event: the event's name (conversation ``frequency/<event>``).
        record_sites: keep each site's metered service response per sample
            (``site_response_kw[address]``, aligned with ``timeline``), for settling
            what the sites sold.
    """

    role = "grid"

    def __init__(self, name: str, source: SwingSource | ReplaySource, *,
                 sample_period_s: float, sites: Sequence[str], event: str = "event",
                 record_sites: bool = False) -> None:
        super().__init__(name)
        if not (math.isfinite(sample_period_s) and sample_period_s > 0):
            raise ValueError(f"grid.sample_period_s must be > 0, got {sample_period_s!r}")
        self.source = source
        self.sample_period_s = float(sample_period_s)
        self.event = event
        self.conversation = f"frequency/{event}"
        self.meters: dict[str, _SiteMeter] = {s: _SiteMeter() for s in sites}
        self.seq = -1
        self.answered = 0
        self.timeline: list[TimelineRow] = []
        self.site_response_kw: dict[str, list[float]] | None = (
            {s: [] for s in self.meters} if record_sites else None)
        self._wall_timer = None
        self.on(FrequencyResponse, self._on_response)

    def add_site(self, address: str) -> None:
        """Meter the site at ``address`` too (before the event starts)."""
        self.meters.setdefault(address, _SiteMeter())

    # -- publishing ------------------------------------------------------------------
    def publish_sample(self) -> FrequencySample:
        """Publish the source's present frequency as the next sample."""
        self.seq += 1
        self.answered = 0
        s = self.source
        sample = FrequencySample(self.seq, s.t_s, s.f_hz, s.rocof_hz_per_s)
        self.publish(FREQUENCY_TOPIC, sample, conversation=self.conversation, round=self.seq)
        return sample

    def all_answered(self) -> bool:
        """Whether every site has metered the latest sample."""
        return self.answered >= len(self.meters)

    def vpp_kw(self) -> float:
        """The VPP's injection change now: the latest answer of every site."""
        return sum(m.delta_kw for m in self.meters.values())

    def advance(self) -> TimelineRow:
        """Close the latest sample's row and integrate one period with the VPP's answer."""
        s = self.source
        meters = self.meters.values()
        socs = [m.state_of_charge for m in meters if m.state_of_charge is not None]
        row = TimelineRow(
            self.seq, s.t_s, s.f_hz, s.rocof_hz_per_s, self.vpp_kw(),
            sum(m.response_kw for m in meters), sum(m.shed_kw for m in meters),
            sum(m.curtailed_kw for m in meters),
            sum(socs) / len(socs) if socs else None,
            sum(1 for m in meters if m.seq != self.seq))
        self.timeline.append(row)
        if self.site_response_kw is not None:
            for address, meter in self.meters.items():
                self.site_response_kw.setdefault(address, []).append(meter.response_kw)
        trace = self.host.trace if self.host is not None else None
        if trace is not None:
            trace.round(sim_time=row.t_s, step=row.seq, conversation=self.conversation,
                        protocol="frequency", round=row.seq, served_kw=row.vpp_kw,
                        detail={"f_hz": row.f_hz, "rocof_hz_per_s": row.rocof_hz_per_s,
                                "response_kw": row.response_kw, "shed_kw": row.shed_kw,
                                "curtailed_kw": row.curtailed_kw,
                                "state_of_charge": row.state_of_charge,
                                "sites_missing": row.sites_missing,
                                "open_loop": s.open_loop})
        s.advance(row.vpp_kw / 1000.0, self.sample_period_s)
        return row

    def close_event(self) -> None:
        """Tell every site the event is over (they send their final reports)."""
        self.publish(FREQUENCY_TOPIC, EventClosed(self.event, self.source.t_s),
                     conversation=self.conversation, round=max(self.seq, 0))

    # -- wall clock --------------------------------------------------------------------
    def start_wall(self) -> None:
        """Publish every ``sample_period_s`` of wall time from a host timer, integrating
        with whatever answers have arrived."""
        self.publish_sample()
        self._wall_timer = self.host.call_later(self.sample_period_s, self._wall_tick)

    def _wall_tick(self) -> None:
        self.advance()
        self.publish_sample()
        self._wall_timer = self.host.call_later(self.sample_period_s, self._wall_tick)

    def stop_wall(self) -> None:
        """Stop publishing."""
        if self._wall_timer is not None:
            self._wall_timer.cancel()
            self._wall_timer = None

    # -- metering ----------------------------------------------------------------------
    def _on_response(self, envelope: Envelope, r: FrequencyResponse) -> None:
        meter = self.meters.get(envelope.sender)
        if meter is None:
            raise ProtocolError(f"grid {self.name}: {envelope.sender} is not a metered site")
        if r.seq <= meter.seq or r.seq > self.seq:
            raise ProtocolError(f"grid {self.name}: response to sample {r.seq} from "
                                f"{envelope.sender} (last {meter.seq}, latest {self.seq})")
        values = (r.delta_kw, r.response_kw, r.shed_kw, r.curtailed_kw)
        isfinite = math.isfinite
        # one expression, not a generator: this runs for every site on every sample
        if not (isfinite(values[0]) and isfinite(values[1]) and isfinite(values[2])
                and isfinite(values[3])):
            raise ProtocolError(f"grid {self.name}: non-finite response from {envelope.sender}")
        meter.seq = r.seq
        meter.delta_kw, meter.response_kw, meter.shed_kw, meter.curtailed_kw = values
        meter.state_of_charge = r.state_of_charge
        if r.seq == self.seq:
            self.answered += 1


class ReportCollector(Agent):
    """The aggregator's side of the protocol: keeps every site's service reports and
    writes each stage change to the trace (``protocol = "frequency-stage"``)."""

    role = "aggregator"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.reports: dict[str, list[ServiceReport]] = {}
        self.final: dict[str, ServiceReport] = {}
        self.on(ServiceReport, self._on_report)

    def _on_report(self, envelope: Envelope, report: ServiceReport) -> None:
        self.reports.setdefault(envelope.sender, []).append(report)
        if report.final:
            self.final[envelope.sender] = report
            return
        trace = self.host.trace
        if trace is None:
            return
        for c in report.changes:
            trace.round(sim_time=c.t_s, step=envelope.round, conversation=envelope.conversation,
                        protocol="frequency-stage", round=c.stage,
                        detail={"site": envelope.sender, "kind": c.kind, "stage": c.stage,
                                "action": c.action, "f_hz": c.f_hz})


@dataclass
class DriveResult:
    """How a simulated drive went."""

    samples: int
    late_samples: int
    wall_s: float
    timeline: list[TimelineRow] = field(repr=False)


def publish_until_answered(loop: EventLoop, grid: GridAgent, timeout_s: float,
                           retry_s: float = 0.05) -> bool:
    """Publish the present sample until every site has answered one of them.

    Subscriptions take a moment to reach a publisher, and a sample published before that
    is not delivered: so the sample is published again, after ``retry_s`` and then after
    twice as long each time, until every site has answered one of the copies.
    """
    end = time.monotonic() + timeout_s
    first = grid.seq + 1
    meters = list(grid.meters.values())

    def done() -> bool:
        return all(m.seq >= first for m in meters)

    while True:
        grid.publish_sample()
        if loop.run_until(done, min(retry_s, max(end - time.monotonic(), 0.0))):
            return True
        if time.monotonic() >= end:
            return False
        retry_s *= 2.0


class SimulatedDrive:
    """An event in simulated time, one sample at a time: publish, wait for every site's
    answer (or ``response_timeout_s`` of wall time: the sample is then *late* and the
    missing sites count with their last answer), integrate. The runner steps it
    (:meth:`sample`), then :meth:`finish` closes the event.

    With ``pace`` (simulated seconds per wall second; 1: real time) sample ``k`` is not
    published before ``t_k / pace`` wall seconds from the first, the loop serving its hosts
    meanwhile; without it the event runs as fast as it can.

    Args:
        loop: the loop serving the grid's and the sites' hosts.
        grid: the grid agent.
        clock: the simulated clock the agents read.
        duration_s: the event's length; :attr:`samples` samples cover it.
        response_timeout_s: wall seconds a sample waits for its answers.
        reports: where the sites' service reports arrive (waited for at the end).
    """

    def __init__(self, loop: EventLoop, grid: GridAgent, clock: SimulatedClock,
                 duration_s: float, *, response_timeout_s: float = 2.0,
                 reports: ReportCollector | None = None, pace: float | None = None) -> None:
        if pace is not None and not pace > 0:
            raise ValueError(f"pace must be positive, got {pace!r}")
        self.loop, self.grid, self.clock = loop, grid, clock
        self.response_timeout_s = response_timeout_s
        self.reports = reports
        self.pace = pace
        self.samples = int(math.floor(duration_s / grid.sample_period_s + 1e-9)) + 1
        self.late = 0
        self._t0 = time.perf_counter()
        self._start_t_s = grid.source.t_s

    def sample(self, k: int) -> TimelineRow:
        """Publish sample ``k`` (0, 1, ... in order), wait for the answers, integrate;
        return its timeline row."""
        grid, loop = self.grid, self.loop
        if self.pace is not None:
            due = ((grid.source.t_s - self._start_t_s) / self.pace
                   - (time.perf_counter() - self._t0))
            if due > 0:
                loop.run_for(due)
        self.clock.advance_to(grid.source.t_s)
        if k == 0:
            answered = publish_until_answered(loop, grid, self.response_timeout_s)
        else:
            grid.publish_sample()
            answered = loop.run_until(grid.all_answered, self.response_timeout_s)
        if not answered:
            self.late += 1
            log.warning("grid %s: sample %d not answered by %d of %d sites within %.1f s",
                        grid.name, grid.seq, len(grid.meters) - grid.answered,
                        len(grid.meters), self.response_timeout_s)
        return grid.advance()

    def finish(self) -> DriveResult:
        """Close the event (each site sends its service report) and return the drive."""
        self.grid.close_event()
        if self.reports is not None:
            self.loop.run_until(lambda: len(self.reports.final) >= len(self.grid.meters),
                                self.response_timeout_s)
        else:
            self.loop.flush_out()
        return DriveResult(self.samples, self.late, time.perf_counter() - self._t0,
                           self.grid.timeline)


def drive_simulated(loop: EventLoop, grid: GridAgent, clock: SimulatedClock, duration_s: float,
                    *, response_timeout_s: float = 2.0,
                    reports: ReportCollector | None = None,
                    before_sample: Callable[[int], None] | None = None,
                    pace: float | None = None) -> DriveResult:
    """Run a whole event in simulated time (a :class:`SimulatedDrive` sample by sample);
    ``before_sample(k)`` is called before sample ``k`` is published."""
    drive = SimulatedDrive(loop, grid, clock, duration_s, response_timeout_s=response_timeout_s,
                           reports=reports, pace=pace)
    for k in range(drive.samples):
        if before_sample is not None:
            before_sample(k)
        drive.sample(k)
    return drive.finish()
