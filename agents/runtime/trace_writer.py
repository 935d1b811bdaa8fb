"""The thread that writes a trace shard: each flush's rows, compressed, in one transaction.

:class:`vpp.agents.runtime.trace.TraceRecorder` hands it one job per flush and goes on
(zlib and SQLite release the GIL). A flush first waits until fewer than
:data:`QUEUED_FLUSHES` jobs are queued (the first being written): with 1, until the
previous flush is on disk, so a crash loses at most the last flush and the rows buffered after it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import zlib
from collections import deque
from pathlib import Path

log = logging.getLogger("vpp.agents.runtime.trace")

CHUNK_ENCODING = "msgpack+zlib"
"""How ``message_chunks.data`` is encoded."""

QUEUED_FLUSHES = 1
"""Jobs that may wait for the writer (the first being written) when a flush queues its
own. 2 (double buffering: a flush queued behind one still being written) was measured on
the 1,000-site bench and left out: the flushes waited 6-25 ms in a 96-step run even at a
load average of 20, and a crash would lose two flushes instead of one."""


class ShardWriter:
    """Writes the jobs handed to it to one open shard, in order, on its own thread.

    A job is ``(chunk, rounds, steps, dispatch, agents, meta, counts)``: ``chunk`` is
    ``(first_wall_ns, rows, data)`` (the message rows' MessagePack array) or None, the rest
    are lists of table rows. The first write error stops the writing (:attr:`error`);
    the jobs after it are dropped.

    Args:
        db: the open shard (its schema made).
        path: the shard's file (named in the log).
        name: the thread's name.
    """

    # The hand-off survives a signal's exception (KeyboardInterrupt, SystemExit from a
    # SIGTERM handler) raised in the recording thread anywhere, e.g. between queueing a
    # job and waking the writer, which would leave a plain queue.Queue's join waiting for
    # ever: a job is one deque entry until written, and every wait also wakes on its own
    # every _WAKE_S.
    _WAKE_S = 0.25

    def __init__(self, db: sqlite3.Connection, path: Path, name: str) -> None:
        self.path = path
        self.error: BaseException | None = None
        """The write error that stopped this shard (None while it writes)."""
        self.jobs: deque = deque()  # handed over, the first being written
        self.handoff = threading.Condition()
        self._thread = threading.Thread(target=self._loop, args=(db,), name=name,
                                        daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        """Whether the thread still takes jobs."""
        return self._thread.is_alive()

    def hand(self, job: tuple | None) -> None:
        """Queue ``job`` (None: write what is queued, then close the shard and end)."""
        with self.handoff:
            self.jobs.append(job)
            self.handoff.notify_all()

    def wait(self, queued: int = 0) -> None:
        """Wait until at most ``queued`` jobs wait (0: every job handed is on disk)."""
        with self.handoff:
            while len(self.jobs) > queued and self._thread.is_alive():
                self.handoff.wait(self._WAKE_S)

    def join(self) -> None:
        """Wait for the thread to end (after :meth:`hand` of None)."""
        self._thread.join()

    def _loop(self, db: sqlite3.Connection) -> None:
        while True:
            with self.handoff:
                while not self.jobs:
                    self.handoff.wait(self._WAKE_S)
                job = self.jobs[0]
            if job is None:
                break
            try:
                if self.error is None:
                    self._write(db, *job)
            except (sqlite3.Error, zlib.error, OSError) as exc:
                log.error("trace shard %s: %s", self.path, exc)
                self.error = exc
            finally:
                with self.handoff:
                    self.jobs.popleft()
                    self.handoff.notify_all()
        db.close()
        with self.handoff:
            self.jobs.clear()
            self.handoff.notify_all()

    @staticmethod
    def _write(db: sqlite3.Connection, chunk, rounds, steps, dispatch, agents, meta,
               counts) -> None:
        with db:
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)
            if agents:
                db.executemany("INSERT OR REPLACE INTO agents VALUES (?, ?, ?)", agents)
            if chunk is not None:
                first, rows, data = chunk
                db.execute("INSERT INTO message_chunks (first_wall_ns, rows, encoding, data) "
                           "VALUES (?, ?, ?, ?)",
                           (first, rows, CHUNK_ENCODING, zlib.compress(data, 1)))
            if rounds:
                db.executemany(
                    "INSERT INTO rounds VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rounds)
            if steps:
                db.executemany("INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?)", steps)
            if dispatch:
                db.executemany("INSERT INTO dispatch VALUES (?,?,?,?,?,?)", dispatch)
            if counts:
                db.executemany("INSERT INTO message_counts VALUES (?,?,?,?,?)", counts)
