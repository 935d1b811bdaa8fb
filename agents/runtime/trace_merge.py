"""Merging a late trace shard into a run directory (``vpp trace merge``).

A site process's own shard (copied from its machine) may hold rows the aggregator never
got (the process killed, its send queue full: ``docs/protocols/distributed.md``, "Trace
shipping"). :func:`merge_shard` adds to ``RUN_DIR/trace/<host>.sqlite`` every row of the
shard that is not there yet, counting equal rows (so merging twice, or merging what was
shipped already, adds nothing), and refuses a shard of another run: its ``run`` and
``scenario_digest`` meta must be the run directory's. What is merged: message rows,
``rounds`` rows, agents and meta (what a site's shard holds); ``steps`` and ``dispatch``
are the aggregator's own and are not merged. The ``message_counts`` of a trace level
(``rounds``, ``sample:N``) are merged only into a host's shard that is not there yet:
counts cannot tell what was shipped already.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec
from vpp.agents.runtime.codec import DECODE_ERRORS
from vpp.agents.runtime.trace import (
    CHUNK_ENCODING,
    HOST_NAME,
    TraceRecorder,
    TraceWriteError,
    shard_path,
)

_Row = tuple[int, float | None, str, str | None, str | None, str | None, str | None,
             int | None, int, msgspec.Raw, str | None]
_chunk = msgspec.msgpack.Decoder(list[_Row])
RUN_KEYS = ("run", "scenario_digest")
"""The meta items that say which run a shard belongs to."""


class MergeError(ValueError):
    """A shard that cannot be merged (another run's, unreadable, no host); one line."""


@dataclass
class MergeResult:
    """What one shard's merge did: the host, the rows added per table, the chunks of the
    source that could not be read (skipped)."""

    source: Path
    host: str
    messages: int
    rounds: int
    agents: int
    unreadable_chunks: int


def _open_ro(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        return db
    except sqlite3.Error as exc:
        raise MergeError(f"{path}: not a trace shard ({exc})") from None


def _meta(db: sqlite3.Connection) -> dict[str, object]:
    out = {}
    for key, value in db.execute("SELECT key, value FROM meta"):
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = None
    return out


def run_identity(run_dir: Path) -> dict[str, object]:
    """The run's ``run`` and ``scenario_digest``, from the shards of ``run_dir`` (raises
    :class:`MergeError` when it has no trace, or none says them)."""
    shards = sorted((run_dir / "trace").glob("*.sqlite"))
    if not shards:
        raise MergeError(f"{run_dir} holds no trace (expected {run_dir}/trace/*.sqlite)")
    for path in shards:
        db = _open_ro(path)
        try:
            meta = _meta(db)
        finally:
            db.close()
        if all(meta.get(k) is not None for k in RUN_KEYS):
            return {k: meta[k] for k in RUN_KEYS}
    raise MergeError(f"{run_dir}: no shard says which run it is (meta 'run' and "
                     "'scenario_digest'; a distributed run's aggregator shard has them)")


def _message_rows(db: sqlite3.Connection) -> tuple[list[tuple], int]:
    rows, bad = [], 0
    for encoding, data in db.execute(
            "SELECT encoding, data FROM message_chunks ORDER BY chunk"):
        if encoding != CHUNK_ENCODING:
            bad += 1
            continue
        try:
            chunk = _chunk.decode(zlib.decompress(data))
        except (zlib.error, *DECODE_ERRORS):
            bad += 1
            continue
        rows.extend((*r[:9], bytes(r[9]), r[10]) for r in chunk)
    return rows, bad


def _counts(db: sqlite3.Connection) -> list[tuple]:
    """The shard's ``message_counts`` rows (none in a shard from before trace levels)."""
    try:
        return [tuple(r) for r in db.execute(
            "SELECT conversation, round, kind, direction, count FROM message_counts")]
    except sqlite3.OperationalError:
        return []


def _missing(source: list[tuple], present: list[tuple]) -> list[tuple]:
    """The rows of ``source`` not in ``present``, counting equal rows."""
    have = Counter(present)
    out = []
    for row in source:
        if have[row] > 0:
            have[row] -= 1
        else:
            out.append(row)
    return out


def check_shard(run_dir: Path | str, source: Path | str) -> str:
    """The host of the shard ``source`` when it may be merged into ``run_dir``; raise
    :class:`MergeError` (naming the file) for a shard of another run, or none at all."""
    run_dir, source = Path(run_dir), Path(source)
    want = run_identity(run_dir)
    src = _open_ro(source)
    try:
        meta = _meta(src)
    finally:
        src.close()
    host = meta.get("host")
    if not isinstance(host, str) or not HOST_NAME.fullmatch(host):
        raise MergeError(f"{source}: its meta names no valid host ({host!r})")
    got = {k: meta.get(k) for k in RUN_KEYS}
    if got != want:
        raise MergeError(
            f"{source}: a shard of another run (run {got['run']!r}, scenario digest "
            f"{str(got['scenario_digest'])[:12]}), not of {run_dir} (run {want['run']!r}, "
            f"scenario digest {str(want['scenario_digest'])[:12]})")
    return host


def merge_shard(run_dir: Path | str, source: Path | str) -> MergeResult:
    """Add the rows of the shard ``source`` that ``run_dir`` lacks to the shard of the
    same host there; raise :class:`MergeError` for a shard of another run."""
    run_dir, source = Path(run_dir), Path(source)
    host = check_shard(run_dir, source)
    src = _open_ro(source)
    try:
        target = shard_path(run_dir, host)
        if target.exists() and target.resolve() == source.resolve():
            return MergeResult(source, host, 0, 0, 0, 0)
        messages, bad = _message_rows(src)
        rounds = [tuple(r) for r in src.execute("SELECT * FROM rounds")]
        agents = list(src.execute("SELECT address, role, class FROM agents"))
        meta_rows = list(src.execute("SELECT key, value FROM meta"))
        counts = [] if target.exists() else _counts(src)
    finally:
        src.close()
    if target.exists():
        dst = _open_ro(target)
        try:
            have_messages, _ = _message_rows(dst)
            have_rounds = [tuple(r) for r in dst.execute("SELECT * FROM rounds")]
            have_agents = set(dst.execute("SELECT address, role, class FROM agents"))
        finally:
            dst.close()
    else:
        have_messages, have_rounds, have_agents = [], [], set()
    new_messages = [(*r[:9], msgspec.Raw(r[9]), r[10])
                    for r in _missing(messages, have_messages)]
    new_rounds = _missing(rounds, have_rounds)
    new_agents = [a for a in agents if a not in have_agents]
    if new_messages or new_rounds or new_agents or counts:
        try:
            recorder = TraceRecorder(target, host)
            for address, role, cls in new_agents:
                recorder.agent(address, role, cls)
            recorder.extend(new_messages, new_rounds,
                            [(k, v) for k, v in meta_rows if k != "host"], counts)
            recorder.close()
        except TraceWriteError as exc:
            raise MergeError(str(exc)) from None
    return MergeResult(source, host, len(new_messages), len(new_rounds), len(new_agents), bad)


def shards_in(path: Path | str) -> list[Path]:
    """The shard files a command-line argument names: a ``.sqlite`` file, or a folder's
    ``*.sqlite`` (or its ``trace/*.sqlite``: a site's run directory)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.sqlite")) or sorted((path / "trace").glob("*.sqlite"))
        if not found:
            raise MergeError(f"{path}: no trace shard in it (*.sqlite or trace/*.sqlite)")
        return found
    if not path.is_file():
        raise MergeError(f"{path}: no such file")
    return [path]
