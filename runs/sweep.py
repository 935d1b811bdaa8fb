"""Sweeps: the product of a few fields' values (and seeds) run as a grid of ordinary runs,
each its own run directory, in parallel processes, with one table row per run.

A sweep's folder holds ``sweep.json`` (what it is: the scenario file, the values, the
seeds; a restart must ask for the same), ``run-001/`` ... (each a normal run record, the
run's changes and seed in its manifest), and ``sweep.csv`` (one row per run: its values,
its seed, its headline numbers from ``summary.json``). A run whose ``summary.json`` is
there is finished and is not redone, so a sweep interrupted and started again finishes
what is left. A run that fails (a combination the checks refuse) has its error in its row
and does not stop the others.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import msgspec

TIMING = ("build_s", "steps_s", "wall_s", "write_s", "startup_s", "figures_s", "command_s")
"""Summary numbers that time the run (not part of its results; left out of the table)."""


class SweepError(ValueError):
    """A sweep that cannot start (a bad ``--set``, a folder holding another sweep)."""


class SweepRun(msgspec.Struct, frozen=True):
    """One run of a sweep: its folder's name, its changes and its seed."""

    name: str
    changes: dict[str, Any]
    seed: int


class SweepPlan(msgspec.Struct, frozen=True):
    """What a sweep is (``sweep.json``): the scenario file, each field's values, the seeds."""

    scenario: str
    values: dict[str, list[Any]]
    seeds: list[int]

    def runs(self) -> list[SweepRun]:
        """The product of the values and the seeds, in order (the last field varies
        fastest, then the seed)."""
        fields = list(self.values)
        out = []
        for combo in itertools.product(*(self.values[f] for f in fields)):
            for seed in self.seeds:
                out.append(SweepRun(f"run-{len(out) + 1:03d}", dict(zip(fields, combo)), seed))
        return out


def parse_sets(sets: Sequence[str]) -> dict[str, list[Any]]:
    """``["steps=24,48", "sites[chp].strategy=markup"]`` -> ``{"steps": [24, 48], ...}``:
    each value read as YAML (``48`` a number, ``markup`` a text, ``[1, 2]`` a list; commas
    inside brackets belong to the value).

    Raises:
        SweepError: a ``--set`` without ``=`` or without a value, or a field set twice.
    """
    import yaml

    out: dict[str, list[Any]] = {}
    for item in sets:
        field, eq, text = item.partition("=")
        field = field.strip()
        if not eq or not field or not text.strip():
            raise SweepError(f"--set {item!r}: expected FIELD=VALUE[,VALUE...]")
        if field in out:
            raise SweepError(f"--set {field}: given twice")
        try:
            out[field] = [yaml.safe_load(part) for part in _split(text)]
        except yaml.YAMLError as exc:
            raise SweepError(f"--set {item!r}: a value is not readable ({exc})") from None
    return out


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [p for p in parts if p]


def make_plan(scenario: str | Path, values: dict[str, list[Any]], seeds: int | None = None,
              ) -> SweepPlan:
    """A sweep of the scenario file: ``seeds`` N runs each combination with the
    scenario's seed, +1, ... +N-1 (without it, with the scenario's seed only).

    Raises:
        vpp.runs.scenario.ScenarioError: the scenario file, or a path of ``values``, at
            fault (the first combination is checked before anything runs).
    """
    from vpp.runs import modes

    first = {field: vals[0] for field, vals in values.items()}
    doc, _ = modes.load(scenario, changes=first)
    base = int(getattr(doc, "seed", 0))
    if seeds is not None and seeds < 1:
        raise SweepError(f"--seeds {seeds}: at least 1")
    return SweepPlan(str(Path(scenario).resolve()), values,
                     [base + k for k in range(seeds or 1)])


