"""Which runs the explorer may show: run directories found in the folders it was given.

A run is addressed by a name, never by a path: a name resolves only to a directory found
by scanning the given folders (each folder itself when it is a run, else its children that
are runs and that stay inside it once links are resolved), so no name can reach outside.
"""

from __future__ import annotations

import threading
from pathlib import Path

from vpp.runs.explorer.record import RunRecord, is_run_dir


class UnknownRun(KeyError):
    """A run name that is not among the runs found."""


class Catalog:
    """The runs under some folders, found again whenever a name is not known yet (a run
    started after the server).

    Args:
        roots: run directories, or folders holding run directories.
    """

    def __init__(self, roots: list[Path]) -> None:
        self.roots = [Path(r) for r in roots]
        self._lock = threading.Lock()
        self._by_path: dict[Path, RunRecord] = {}
        self._by_name: dict[str, RunRecord] = {}
        self.scan()

    def _found(self) -> list[Path]:
        out = []
        for root in self.roots:
            if is_run_dir(root):
                out.append(root.resolve())
            elif root.is_dir():
                real_root = root.resolve()
                for child in sorted(root.iterdir()):
                    real = child.resolve()
                    if real.parent == real_root and is_run_dir(real):
                        out.append(real)
        return out

    def scan(self) -> list[RunRecord]:
        """Look for runs again; records already open are kept (with their indexes)."""
        with self._lock:
            by_name: dict[str, RunRecord] = {}
            for path in self._found():
                record = self._by_path.get(path)
                if record is None:
                    name, n = path.name, 1
                    taken = {r.name for r in self._by_path.values()} | set(by_name)
                    while name in taken:
                        n += 1
                        name = f"{path.name}-{n}"
                    record = self._by_path[path] = RunRecord(path, name)
                by_name[record.name] = record
            self._by_name = by_name
            return sorted(by_name.values(), key=lambda r: r.modified(), reverse=True)

    def get(self, name: str) -> RunRecord:
        """The run called ``name``.

        Raises:
            UnknownRun: when no run found under the roots has that name.
        """
        record = self._by_name.get(name)
        if record is None:
            self.scan()
            record = self._by_name.get(name)
        if record is None or not is_run_dir(record.path):
            raise UnknownRun(name)
        return record
