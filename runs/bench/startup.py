"""``vpp bench startup``: how soon ``vpp run`` shows something, as a user sees it.

``vpp run`` runs under a pseudo-terminal (so that it draws as on a terminal) and every
chunk it writes is stamped on arrival: the time to the first output, to each stage line
and to the report's time line, and the whole time the command printed against the time
measured here. The baseline, measured in the same run: a bare ``python -c pass``, the
floor no command of this interpreter can beat.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
"""Terminal escape sequences (colours, cursor moves): not text."""
STAGE_LINE = re.compile(r"^\s*(\d+\.\d) s  (\S.*?)\s*$")
"""A stage line: ``  2.0 s  building 14 sites``."""
TOTAL = re.compile(r"time: (\d+\.\d) s in all since the (process|command) started")
"""The report's whole time."""


class Terminal:
    """What a command wrote to a pseudo-terminal.

    Attributes:
        chunks: ``(seconds since just before the fork, text without escapes)``, as read.
        status: the exit code (negative: the signal).
        text: every chunk, joined.
        lines: the non-empty lines of ``text``.
    """

    def __init__(self, chunks: list[tuple[float, str]], status: int) -> None:
        self.chunks = chunks
        self.status = status
        self.text = "".join(c for _, c in chunks)
        self.lines = [line for line in re.split(r"[\r\n]+", self.text) if line.strip()]

    def arrival(self, needle: str) -> float:
        """When ``needle`` had arrived in full (seconds since just before the fork).

        Raises:
            LookupError: it never did.
        """
        seen = ""
        for at, chunk in self.chunks:
            seen += chunk
            if needle in seen:
                return at
        raise LookupError(f"{needle!r} never arrived")

    def first_output(self) -> float | None:
        """When the first visible text arrived, or None."""
        return next((at for at, chunk in self.chunks if chunk.strip()), None)

    def stages(self) -> list[tuple[float, str]]:
        """The stage lines: ``(seconds the command printed, stage)``, in order."""
        return [(float(m[1]), m[2]) for line in self.lines if (m := STAGE_LINE.match(line))]


def run_in_terminal(argv: list[str], cwd: Path | str, timeout_s: float = 90.0,
                    columns: int = 200) -> Terminal:
    """Run ``argv`` in ``cwd`` under a pseudo-terminal ``columns`` wide, collecting what it
    writes with arrival times; a command still running after ``timeout_s`` is killed."""
    env = dict(os.environ, COLUMNS=str(columns), LINES="50", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    t0 = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command itself
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    chunks: list[tuple[float, str]] = []
    try:
        while time.monotonic() - t0 < timeout_s:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append((time.monotonic() - t0,
                           ANSI.sub("", data.decode("utf-8", "replace"))))
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return Terminal(chunks, os.waitstatus_to_exitcode(status))


def _bare_interpreter_s() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.monotonic() - t0


def run(repeats: int = 3, steps: int = 8) -> dict:
    """``vpp run`` of the default scenario cut to ``steps`` steps, without figures,
    ``repeats`` times, against a bare interpreter's start each time."""
    import yaml
    from vpp.runs.scenario import DEFAULT_SCENARIO

    vpp = str(Path(sys.executable).with_name("vpp"))
    firsts, totals, walls, bare = [], [], [], []
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vpp-bench-startup-") as tmp:
        data = yaml.safe_load(DEFAULT_SCENARIO.read_text())
        data["steps"] = steps
        scenario = Path(tmp) / "startup.yaml"
        scenario.write_text(yaml.safe_dump(data))
        for i in range(repeats):
            bare.append(_bare_interpreter_s())
            term = run_in_terminal([vpp, "run", str(scenario), "--out", f"run-{i}",
                                    "--no-plot"], tmp)
            if term.status != 0:
                raise RuntimeError(f"vpp run exited {term.status}: {term.text[-2000:]}")
            firsts.append(term.first_output())
            for at, name in term.stages():
                stages.setdefault(name.replace(str(scenario), "FILE"), []).append(at)
            total = TOTAL.search(" ".join(term.text.split()))
            totals.append(float(total[1]) if total else None)
            walls.append(term.arrival("time: "))
    return {
        "repeats": repeats, "steps": steps,
        "first_output_s_p50": round(statistics.median(firsts), 3),
        "first_output_s_max": round(max(firsts), 3),
        "bare_interpreter_s_p50": round(statistics.median(bare), 3),
        "stage_s_p50": {name: round(statistics.median(ats), 2) for name, ats in stages.items()},
        "printed_total_s_p50": round(statistics.median(t for t in totals if t is not None), 2),
        "time_line_arrival_s_p50": round(statistics.median(walls), 3),
    }
