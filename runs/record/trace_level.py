"""The trace level of a run: the one asked for (``--trace``), or the default by size.

The default is ``full`` (every message) while the run's estimated messages,
:data:`MESSAGES_PER_SITE_STEP` x sites x steps, are at most :data:`FULL_UP_TO_MESSAGES`
(1,000 sites x 96 steps: 384,000), and ``rounds`` beyond (10,000 sites x 96 steps, a
year of 1,000 sites); the level chosen that way comes with a one-line notice. The levels
are :mod:`vpp.agents.runtime.trace_level`'s; ``docs/runtime.md`` ("Trace levels").
"""

from __future__ import annotations

from typing import Any

from vpp.agents.runtime.trace_level import (
    FULL,
    ROUNDS,
    TraceLevel,
    parse_level,
    sample_sites,
)

FULL_UP_TO_MESSAGES = 2_000_000
"""The estimated messages up to which a run is traced in ``full`` by default."""

MESSAGES_PER_SITE_STEP = 4
"""Messages a site takes part in per step, for the estimate: merit order's call for bids,
bid, award and dispatch (a 1,000-site, 96-step run sends 384,096)."""


def _fleet(scenario: Any) -> list[str]:
    """The scenario's sites in order (none for a document without sites: a backtest)."""
    names = getattr(scenario, "site_names", None)
    return list(names()) if callable(names) else []


def estimated_messages(scenario: Any, steps: int | None = None) -> int:
    """The messages a run of ``scenario`` is estimated to send (see the module's text),
    over ``steps`` steps when given (else the scenario's)."""
    if steps is None:
        steps = int(getattr(scenario, "steps", 0) or 0)
    return MESSAGES_PER_SITE_STEP * len(_fleet(scenario)) * steps


def choose_level(option: str | TraceLevel | None, scenario: Any, steps: int | None = None,
                 ) -> tuple[TraceLevel, str | None]:
    """The level of a run of ``scenario``: ``option`` parsed (:class:`ValueError` for a bad
    one), or the default by size when None (the size of a run of ``steps`` steps when
    given: a benchmark's slice of a longer run takes the longer run's level); with a
    one-line notice when the default is not ``full``."""
    if option is not None:
        return parse_level(option), None
    estimate = estimated_messages(scenario, steps)
    if estimate <= FULL_UP_TO_MESSAGES:
        return FULL, None
    return ROUNDS, (f"trace level rounds (no message rows): about {estimate:,} messages is "
                    f"over the {FULL_UP_TO_MESSAGES:,} traced in full by default "
                    "(--trace full to keep them)")


def run_level(context: Any, scenario: Any) -> TraceLevel:
    """The level of the run in ``context`` (its ``trace`` option, or the default)."""
    return choose_level(context.options.get("trace"), scenario)[0]


def apply_level(recorder: Any, context: Any, scenario: Any) -> TraceLevel:
    """Set ``recorder`` (a :class:`~vpp.agents.runtime.trace.TraceRecorder`) to the run's
    level, its sample drawn from the fleet and the run's seed; return the level."""
    level = run_level(context, scenario)
    recorder.set_level(level, _fleet(scenario), context.seed)
    return level


def manifest_details(level: TraceLevel, scenario: Any, seed: int) -> dict[str, Any]:
    """What the manifest records of the level: ``trace`` (the level), and for
    ``sample:N`` the sites sampled (``trace_sampled``) out of ``trace_sites``."""
    out: dict[str, Any] = {"trace": level.text}
    if level.kind == "sample":
        fleet = _fleet(scenario)
        out["trace_sampled"] = sample_sites(fleet, level.n, seed)
        out["trace_sites"] = len(fleet)
    return out
