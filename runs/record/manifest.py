"""``manifest.json``: what a run was (mode, placement, resolved scenario, seed, versions)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import msgspec

MANIFEST = "manifest.json"
FORMAT = 1
"""The run record's layout version."""

_VERSIONED = ("vpp-swarm", "numpy", "msgspec", "pyzmq", "mesa", "pandas", "cvxpy", "highspy",
              "pvlib", "windpowerlib", "pandapower")


class Manifest(msgspec.Struct, kw_only=True):
    """What a run was and how it ended.

    Attributes:
        format: the record's layout version (:data:`FORMAT`).
        mode: the run mode's name (``merit_order``, ``admm``, ``grid_event``, ...).
        placement: where the agents ran (``local``, ``processes``, ``remote``).
        scenario_name: the scenario's ``name``.
        scenario_file: the scenario file as given, or None (built in code, or bundled).
        scenario: the scenario as run, every default filled in.
        seed: the seed the run used.
        started_utc: when the run started (ISO 8601).
        finished_utc: when it ended, or None while it runs.
        status: ``running``, ``finished`` or ``failed``.
        error: why it failed, or None.
        command: the command line that started it.
        versions: the versions of Python and the libraries that ran it.
        tables: the per-step tables written, by name (``steps``, ``sites``).
        details: anything else the mode or the placement records (processes, trace level).
    """

    format: int = FORMAT
    mode: str
    placement: str
    scenario_name: str
    scenario_file: str | None = None
    scenario: dict[str, Any]
    seed: int
    started_utc: str
    finished_utc: str | None = None
    status: str = "running"
    error: str | None = None
    command: list[str] = []
    versions: dict[str, str] = {}
    tables: dict[str, str] = {}
    details: dict[str, Any] = {}


def versions() -> dict[str, str]:
    """The versions of Python, the platform and the libraries a run depends on."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def now_utc() -> str:
    """The current instant, ISO 8601 in UTC, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def new_manifest(*, mode: str, placement: str, scenario: Any, seed: int,
                 scenario_file: str | Path | None = None, **details: Any) -> Manifest:
    """A manifest for a run starting now (``scenario``: a msgspec Struct or a mapping)."""
    resolved = msgspec.to_builtins(scenario)
    name = resolved.get("name", "") if isinstance(resolved, dict) else ""
    return Manifest(mode=mode, placement=placement, scenario_name=str(name),
                    scenario_file=None if scenario_file is None else str(scenario_file),
                    scenario=resolved if isinstance(resolved, dict) else {},
                    seed=seed, started_utc=now_utc(), command=list(sys.argv),
                    versions=versions(), details=details)


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` whole or not at all (a temporary file, then a rename)."""
    path = Path(run_dir) / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")
    os.replace(tmp, path)


def read_manifest(run_dir: Path | str) -> Manifest:
    """The manifest of the run in ``run_dir``.

    Raises:
        FileNotFoundError: the directory holds no run record.
        msgspec.ValidationError: the file is not a manifest (names the field).
    """
    data = (Path(run_dir) / MANIFEST).read_bytes()
    return msgspec.json.decode(data, type=Manifest)
