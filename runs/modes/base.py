"""What a run mode is: the interface every mode implements, and what it gives the runner.

A :class:`Mode` says whether it applies to a scenario, checks it (errors name the field),
and builds a :class:`ModeRun` for a placement. The runner (:mod:`vpp.runs.runner`) owns the
only step loop: it calls :meth:`ModeRun.step` for every step, writes what it returns into
the run record, calls the ops hooks around it, then asks the run for its summary. See
``docs/modes.md`` for a worked example.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

Fail = Callable[[str, str], None]
"""``fail(path, message)``: report a scenario error at the field ``$.path`` (raises)."""


def names_cell(names: Sequence[str], limit: int = 10) -> str:
    """A summary table's cell naming ``names`` (``none`` when empty): all of them up to
    ``limit``, else the first ``limit`` and how many more (a lost region process's 50,000
    sites are not one cell; ``summary.json`` keeps the whole list)."""
    if not names:
        return "none"
    if len(names) <= limit:
        return ", ".join(names)
    return (f"{', '.join(names[:limit])} and {len(names) - limit:,} more "
            f"({len(names):,} in all; every name in summary.json)")


def phase_deadline_ms(deadline_ms: int, fleet: Any, context: RunContext | None = None,
                      field: str = "negotiation.deadline_ms") -> int:
    """The phase (or round) deadline for ``fleet``: the scenario's ``deadline_ms`` (at
    ``field``), or the fleet's floor (:meth:`~vpp.runs.placement.base.Fleet.deadline_floor_ms`)
    when that is longer. A raised deadline is logged and, with ``context``, written to the
    manifest (``details.deadline_ms``): a deadline shorter than a site process needs to
    answer would find every site of it silent, each step."""
    floor = fleet.deadline_floor_ms()
    if floor <= deadline_ms:
        return deadline_ms
    logging.getLogger(__name__).warning(
        "%s %d is shorter than the largest site process needs to answer a call to all its "
        "sites; the run uses %d ms", field, deadline_ms, floor)
    if context is not None:
        context.meta["deadline_ms"] = {
            "scenario": deadline_ms, "used": floor, "field": field,
            "why": (f"the largest site process's sites at {context.site_call_ms:g} ms a "
                    "site (the time it may take to answer a call to all of them)")}
    return floor


class ReportTable(NamedTuple):
    """A table of a run's report: a title, column names, rows of values (the terminal
    formats them: ``vpp.runs.cli.common.table``)."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


Report = list["ReportTable | str"]
"""What a run says when it ends: tables and lines of text, in order."""


class StepRecord(NamedTuple):
    """What one step gives the run record.

    Attributes:
        row: the step's columns for ``steps.csv`` (the same keys every step).
        sites: one mapping per site for ``sites.csv``, each with a ``site`` key.
    """

    row: Mapping[str, Any]
    sites: Sequence[Mapping[str, Any]] = ()


@dataclass
class RunContext:
    """What a mode is given to build its run.

    Attributes:
        out_dir: the run's directory (the trace shards go under it).
        seed: the seed of this run (the scenario's unless overridden).
        scenario_path: the scenario file, or None (data paths then resolve against the
            bundled data only).
        placement: where the agents live (:mod:`vpp.runs.placement`).
        options: mode-specific options from the command line (e.g. ``pace``).
        meta: what the mode adds to the manifest's ``details`` while it builds.
        site_call_ms: how long a site process may take, per site it serves, to answer one
            call to all its sites: the allowance behind its link timeout and the
            deadline floor (the merit order's 0.2 ms; an ADMM run sets its own before it
            opens the placement, a local solve being costlier).
    """

    out_dir: Path
    seed: int
    scenario_path: Path | None
    placement: Any
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    site_call_ms: float = 0.2