def run_one(scenario: str, changes: dict[str, Any], seed: int, out: str) -> dict[str, Any]:
    """One run of a sweep, in a worker process: its summary (or ``{"error": ...}``)."""
    import vpp
    from vpp.runs.scenario import ScenarioError

    try:
        return dict(vpp.run(scenario, out=out, seed=seed, changes=changes,
                            overwrite=True).summary)
    except ScenarioError as exc:
        return {"error": str(exc)}


def headline(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary's headline numbers: its top-level numbers and texts, timings left out,
    and a backtest's per-trader numbers as ``TRADER.profit_eur``, ..."""
    out = {k: v for k, v in summary.items()
           if isinstance(v, (int, float, str, bool)) and k not in TIMING}
    traders = summary.get("traders")
    for row in traders if isinstance(traders, list) else []:
        if isinstance(row, dict) and isinstance(row.get("trader"), str):
            out.update({f"{row['trader']}.{k}": v for k, v in row.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return out


def sweep(scenario: str | Path, values: dict[str, list[Any]], out: str | Path, *,
          seeds: int | None = None, processes: int = 1,
          done: Callable[[SweepRun, dict[str, Any], bool], None] | None = None) -> Any:
    """Run a sweep (see the module's text) into ``out``; return its table (a pandas
    DataFrame, one row per run, also written to ``out/sweep.csv``).

    Args:
        scenario: the scenario (or backtest) file.
        values: each field path's values (``{"sites[chp].devices[0].p_max_kw": [100, 200]}``).
        out: the sweep's folder; one that holds this same sweep is resumed.
        seeds: run each combination with this many seeds.
        processes: runs at once, each in its own process (1: one after another, here).
        done: called with (run, summary, whether it was already there) as each ends.

    Raises:
        SweepError: ``out`` holds a different sweep.
        vpp.runs.scenario.ScenarioError: the scenario or a field path at fault.
    """
    out = Path(out)
    plan = make_plan(scenario, values, seeds)
    out.mkdir(parents=True, exist_ok=True)
    record = out / "sweep.json"
    if record.exists():
        before = msgspec.json.decode(record.read_bytes())
        if before != msgspec.to_builtins(plan):
            raise SweepError(f"{out} holds another sweep ({record}); give another --out")
    else:
        record.write_bytes(msgspec.json.format(msgspec.json.encode(plan), indent=2))
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for run in plan.runs():
        summary_file = out / run.name / "summary.json"
        if summary_file.exists():
            results[run.name] = json.loads(summary_file.read_text())
            if done:
                done(run, results[run.name], True)
        else:
            todo.append(run)
    if processes <= 1:
        for run in todo:
            results[run.name] = run_one(plan.scenario, run.changes, run.seed,
                                        str(out / run.name))
            if done:
                done(run, results[run.name], False)
    elif todo:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no ZeroMQ context shared by fork
        pool = ProcessPoolExecutor(max_workers=processes, mp_context=context)
        try:
            futures = {pool.submit(run_one, plan.scenario, run.changes, run.seed,
                                   str(out / run.name)): run for run in todo}
            for future in as_completed(futures):
                run = futures[future]
                results[run.name] = future.result()
                if done:
                    done(run, results[run.name], False)
        except KeyboardInterrupt:  # the runs not started are not started; run again to finish
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return write_table(plan, results, out)


def write_table(plan: SweepPlan, results: dict[str, dict[str, Any]], out: Path) -> Any:
    """The sweep's table, in the plan's order, written to ``out/sweep.csv``."""
    import pandas as pd

    rows = []
    for run in plan.runs():
        summary = results.get(run.name, {"error": "not run"})
        row = {"run": run.name, **{f: _cell(v) for f, v in run.changes.items()},
               "seed": run.seed}
        row.update(headline(summary))
        rows.append(row)
    table = pd.DataFrame(rows)
    if "error" not in table:
        table["error"] = ""
    table["error"] = table["error"].fillna("")
    table.to_csv(out / "sweep.csv", index=False)
    return table


def _cell(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else \
        json.dumps(value)
