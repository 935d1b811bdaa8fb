"""Small scenarios for the operations tests."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

SMALL = {
    "name": "ops-small",
    "start": "2019-01-16T00:00:00Z",
    "step_minutes": 15,
    "steps": 8,
    "target": {"values_kw": [300.0] * 8},
    "negotiation": {"deadline_ms": 500, "max_rounds": 3},
    "sites": [
        {"name": "chp", "devices": [{"type": "flexible", "name": "engine", "p_max_kw": 400.0,
                                      "cost_eur_mwh": 80.0}]},
        {"name": "bess", "devices": [{"type": "battery", "name": "pack",
                                       "capacity_kwh": 500.0, "p_charge_kw": 250.0,
                                       "p_discharge_kw": 250.0, "state_of_charge": 0.5,
                                       "cost_eur_mwh": 20.0}]},
    ],
}


def write_small(path: Path, **changes) -> Path:
    """Write the small scenario (with top-level ``changes``) to ``path``, as an editor
    saves (a whole new file put in place: a watcher never reads a half-written one)."""
    data = {**SMALL, **changes}
    save(path, yaml.safe_dump(data, sort_keys=False))
    return path


def save(path: Path, text: str) -> None:
    """Put ``text`` in ``path`` at once (written beside it, then renamed over it)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class StepByStep:
    """A run made by :func:`vpp.runs.runner.build_run`, stepped one step per call with
    ``hooks`` around each step in the runner's order (``before_step``, the step, then
    ``after_step``), so that a test can look at it between steps."""

    def __init__(self, run, hooks=()) -> None:
        self.run = run
        self.hooks = list(hooks)
        self.done = 0

    def step(self) -> None:
        """Run the next step with the hooks around it."""
        k = self.done
        for hook in self.hooks:
            hook.before_step(k)
        self.run.step(k)
        for hook in self.hooks:
            hook.after_step(k)
        self.done += 1

    def close(self) -> None:
        """Close the hooks, then the run."""
        try:
            for hook in self.hooks:
                hook.close()
        finally:
            self.run.close()