class ModeRun(Protocol):
    """One mode's run of one scenario, built for a placement; the runner steps it.

    Attributes:
        steps: how many steps the run has.
        hosts: the hosts of this process (the ops metrics read their counters).
        ops_host: the host an ops agent joins (hot reload, alerts), or None when the run
            has no agents.
    """

    steps: int
    hosts: Sequence[Any]
    ops_host: Any

    def step_time(self, k: int) -> datetime:
        """The start instant (UTC) of step ``k``."""
        ...

    def step(self, k: int) -> StepRecord:
        """Run step ``k`` (0, 1, ... in order) and return its record."""
        ...

    def summary(self) -> dict[str, Any]:
        """The run's totals (``summary.json``), once the steps have run."""
        ...

    def register_metrics(self, metrics: Any) -> None:
        """Register the run's own figures with ``metrics`` (its hosts are already)."""
        ...

    def applier(self, scenario_path: Path) -> Any:
        """What applies validated edits of the scenario file live
        (:class:`vpp.runs.ops.appliers.Applier`), or None when the mode cannot."""
        ...

    def close(self) -> None:
        """Release sockets, processes and files (idempotent)."""
        ...


class Mode:
    """A kind of run. Subclass it, give the class attributes, implement :meth:`applies` and
    :meth:`build`; register it (:func:`vpp.runs.modes.register`, or the entry-point group
    ``vpp.modes``).

    Attributes:
        name: the mode's name (``manifest.json``'s ``mode``, a scenario's ``mode:``).
        title: a few words for people (``vpp modes`` lists them).
        placements: the placements it can run in (``local``, ``processes``, ``remote``).
        live_edits: its runs apply validated edits of the scenario file live (``--watch``;
            :meth:`ModeRun.applier`): commands refuse ``--watch`` up front when not.
        step_unit: what one of its steps is called (``step``; a grid event's is a frequency
            ``sample``): the summary's reload records say ``from_<step_unit>``.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    placements: ClassVar[frozenset[str]] = frozenset({"local"})
    live_edits: ClassVar[bool] = False
    step_unit: ClassVar[str] = "step"

    def recognizes(self, data: Mapping[str, Any]) -> bool:
        """True when a file's data is this mode's own kind of document rather than a
        scenario (a backtest file); the default: False."""
        return False

    def parse(self, data: Any, where: str, limits: Any = None) -> Any:
        """Validate the data of a document this mode :meth:`recognizes` (errors name the
        field). Only modes with a document of their own implement it."""
        raise NotImplementedError(f"the {self.name} mode reads scenarios")

    def applies(self, scenario: Any) -> bool:
        """True when this mode runs ``scenario`` (its sections ask for it)."""
        raise NotImplementedError

    def check(self, scenario: Any, fail: Fail) -> None:
        """Check what only this mode needs of ``scenario``; call ``fail(path, message)``
        at the first problem. The default checks nothing."""

    def placement_problem(self, scenario: Any, placement: str) -> str | None:
        """Why ``scenario`` cannot run in ``placement`` (naming the field), or None. The
        default: any placement the mode lists in :attr:`placements`."""
        if placement in self.placements:
            return None
        return (f"the {self.name} mode runs in {', '.join(sorted(self.placements))}, not "
                f"{placement}")

    def build(self, scenario: Any, context: RunContext) -> ModeRun:
        """Build the run's agents for ``context.placement``; nothing has run yet."""
        raise NotImplementedError

    def summary_rows(self, summary: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The summary as (quantity, value) rows for the terminal. The default: every
        number and string of the summary, in its order."""
        return [(k, v) for k, v in summary.items()
                if isinstance(v, (int, float, str)) and not isinstance(v, bool)]

    def report(self, summary: Mapping[str, Any]) -> Report:
        """The run's report for people: by default one table of :meth:`summary_rows`."""
        return [ReportTable(f"run {summary.get('scenario', self.name)}"
                            + (f" (seed {summary['seed']})" if "seed" in summary else ""),
                            ("quantity", "value"), self.summary_rows(summary))]

    def plot(self, run_dir: Path, run: Any = None) -> list[Path]:
        """Draw the run's figures into ``run_dir`` (from its record, or from ``run``, the
        finished run's objects, when given); return the files written. The default draws
        nothing."""
        return []
