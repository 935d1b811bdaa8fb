"""A run directory claimed before any work starts: writable, not in use, not a finished run.

Every command that writes a run directory (``vpp run``, ``vpp aggregator``, ``vpp site``,
``vpp backtest``) claims it first with :func:`claim`:

- the folder is made (or must be a folder) and must be writable;
- a lock is held on a file in it for as long as the process runs (``fcntl.flock`` on
  ``.vpp-<name>.lock``: the kernel lets it go when the process ends, however it ends); the
  file says who holds it (pid, host, command, since when), so a second process that
  wants the same lock is refused with those facts. The run's owner takes ``run``; a site
  process takes ``site-<host>``, so that site processes may write their shards into the
  aggregator's run directory (as ``vpp run --processes`` does) but two processes never
  write one shard;
- the owner of a run (``fresh``) refuses a folder that holds a run already
  (``summary.json``, the run record's ``manifest.json``, or a shard in ``trace/``): its trace would be read as one with the
  new run's, counting both. ``--overwrite`` removes those first.

A write that fails for want of space (``ENOSPC``, ``EDQUOT``, ``EFBIG``) is
:func:`disk_full`; the commands then end with a clear error, leaving the trace as it was at
its last complete flush (SQLite rolls the failed one back). See ``docs/deployment.md``.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import shutil
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
"""``errno`` values that mean the disk (or the process's file size limit) is full."""


class OutputError(Exception):
    """A run directory that cannot be used (the message names the option and the folder)."""


def disk_full(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says there is no room to write."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in SPACE_ERRNOS:
            return True
        text = str(exc)
        if "disk is full" in text or "database or disk is full" in text:
            return True
        exc = exc.__cause__
    return False


def why_no_room(run_dir: Path | str) -> str | None:
    """What stops writes in ``run_dir`` for want of room, when something does: the file
    system nearly full, or a file size limit (``ulimit -f``) on this process. SQLite
    reports both as a "disk I/O error" without the system's errno, so this looks."""
    notes = []
    try:
        free = shutil.disk_usage(run_dir).free
        if free < 1 << 20:
            notes.append(f"{free} bytes free on its file system")
    except OSError:
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY:
        notes.append(f"this process may not write files over {soft} bytes (ulimit -f)")
    return "; ".join(notes) or None


@dataclass
class RunDirLock:
    """A claimed run directory; the lock is let go by :meth:`release`, when this object is
    collected (keep a reference for as long as the run lasts) or when the process ends."""

    run_dir: Path
    path: Path
    fd: int | None

    def release(self) -> None:
        """Let the lock go (the lock file stays, naming its last holder)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self) -> None:
        self.release()


def holder_text(path: Path) -> str:
    """Who holds (or last held) a lock file, in words."""
    try:
        info = json.loads(path.read_text(encoding="utf-8")[:4096])
        return (f"pid {info['pid']} on {info['host']} ({info['command']}), since "
                f"{info['since']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its lock file does not say which)"


def _finished(run_dir: Path) -> list[str]:
    # a finished run is named by its summary; the manifest names one that did not finish
    found = [next((p for p in (run_dir / "summary.json", run_dir / "manifest.json")
                   if p.exists()), None)]
    found = [p for p in found if p is not None]
    trace = run_dir / "trace"
    if trace.is_dir():
        found += sorted(trace.glob("*.sqlite"))
    return [str(p.relative_to(run_dir)) for p in found]


def _remove_run(run_dir: Path) -> None:
    (run_dir / "summary.json").unlink(missing_ok=True)
    (run_dir / "manifest.json").unlink(missing_ok=True)
    trace = run_dir / "trace"
    if trace.is_dir():
        for shard in trace.glob("*.sqlite"):
            for part in (shard, shard.with_name(shard.name + "-wal"),
                         shard.with_name(shard.name + "-shm")):
                part.unlink(missing_ok=True)


def claim(run_dir: Path | str, *, name: str = "run", option: str = "--out",
          fresh: bool = True, overwrite: bool = False) -> RunDirLock:
    """Claim ``run_dir`` for this process (see the module's text).

    Args:
        run_dir: the folder (made when missing).
        name: the lock's name: ``run`` for a run's owner, ``site-<host>`` for a site process.
        option: the option that named the folder, for the messages.
        fresh: refuse a folder that holds a run already (a run's owner).
        overwrite: with ``fresh``, remove that run's summary and trace shards instead.

    Raises:
        OutputError: not a folder, not writable, in use (naming the holder), or holding a
            finished run.
    """
    run_dir = Path(run_dir)
    where = f"{option} {run_dir}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{where}: not a folder") from None
    except OSError as exc:
        raise OutputError(f"{where}: cannot make the folder ({exc.strerror})") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{where}: not writable by this user")
    path = run_dir / f".vpp-{name}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"{where}: cannot write in it ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutputError(f"{where}: in use by {holder_text(path)}; give another "
                          f"{option}") from None
    lock = RunDirLock(run_dir, path, fd)
    try:
        if fresh:
            found = _finished(run_dir)
            if found and not overwrite:
                raise OutputError(
                    f"{where}: holds a run already ({', '.join(found[:4])}); give another "
                    f"{option}, or --overwrite to replace it")
            if found:
                _remove_run(run_dir)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "command": " ".join(["vpp", *sys.argv[1:]])[:300],
                "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    except OSError as exc:
        lock.release()
        if disk_full(exc):
            raise OutputError(f"{where}: no room to write ({exc.strerror})") from None
        raise OutputError(f"{where}: cannot write in it ({exc.strerror})") from None
    except OutputError:
        lock.release()
        raise
    return lock
