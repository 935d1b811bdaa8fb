"""Site processes on this machine: ``vpp run SCENARIO --processes N``.

The aggregator's side is the remote placement's (:class:`~vpp.runs.placement.remote.RemoteFleet`)
listening on ``ipc://`` in a private folder; the sites are dealt to ``N`` processes
started from a warm fork server (:class:`~vpp.runs.placement.spawn.SiteSpawner`), each a
``vpp site`` in all but name. The children are torn down however the run ends (its end, an
exception, Ctrl-C, SIGTERM: while the fleet is open, SIGTERM to this process raises
``SystemExit(143)`` so that the run's teardown runs).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

from vpp.agents.membership.coordinator import LinkSettings
from vpp.runs.placement.base import SiteBuilder
from vpp.runs.placement.remote import RemoteFleet, RemotePlacement
from vpp.runs.placement.spawn import SiteGroup, SiteSpawner, deal, sigterm_as_exit
from vpp.runs.scenario import Scenario
from vpp.runs.stages import announce


class ProcessesPlacement:
    """The sites in ``processes`` local processes.

    Args:
        processes: how many site processes (at most one per site).
        allow_plugins: the scenario is the caller's own and its ``module:Class``
            strategies may load in the children (``--allow-plugins``).
        settings: heartbeats, timeouts, acknowledgements (default: scaled to the
            largest process's sites when it opens, :meth:`LinkSettings.for_host`).
    """

    name = "processes"

    def __init__(self, processes: int, *, allow_plugins: bool = False,
                 settings: LinkSettings | None = None) -> None:
        if processes < 1:
            raise ValueError(f"at least one process, got {processes}")
        self.processes = processes
        self.allow_plugins = allow_plugins
        self.requested_settings = settings
        self.settings = settings or LinkSettings()
        self.spawner: SiteSpawner | None = None

    def settle(self, groups: Sequence[SiteGroup], site_call_ms: float) -> None:
        """Take the link settings for ``groups``: those asked for, or the defaults scaled
        to the largest group at ``site_call_ms`` a site (:meth:`LinkSettings.for_host`)."""
        if self.requested_settings is None and groups:
            self.settings = LinkSettings.for_host(max(len(g.sites) for g in groups),
                                                  site_call_ms)

    def open(self, scenario: Scenario, context: Any, sites: SiteBuilder) -> RemoteFleet:
        """Listen on a private ``ipc://`` endpoint, start the site processes, wait until
        every site joined."""
        groups = deal(scenario.site_names(), self.processes)
        self.settle(groups, context.site_call_ms)
        signals = contextlib.ExitStack()
        if threading.current_thread() is threading.main_thread():  # only it may set them
            signals.enter_context(sigterm_as_exit())
        ipc_dir = tempfile.mkdtemp(prefix="vpp-")
        os.chmod(ipc_dir, 0o700)
        announce(f"starting {self.processes} site process{'es' if self.processes != 1 else ''}")
        spawner = self.spawner = SiteSpawner()
        where = str(context.scenario_path or scenario.name)
        remote = RemotePlacement(
            f"ipc://{ipc_dir}/aggregator", settings=self.settings, abort=spawner.failed,
            on_listening=lambda endpoint: spawner.start(
                scenario, where, groups, endpoint, out_dir=context.out_dir,
                settings=self.settings, allow_plugins=self.allow_plugins))
        try:
            fleet = remote.open(scenario, context, sites)
        except BaseException:
            try:
                spawner.stop()
                shutil.rmtree(ipc_dir, ignore_errors=True)
            finally:
                signals.close()
            raise
        fleet.children = Children(spawner, ipc_dir, signals)
        return fleet


class Children:
    """The site processes of a fleet: reaped when the sites were told to stop, stopped
    (then killed if need be) when the fleet closes, their ``ipc://`` folder removed, and
    the SIGTERM handler set while they run put back."""

    def __init__(self, spawner: SiteSpawner, ipc_dir: str,
                 signals: contextlib.ExitStack | None = None) -> None:
        self.spawner = spawner
        self.ipc_dir = ipc_dir
        self.signals = signals or contextlib.ExitStack()
        self.exit_codes: list[int | None] | None = None

    def reap(self) -> None:
        """Wait for the children told to stop to end (up to 10 s); keep their exit codes."""
        self.exit_codes = self.spawner.join(10.0)

    def close(self) -> None:
        """Stop any child still running; remove the folder; put SIGTERM's handler back."""
        try:
            self.spawner.stop(grace_s=1.0)
        finally:
            shutil.rmtree(self.ipc_dir, ignore_errors=True)
            self.signals.close()
