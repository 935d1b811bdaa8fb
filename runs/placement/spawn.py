"""Site processes on this machine, from a fork server, torn down without orphans.

:class:`SiteSpawner` starts site processes (:func:`vpp.runs.placement.site_process.serve_sites`) from a
``multiprocessing`` fork server that has imported the site's libraries once, so that each
new process is a fork of a warm interpreter rather than a fresh one. Teardown, whatever
happens to the parent, is in ``docs/protocols/distributed.md`` (Local spawning): each child
polls a pipe that only the parent holds open and exits at its end-of-file, and asks the
kernel (``PR_SET_PDEATHSIG``) for SIGTERM when its own parent, the fork server, dies.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vpp.agents.membership.coordinator import LinkSettings
from vpp.runs.scenario import Scenario

log = logging.getLogger(__name__)

PRELOAD = ["numpy", "pandas", "zmq", "msgspec", "pvlib", "windpowerlib", "vpp.physics.pv",
           "vpp.physics.wind", "vpp.runs.cli", "vpp.runs.placement.spawn_warm"]
"""What the fork server imports before it forks the first site process. ``vpp.runs.cli`` is
there because each child re-runs the parent's main script (multiprocessing does so when
the parent was started as a script, as the ``vpp`` console script is): with the command
line already imported, that costs nothing instead of ~60 ms per process."""

_PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0


_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread pools of numerical libraries: one thread in each site process (unless the user
set them), since many processes share the cores and idle pool threads spin."""


def _start_fork_server() -> None:
    """Start the fork server (once) so that it imports *this* code, with one-thread
    numerical libraries (:data:`_ONE_THREAD`).

    The variables are restored at once. (The fork server imports its preload modules
    before it applies the parent's ``sys.path``: it imports the installed ``vpp``, which
    is the one running, as everything is imported through the ``vpp`` root.)
    """
    from multiprocessing import forkserver

    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    for key in _ONE_THREAD:
        os.environ.setdefault(key, "1")
    try:
        forkserver.ensure_running()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class SiteGroup:
    """The sites one process serves, and its host name."""

    host: str
    sites: tuple[str, ...]


def deal(site_names: Sequence[str], processes: int) -> list[SiteGroup]:
    """Deal the sites to ``processes`` processes in contiguous blocks, scenario order kept
    (the first blocks one site larger when it does not divide evenly)."""
    if not 1 <= processes <= len(site_names):
        raise ValueError(f"processes must be between 1 and {len(site_names)} (one site at "
                         f"least each), got {processes}")
    base, extra = divmod(len(site_names), processes)
    groups, start = [], 0
    for i in range(processes):
        size = base + (1 if i < extra else 0)
        groups.append(SiteGroup(f"sites-{i + 1}", tuple(site_names[start:start + size])))
        start += size
    return groups


def _noop() -> None:
    """A child that does nothing (warms the fork server up)."""


def _site_child(where: str, scenario_msgpack: bytes, group: SiteGroup, connect: str,
                out_dir: str | None, settings: LinkSettings, allow_plugins: bool,
                parent: multiprocessing.connection.Connection, log_level: int) -> None:
    """A spawned site process's body (runs in the child). The scenario comes validated,
    as MessagePack: parsing its YAML again in every child would cost more than the fork."""
    set_parent_death_signal(signal.SIGTERM)
    logging.basicConfig(level=log_level, format=f"{group.host}: %(levelname)s %(message)s")
    import msgspec
    from vpp.runs.placement.site_process import serve_sites
    from vpp.runs.scenario import Scenario

    scenario = msgspec.msgpack.decode(scenario_msgpack, type=Scenario)
    result = serve_sites(scenario, group.sites, connect, out_dir=out_dir, where=where,
                         host_name=group.host, settings=settings, parent_fd=parent.fileno(),
                         allow_plugins=allow_plugins, ship_trace=False)
    sys.exit(result.exit_code)


class SiteSpawner:
    """Starts site processes and makes sure none outlives the run.

    Args:
        method: ``forkserver`` (warm, the default) or ``spawn`` (fresh interpreters: the
            baseline of ``vpp bench spawn``).
        preload: modules the fork server imports first.
    """

    def __init__(self, method: str = "forkserver", preload: Sequence[str] = PRELOAD) -> None:
        self.method = method
        self.ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            self.ctx.set_forkserver_preload(list(preload))
            _start_fork_server()
            # the first fork waits until the server has imported everything: do it now
            warm = self.ctx.Process(target=_noop, name="warm-up")
            warm.start()
            warm.join()
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self._reader, self._writer = self.ctx.Pipe(duplex=False)

    def start(self, scenario: Scenario, where: str, groups: Sequence[SiteGroup],
              connect: str, *, out_dir: Path | str | None, settings: LinkSettings | None = None,
              allow_plugins: bool = False) -> None:
        """Start one process per group, serving its sites of ``scenario`` (named ``where``
        in messages) for the aggregator at ``connect`` (``allow_plugins``: the scenario is
        the caller's own, and ``module:Class`` strategies may load, as
        ``--allow-plugins`` says)."""
        import msgspec

        settings = settings or LinkSettings()
        level = logging.getLogger().getEffectiveLevel()
        encoded = msgspec.msgpack.encode(scenario)
        self.start_processes(_site_child, [
            (group.host, (where, encoded, group, connect,
                          None if out_dir is None else str(out_dir), settings, allow_plugins))
            for group in groups], level)

    def start_processes(self, target, jobs: Sequence[tuple[str, tuple]],
                        log_level: int = logging.WARNING) -> None:
        """Start ``target(*args, parent, log_level)`` for each ``(name, args)`` of ``jobs``;
        ``parent`` is the end of the parent pipe that the child must watch."""
        for name, args in jobs:
            proc = self.ctx.Process(target=target, name=name, daemon=False,
                                    args=(*args, self._reader, log_level))
            proc.start()
            self.processes.append(proc)

    def failed(self) -> str | None:
        """Why waiting for the children is pointless (one of them ended early), or None."""
        ended = [f"{p.name} (exit {p.exitcode})" for p in self.processes
                 if p.exitcode is not None]
        return f"site processes ended early: {', '.join(ended)}" if ended else None

    def alive(self) -> list[int]:
        """The process ids of the children still running."""
        return [p.pid for p in self.processes if p.is_alive()]

    def join(self, timeout_s: float = 10.0) -> list[int | None]:
        """Wait for every child to end (up to ``timeout_s`` in all); return exit codes."""
        end = time.monotonic() + timeout_s
        for p in self.processes:
            p.join(max(end - time.monotonic(), 0.0))
        return [p.exitcode for p in self.processes]

    def stop(self, term_timeout_s: float = 3.0, *, grace_s: float = 0.0) -> list[int | None]:
        """Tear down: wait up to ``grace_s`` for the children to end by themselves (when
        they were told ``Stop``), then SIGTERM to those still running and SIGKILL to those
        still there after ``term_timeout_s``; close the parent pipe; return the exit codes."""
        if grace_s > 0:
            self.join(grace_s)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        end = time.monotonic() + term_timeout_s
        for p in self.processes:
            p.join(max(end - time.monotonic(), 0.0))
            if p.is_alive():
                log.warning("site process %s (pid %s) ignored SIGTERM; killed", p.name, p.pid)
                p.kill()
                p.join(5.0)
        self._writer.close()
        self._reader.close()
        return [p.exitcode for p in self.processes]


@contextmanager
def sigterm_as_exit(code: int = 143) -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(code)``, so that teardown runs."""

    def handler(signum, frame):
        raise SystemExit(code)

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
