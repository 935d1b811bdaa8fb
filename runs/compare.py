"""Two runs side by side (``vpp compare``, ``vpp.compare``): what differed in what was run
(the scenario's fields, the seed, the mode) and in what came out (each headline number
of ``summary.json``: both values, the difference, the change in percent)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Comparison:
    """Two runs compared.

    Attributes:
        inputs: ``(field path, A's value, B's value)`` for each field of the run that
            differs (``seed``, ``mode``, ``scenario.sites[1].devices[0].p_max_kw``, ...).
        numbers: a pandas DataFrame indexed by the summary's headline numbers, with
            columns ``a``, ``b``, ``difference`` (b - a) and ``change_pct`` (None from 0).
        texts: ``(name, A's, B's)`` for the summary's texts that differ.
    """

    inputs: list[tuple[str, Any, Any]]
    numbers: Any
    texts: list[tuple[str, Any, Any]]


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Plain data as ``{field path: leaf}`` (``sites[1].devices[0].p_max_kw``)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def compare_runs(a: str | Path, b: str | Path) -> Comparison:
    """Compare run ``a`` with run ``b`` (their folders).

    Raises:
        FileNotFoundError: a folder without a finished run (no ``summary.json``).
    """
    import msgspec
    import pandas as pd
    from vpp.runs.record.reader import RunRecordReader
    from vpp.runs.sweep import headline

    runs = [RunRecordReader(Path(p)) for p in (a, b)]
    for run in runs:
        if not (run.dir / "summary.json").is_file():
            raise FileNotFoundError(f"{run.dir}: no finished run (no summary.json)")
    flat = []
    for run in runs:
        manifest = run.manifest
        flat.append({"mode": manifest.mode, "placement": manifest.placement,
                     "seed": manifest.seed,
                     **flatten(msgspec.to_builtins(manifest.scenario), "scenario")})
    keys = list(flat[0]) + [k for k in flat[1] if k not in flat[0]]
    inputs = [(k, flat[0].get(k), flat[1].get(k)) for k in keys
              if flat[0].get(k) != flat[1].get(k)]
    heads = [headline(run.summary) for run in runs]
    names = list(heads[0]) + [k for k in heads[1] if k not in heads[0]]
    rows, texts = [], []
    for name in names:
        x, y = heads[0].get(name), heads[1].get(name)
        if _number(x) and _number(y):
            diff = y - x
            rows.append({"name": name, "a": x, "b": y, "difference": diff,
                         "change_pct": (100.0 * diff / abs(x)) if x else None})
        elif x != y:
            texts.append((name, x, y))
    numbers = pd.DataFrame(rows, columns=["name", "a", "b", "difference", "change_pct"])
    return Comparison(inputs, numbers.set_index("name"), texts)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compared_columns(a: str | Path, b: str | Path, most: int = 4
                     ) -> tuple[list[str], list[Any]]:
    """The per-step power columns (``*_kw``) both runs hold, in A's order (at most
    ``most``), and the two runs' ``steps`` tables (time-indexed DataFrames)."""
    from vpp.runs.record.reader import RunRecordReader

    frames = [RunRecordReader(Path(p)).steps for p in (a, b)]
    columns = [c for c in frames[0].columns if c in frames[1].columns and c != "step"
               and frames[0][c].dtype.kind in "fi" and c.endswith("_kw")][:most]
    return columns, frames


def plot_comparison(a: str | Path, b: str | Path, path: str | Path) -> Path:
    """Draw both runs' per-step columns that they share (:func:`compared_columns`: served
    against target, ...) over clock time in one figure, A solid and B dashed; return the
    file. Needs the ``plots`` extra."""
    from vpp.physics.extras import require

    require("plots", "vpp compare --plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns, frames = compared_columns(a, b)
    rows = max(len(columns), 1)
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.4 * rows), sharex=True, squeeze=False)
    for ax, column in zip(axes[:, 0], columns):
        ax.plot(frames[0].index, frames[0][column], label=f"A {Path(a).name}")
        ax.plot(frames[1].index, frames[1][column], "--", label=f"B {Path(b).name}")
        ax.set_ylabel(column.replace("_kw", " (kW)"))
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
