"""What a trace level leaves out, counted: the ``message_counts`` rows of a shard, one per
conversation, round, kind and direction a flush (``docs/runtime.md``, "Trace levels").

:class:`LevelCounting` is the level half of :class:`vpp.agents.runtime.trace.
TraceRecorder` (a base of it): :meth:`~LevelCounting.set_level` and the counting that
replaces the recorder's ``message`` and ``sent`` at ``rounds`` and ``sample:N``.

Messages are counted by *runs*: the messages of one (conversation, round, kind) that
follow one another in one direction (a batch of bids, a call for bids to every site of a
host, one broadcast to many subscribers). A run's first message is counted into the
table at once (so a key enters the table, and a flush past ``flush_rows`` keys happens,
where it did when every message was counted on its own); the rest only add one to the
run's :attr:`CountRun.n`, which is added to the table when the next run of that direction
starts and when the recorder flushes (which ends every run). At ``rounds`` the recorder
hands its two runs out (:attr:`LevelCounting.recv_run`, :attr:`LevelCounting.send_run`):
the inbox's and the host's loops count a message that continues a run themselves,
``run.n += 1``, with no call. The table, and each flush's rows, are what counting every
message on its own gave.
"""

from __future__ import annotations

from vpp.agents.runtime.messages import Envelope
from vpp.agents.runtime.trace_level import FULL, SampleFilter, TraceLevel, parse_level

UNTRACED_KINDS = frozenset({"TraceBatch"})
"""Kinds whose sends and receipts are not recorded: a batch of trace rows shipped to the
aggregator (``vpp.agents.membership.trace_ship``) would otherwise carry the rows of the
batches before it, and the aggregator's shard would hold every site's rows twice."""


class CountRun:
    """Messages of one conversation, round and kind counted one after another in one
    ``direction`` (``recv`` or ``send``): ``n`` of them not yet in the table (the run's
    first is). A run that has ended has ``kind`` None, which no message continues.

    A caller that holds a run (at ``rounds``) counts a message whose ``kind``, ``round``
    and ``conversation`` equal the run's with ``run.n += 1``, and hands any other to the
    recorder's ``message`` (or ``sent``), which starts the next run."""

    __slots__ = ("conversation", "direction", "kind", "n", "round")

    def __init__(self, direction: str) -> None:
        self.direction = direction
        self.conversation: str | None = None
        self.round = 0
        self.kind: str | None = None
        self.n = 0


