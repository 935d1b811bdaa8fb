"""Hot reload of a running swarm's scenario file (``docs/operations.md``).

A :class:`ScenarioReloader` watches the file (watchfiles, from a daemon thread). Each
edit is read and validated at once, off the swarm's thread: an invalid edit is logged
with the error naming the file and the field and the running configuration stays; a
valid one is compared with the configuration running (:func:`vpp.agents.ops.reload.diff`) and
staged. At the start of the next step (:meth:`ScenarioReloader.before_step`, on the
swarm's thread, so no agent is touched concurrently) the live-changeable fields are
applied, the others reported as needing a restart, and the reload is announced on the
bus by the ops agent, which puts it in the trace.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from vpp.agents.ops.agent import OpsAgent
from vpp.agents.ops.messages import ConfigReloaded, FieldChange, ReloadRejected
from vpp.agents.ops.reload import ReloadPlan, diff
from vpp.runs.ops.appliers import Applier
from vpp.runs.scenario import Scenario, ScenarioError, parse, read_mapping


def load_fast(path: Path, content: bytes | None = None) -> Scenario:
    """:func:`vpp.runs.scenario.load` of ``content`` (the file's bytes already read) when given,
    with the same validation and the same errors."""
    return parse(read_mapping(path, content), str(path))

log = logging.getLogger(__name__)

SETTLE_READS = 20
"""How many times an invalid file is read again while its bytes keep changing."""


@dataclass
class Staged:
    """A validated edit waiting for the next step."""

    scenario: msgspec.Struct
    plan: ReloadPlan
    read_ms: float
    seen_at: float


@dataclass
class ReloadRecord:
    """What became of one edit: applied (live and restart lists) or rejected (error)."""

    version: int
    step: int
    applied: list[FieldChange] = field(default_factory=list)
    restart: list[FieldChange] = field(default_factory=list)
    error: str | None = None
    reload_ms: float = 0.0
    """Read, validate, compare and apply, in milliseconds (not the wait for the step)."""


class ScenarioReloader:
    """Watches ``path`` and applies its validated edits to a running swarm.

    Args:
        path: the scenario file the swarm was built from.
        running: the scenario running now.
        applier: the swarm's live fields and how to apply them.
        ops: the agent that announces reloads on the bus (None: log only).
        watch: watch the file from a daemon thread (False: call :meth:`check`).
        debounce_ms: how long watchfiles groups changes of one save, and how long (at
            least 20 ms) an invalid file's bytes must stay the same to be rejected.
        loader: reads and validates the file's bytes (default: a scenario); it raises one
            of ``errors`` with a message naming the file and the field.
        unit: what the run calls a step (``step``; ``sample`` for a grid event), in the
            summary's records (``from_step``, ``from_sample``).
    """

    def __init__(self, path: Path | str, running: msgspec.Struct, applier: Applier, *,
                 ops: OpsAgent | None = None, watch: bool = True, debounce_ms: int = 50,
                 loader: Callable[[Path, bytes | None], msgspec.Struct] | None = None,
                 errors: tuple[type[Exception], ...] = (ScenarioError,),
                 unit: str = "step") -> None:
        self.path = Path(path)
        self.unit = unit
        self.settle_s = max(debounce_ms, 20) / 1e3
        """How long an invalid file's bytes must stay the same before it is rejected."""
        self.loader = loader or load_fast
        self.errors = errors
        self.running = running
        self.applier = applier
        self.ops = ops
        self.version = 0
        self.records: list[ReloadRecord] = []
        self.needs_restart: dict[str, FieldChange] = {}
        self._baseline = msgspec.to_builtins(running)
        # None: the first check compares the file with ``running`` itself, so an edit saved
        # between loading the scenario and creating the reloader is not lost
        self._last_content: bytes | None = None
        self._lock = threading.Lock()
        self._staged: Staged | None = None
        self._rejected: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watching = threading.Event()
        """Set once the file is watched."""
        if watch:
            # in this thread's context: the command's --data-dir folders hold there too
            self._thread = threading.Thread(target=contextvars.copy_context().run,
                                            args=(self._watch, debounce_ms),
                                            name=f"reload:{self.path.name}", daemon=True)
            self._thread.start()
            self.watching.wait(5.0)

    # -- the watcher's side ------------------------------------------------------------
    def _watch(self, debounce_ms: int) -> None:
        from watchfiles import watch

        target = self.path.resolve()
        # an empty set comes on each timeout: the first says the watch is set up, and a
        # check then catches an edit made while it was being set up
        # after a rejection the file is read again on each timeout (100 ms) until it
        # changes: a save in two writes (truncate, then write) may end in the same batch
        # of events as the half-written file that was rejected, with no event after it
        recheck = False
        for changes in watch(target.parent,
                             watch_filter=lambda _c, p: Path(p).resolve() == target,
                             debounce=debounce_ms, step=10, stop_event=self._stop,
                             yield_on_timeout=True, rust_timeout=100):
            if changes or recheck or not self.watching.is_set():
                self.watching.set()
                result = self.check()
                if result is not None:  # (None: the bytes last checked, still)
                    recheck = result is False

    def check(self) -> bool | None:
        """Read and validate the file now; stage a valid edit (True) or record the
        rejection (False); None when the file's bytes are those last checked (one save
        often makes several file events) or say what runs already. Thread-safe; nothing of the swarm is touched."""
        t0 = time.perf_counter()
        content = self._read()
        with self._lock:
            if content is not None and content == self._last_content:
                return None
            self._last_content = content
        scenario = self._settled(content)
        if isinstance(scenario, Exception):
            log.error("reload rejected, the run goes on unchanged: %s", scenario)
            with self._lock:
                self._rejected.append(str(scenario))
            return False
        with self._lock:
            baseline = self._baseline
        plan = ReloadPlan()
        for change in diff(baseline, msgspec.to_builtins(scenario)):
            (plan.live if self.applier.live(change, scenario) else plan.restart).append(change)
        if plan.empty:  # the same configuration (a comment edited, or no edit at all)
            return None
        with self._lock:
            pending = self._staged
        live = plan.live if pending is None else pending.plan.live + plan.live
        try:
            self.applier.prepare(live, scenario)
        except self.errors as exc:
            error = f"{self.path}: {exc}" if str(self.path) not in str(exc) else str(exc)
            log.error("reload rejected, the run goes on unchanged: %s", error)
            with self._lock:
                self._rejected.append(error)
            return False
        read_ms = (time.perf_counter() - t0) * 1e3
        with self._lock:
            self._baseline = msgspec.to_builtins(scenario)
            if self._staged is not None:  # two saves before a step: apply both at once
                plan = ReloadPlan(self._staged.plan.live + plan.live,
                                  self._staged.plan.restart + plan.restart)
                read_ms += self._staged.read_ms
            self._staged = Staged(scenario, plan, read_ms, time.monotonic())
        return True

    def _read(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except OSError:
            return None

    def _settled(self, content: bytes | None) -> msgspec.Struct | Exception:
        """The scenario of ``content``, or the error of the file's last bytes once they have
        stayed the same for :attr:`settle_s`: a file caught in the middle of a save (an
        editor, or ``write_text``, truncates it first) is read again, not reported."""
        for _ in range(SETTLE_READS):
            try:
                return self.loader(self.path, content)
            except self.errors as exc:
                error = exc
            time.sleep(self.settle_s)
            again = self._read()
            if again == content:
                break
            content = again
            with self._lock:
                self._last_content = content
        return error

    # -- the swarm's side --------------------------------------------------------------
    def before_step(self, step: int) -> None:
        """Announce rejections and apply a staged edit, from ``step`` on."""
        with self._lock:
            rejected, self._rejected = self._rejected, []
            staged, self._staged = self._staged, None
        for error in rejected:
            self.version += 1
            self.records.append(ReloadRecord(self.version, step, error=error))
            if self.ops is not None:
                self.ops.announce(ReloadRejected(str(self.path), error))
        if staged is None or staged.plan.empty:
            return
        t0 = time.perf_counter()
        self.applier.apply(staged.plan.live, staged.scenario)
        self.running = staged.scenario
        apply_ms = (time.perf_counter() - t0) * 1e3
        self.version += 1
        plan = staged.plan
        for change in plan.restart:
            self.needs_restart[change.path] = change
        record = ReloadRecord(self.version, step, plan.live, plan.restart,
                              reload_ms=staged.read_ms + apply_ms)
        self.records.append(record)
        log.info("reload %d applied from step %d: %s%s", self.version, step,
                 ", ".join(f"{c.path}={c.new!r}" for c in plan.live) or "nothing live",
                 "; needs a restart: " + ", ".join(c.path for c in plan.restart)
                 if plan.restart else "")
        if plan.restart:
            log.warning("reload %d: these changes need a restart and were not applied: %s",
                        self.version, ", ".join(c.path for c in plan.restart))
        if self.ops is not None:
            self.ops.announce(ConfigReloaded(str(self.path), self.version, step, plan.live,
                                             plan.restart, record.reload_ms))

    def after_step(self, step: int) -> None:
        """Nothing to do after a step."""

    def summary(self) -> dict:
        """For the run's summary: reloads applied and rejected, fields needing a restart,
        and (when there was any) each reload: its version, the step it applied from
        (``from_<unit>``), its error, the fields applied and those needing a restart."""
        out = {
            "applied": sum(1 for r in self.records if r.error is None),
            "rejected": sum(1 for r in self.records if r.error is not None),
            "needs_restart": sorted(self.needs_restart),
            "reload_ms_max": max((r.reload_ms for r in self.records if r.error is None),
                                 default=None)}
        if self.records:
            out["records"] = [
                {"version": r.version, f"from_{self.unit}": r.step, "error": r.error,
                 "applied": [c.path for c in r.applied],
                 "restart": [c.path for c in r.restart],
                 "reload_ms": round(r.reload_ms, 3)} for r in self.records]
        return {"reload": out}

    def wait_staged(self, timeout_s: float) -> bool:
        """Wait until an edit is staged or rejected (for tests and benchmarks)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._lock:
                if self._staged is not None or self._rejected:
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
