"""The runner: the only step loop, for every mode and placement.

:class:`Runner` opens the run record (``manifest.json`` first), has the mode build its
run for the placement, steps it from 0 to the end with the ops hooks around every step
(reload, alerts, metrics), streams each step's rows into ``steps.csv`` and ``sites.csv``,
then writes ``summary.json`` and marks the manifest finished. A run that raises is
marked failed with the reason, and keeps every step it finished. See
``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vpp.runs.modes.base import Mode, ModeRun, RunContext
from vpp.runs.placement.base import RunStopped
from vpp.runs.record import RunRecord
from vpp.runs.record.manifest import new_manifest
from vpp.runs.record.trace_level import choose_level, manifest_details
from vpp.runs.stages import announce

log = logging.getLogger(__name__)


class StepHook(Protocol):
    """Something the runner calls around every step (a reloader, alert rules, metrics)."""

    def before_step(self, step: int) -> None:
        """Called before step ``step`` runs."""
        ...

    def after_step(self, step: int) -> None:
        """Called once step ``step`` has run and been recorded."""
        ...

    def summary(self) -> dict[str, Any]:
        """What the hook adds to the run's summary (``{}`` for nothing)."""
        ...

    def close(self) -> None:
        """Called once the run has ended, whatever happened."""
        ...


class AfterEachStep:
    """A step hook that calls ``progress(steps done)`` once each step has run and been
    recorded (a test's or a benchmark's pace, a live count); adds nothing to the summary."""

    def __init__(self, progress: Callable[[int], Any]) -> None:
        self.progress = progress

    def before_step(self, step: int) -> None:
        """Nothing before a step."""

    def after_step(self, step: int) -> None:
        """``progress(step + 1)``."""
        self.progress(step + 1)

    def summary(self) -> dict[str, Any]:
        """Nothing added to the summary."""
        return {}

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class RunResult:
    """A finished run.

    Attributes:
        summary: the totals (also in ``summary.json``).
        out_dir: the run's directory.
        mode: the mode's name.
        placement: the placement's name.
        figures: the figures the mode drew.
        run: the mode's run object, closed (its agents and outcomes, to look at).
    """

    summary: dict[str, Any]
    out_dir: Path
    mode: str
    placement: str
    figures: list[Path] = field(default_factory=list)
    run: Any = None