class LevelCounting:
    """The trace level of a :class:`vpp.agents.runtime.trace.TraceRecorder` and the
    counting of what it leaves out (its attributes ``_counts``, the table, and
    ``flush_rows``; its methods ``flush``, ``set_meta`` and the class's own ``message`` and
    ``sent``, which record a row).

    Attributes:
        recv_run: at ``rounds``, the run of received messages a caller may continue by
            itself (see :class:`CountRun`); None at other levels.
        send_run: the same for messages sent.
    """

    _counts: dict[tuple, int]
    flush_rows: int

    def _init_counting(self) -> None:
        self._counts = {}
        self._runs = {"recv": CountRun("recv"), "send": CountRun("send")}
        self.recv_run: CountRun | None = None
        self.send_run: CountRun | None = None
        self.level: TraceLevel = FULL
        """What this shard records (:meth:`set_level`)."""
        self.sampled: list[str] | None = None
        """The sites a ``sample:N`` level keeps the messages of (None at other levels)."""

    def set_level(self, level: TraceLevel | str, sites: list[str] = (), seed: int = 0,
                  ) -> None:
        """Record at ``level`` from now on (``sites``: the fleet in scenario order, and
        ``seed`` the run's, from which ``sample:N`` chooses its sites); the level and the
        fleet's size are written to the meta (``trace_level``, ``trace_sites``).

        ``rounds`` and ``sample:N`` replace ``message`` and ``sent`` on this recorder:
        what the level leaves out is counted per (conversation, round, kind,
        direction)."""
        level = parse_level(level)
        self._end_runs()
        self.level = level
        self.sampled = None
        self.recv_run = self.send_run = None
        if level.kind == "rounds":
            self.message = self._count_message
            self.sent = self._count_sent
            self.recv_run, self.send_run = self._runs["recv"], self._runs["send"]
        elif level.kind == "sample":
            self._sample = SampleFilter(list(sites), level.n, seed)
            self.sampled = self._sample.sampled
            self.message = self._sample_message
            self.sent = self._sample_sent
        else:
            self.__dict__.pop("message", None)
            self.__dict__.pop("sent", None)
        self.set_meta(trace_level=level.text, trace_sites=len(sites))

    # -- counting -----------------------------------------------------------------------
    def _count_message(self, direction: str, envelope: Envelope, size: int,
                       receiver: str | None = None) -> None:
        """``message`` at level ``rounds``: counted, not recorded (flushed past
        ``flush_rows`` keys: conversations are a peer's to name)."""
        kind = envelope.kind
        run = self._runs.get(direction)
        if run is None:
            if kind not in UNTRACED_KINDS:
                self._add((envelope.conversation, envelope.round, kind, direction), 1)
        elif (kind == run.kind and envelope.round == run.round
                and envelope.conversation == run.conversation):
            run.n += 1
        elif kind not in UNTRACED_KINDS:
            self._start_run(run, envelope.conversation, envelope.round, kind)

    def _count_sent(self, kind: str, sender: str, receiver: str, conversation: str,
                    round: int, sim_time: float, body: object, size: int) -> None:
        """``sent`` at level ``rounds``: counted as ``message`` counts a message sent (no
        envelope made)."""
        run = self._runs["send"]
        if kind == run.kind and round == run.round and conversation == run.conversation:
            run.n += 1
        elif kind not in UNTRACED_KINDS:
            self._start_run(run, conversation, round, kind)

    def _sample_message(self, direction: str, envelope: Envelope, size: int,
                        receiver: str | None = None) -> None:
        """``message`` at level ``sample:N``: recorded unless it is to or from a site left
        out of the sample (then counted)."""
        if self._sample.leaves_out(envelope.sender, receiver or envelope.receiver):
            self._count_message(direction, envelope, size)
        else:
            type(self).message(self, direction, envelope, size, receiver)

    def _sample_sent(self, kind: str, sender: str, receiver: str, conversation: str,
                     round: int, sim_time: float, body: object, size: int) -> None:
        """``sent`` at level ``sample:N``: recorded unless it is to or from a site left
        out of the sample (then counted)."""
        if self._sample.leaves_out(sender, receiver):
            self._count_sent(kind, sender, receiver, conversation, round, sim_time, body,
                             size)
        else:
            type(self).sent(self, kind, sender, receiver, conversation, round, sim_time,
                            body, size)

    def count(self, direction: str, conversation: str, round: int, kind: str,
              n: int) -> None:
        """Count ``n`` messages of one conversation, round and kind in ``direction`` at
        once, as ``n`` calls of ``message`` in a row would (a host's send of one body to
        many receivers at ``rounds``); kinds in :data:`UNTRACED_KINDS` are not counted."""
        if kind in UNTRACED_KINDS:
            return
        key = (conversation, round, kind, direction)
        while n > 0:
            had = self._counts.get(key)  # (read again: a flush makes a new table)
            if had is not None:
                self._counts[key] = had + n
                return
            self._add(key, 1)  # a new key: its first message enters it, and may flush
            n -= 1

    def _start_run(self, run: CountRun, conversation: str, round: int, kind: str) -> None:
        """End ``run`` (its count into the table) and start it again with one message of
        ``conversation``, ``round`` and ``kind``, counted into the table at once."""
        if run.n:
            key = (run.conversation, run.round, run.kind, run.direction)
            counts = self._counts
            counts[key] = counts.get(key, 0) + run.n
        run.conversation, run.round, run.kind, run.n = conversation, round, kind, 0
        self._add((conversation, round, kind, run.direction), 1)

    def _add(self, key: tuple, n: int) -> None:
        counts = self._counts
        had = counts.get(key)
        if had is not None:
            counts[key] = had + n
            return
        counts[key] = n
        if len(counts) >= self.flush_rows:
            self.flush()

    def _end_runs(self) -> None:
        """Add every run's count to the table and end it (the next message starts one)."""
        counts = self._counts
        for run in self._runs.values():
            if run.n:
                key = (run.conversation, run.round, run.kind, run.direction)
                counts[key] = counts.get(key, 0) + run.n
            run.kind, run.n = None, 0

    def _take_counts(self) -> list[tuple]:
        """The table's rows (conversation, round, kind, direction, count), every run
        ended; the table starts again empty."""
        self._end_runs()
        rows = [(*key, n) for key, n in self._counts.items()]
        self._counts = {}
        return rows