class Runner:
    """Runs one scenario in one mode and placement, into one run directory.

    Args:
        mode: the run mode (:mod:`vpp.runs.modes`).
        scenario: the validated scenario.
        context: where and how (run directory, seed, scenario file, placement, options).
        hooks: called before and after every step, in order.
        progress: called with the number of steps done after each step.
        on_built: called with the mode's run once it is built, before any step (e.g. to
            attach metrics to its hosts); may return hooks to add.
        started: when the command started (``time.monotonic()``, e.g. the process's
            start): the summary then has ``startup_s``, the time from there to the
            runner's start.

    The runner announces the stages ``building`` and ``steps`` (:mod:`vpp.runs.stages`);
    the mode and placement announce theirs in between.
    """

    def __init__(self, mode: Mode, scenario: Any, context: RunContext, *,
                 hooks: Sequence[StepHook] = (),
                 progress: Callable[[int, int], None] | None = None,
                 on_built: Callable[[ModeRun], Sequence[StepHook] | None] | None = None,
                 started: float | None = None) -> None:
        self.mode = mode
        self.scenario = scenario
        self.context = context
        self.hooks = list(hooks)
        self.progress = progress
        self.on_built = on_built
        self.started = started
        self.run_obj: ModeRun | None = None

    @property
    def placement_name(self) -> str:
        """The placement's name, as the manifest records it."""
        return self.context.placement.name

    def run(self, *, plot: bool = False) -> RunResult:
        """Build, step, record and summarize the run; draw its figures when ``plot``.

        A run that stops (:class:`~vpp.runs.placement.base.RunStopped`: a fleet gone, a
        step that never ends) keeps its steps, writes the summary of what it did with the
        reason (``stopped``), marks the manifest failed and raises. Any other error marks
        the manifest failed with the reason, keeps the steps written, and raises.
        """
        ctx = self.context
        startup_s = None if self.started is None else time.monotonic() - self.started
        announce("building")
        currency = _currency(self.scenario, ctx.scenario_path)  # before any work: mixed fail
        try:
            level, _ = choose_level(ctx.options.get("trace"), self.scenario)
        except ValueError as exc:
            raise ValueError(f"trace: {exc}") from None
        ctx.options["trace"] = level.text  # what every placement's shards record
        record = RunRecord(ctx.out_dir, new_manifest(
            mode=self.mode.name, placement=self.placement_name, scenario=self.scenario,
            seed=ctx.seed, scenario_file=ctx.scenario_path,
            **manifest_details(level, self.scenario, ctx.seed)))
        t_build = time.perf_counter()
        stopped: RunStopped | None = None
        try:
            run = self.run_obj = self.mode.build(self.scenario, ctx)
            try:
                if self.on_built is not None:
                    self.hooks += list(self.on_built(run) or ())
                build_s = time.perf_counter() - t_build
                t0 = time.perf_counter()
                announce("steps")
                try:
                    self._steps(run, record)
                except RunStopped as exc:
                    stopped = exc
                steps_s = time.perf_counter() - t0
                summary = run.summary()
                for hook in self.hooks:
                    summary.update(hook.summary())
            finally:
                try:
                    run.close()
                finally:
                    for hook in self.hooks:
                        hook.close()
        except BaseException as exc:
            record.close_tables()
            record.manifest.details.update(ctx.meta)
            record.mark(f"{type(exc).__name__}: {exc}")
            raise
        summary.setdefault("mode", self.mode.name)
        summary.setdefault("placement", self.placement_name)
        if currency is not None:
            summary.setdefault("currency", currency)  # of every money figure (docs/data.md)
        summary["build_s"] = round(build_s, 4)
        summary["steps_s"] = round(steps_s, 4)
        if startup_s is not None:
            summary["startup_s"] = round(startup_s, 4)
        summary["out_dir"] = str(ctx.out_dir)
        record.manifest.details.update(ctx.meta)
        if stopped is not None:
            summary["stopped"] = str(stopped)
            record.finish(summary, error=str(stopped))
            raise stopped
        record.finish(summary)
        figures = self.mode.plot(ctx.out_dir, run) if plot else []
        return RunResult(summary, Path(ctx.out_dir), self.mode.name, self.placement_name,
                         figures, run)

    def _steps(self, run: ModeRun, record: RunRecord) -> None:
        """The step loop: hooks before, the step, its record, hooks after, progress."""
        for k in range(run.steps):
            for hook in self.hooks:
                hook.before_step(k)
            step = run.step(k)
            record.step(k, run.step_time(k), step.row, step.sites)
            for hook in self.hooks:
                hook.after_step(k)
            if self.progress is not None:
                self.progress(k + 1, run.steps)


def build_run(scenario: Any, out_dir: Path | str, *, scenario_path: Path | None = None,
              seed: int | None = None, placement: Any = None,
              **options: Any) -> tuple[Mode, ModeRun]:
    """The mode of ``scenario`` and its run, built and not yet stepped: to drive it step
    by step (``run.step(k)``, ``run.summary()``, then ``run.close()``), as tests and
    benchmarks do. :class:`Runner` is what runs and records a whole run."""
    from vpp.runs import modes
    from vpp.runs.placement.local import LocalPlacement

    mode = modes.select(scenario)
    context = RunContext(Path(out_dir), getattr(scenario, "seed", 0) if seed is None else seed,
                         scenario_path, placement or LocalPlacement(), options=dict(options))
    return mode, mode.build(scenario, context)


def run_scenario(scenario: Any, out_dir: Path | str, *, scenario_path: Path | None = None,
                 seed: int | None = None, placement: Any = None,
                 hooks: Sequence[StepHook] = (), plot: bool = False,
                 **options: Any) -> RunResult:
    """Run ``scenario`` to its end into ``out_dir`` with :class:`Runner` (its mode
    selected, one process unless ``placement`` says otherwise); return the result."""
    from vpp.runs import modes
    from vpp.runs.placement.local import LocalPlacement

    mode = modes.select(scenario)
    context = RunContext(Path(out_dir), getattr(scenario, "seed", 0) if seed is None else seed,
                         scenario_path, placement or LocalPlacement(), options=dict(options))
    return Runner(mode, scenario, context, hooks=hooks).run(plot=plot)


def _currency(scenario: Any, scenario_path: Path | None) -> str | None:
    """The currency of a scenario's money (its price data's; EUR by default); None for
    something that is not a scenario."""
    from vpp.runs.scenario import Scenario
    from vpp.runs.scenario.prices import scenario_currency

    if not isinstance(scenario, Scenario):
        return None
    return scenario_currency(scenario, scenario_path)
