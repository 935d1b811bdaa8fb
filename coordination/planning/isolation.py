"""Run a plug-in's ``solve`` in a child process that can be abandoned at its timeout.

A thread cannot be killed, so the solve runs in a forked child (``fork`` where the
platform has it: nothing is pickled, the child starts with the parent's modules loaded;
elsewhere ``spawn``, which pickles the plug-in and the problem to start the child). The
child sends one reply over a pipe, encoded as MessagePack (msgspec): the result, or the
plug-in's exception as text. The parent waits at most the timeout, then kills the child
(SIGKILL) and reaps it. A child that dies without a reply is reported with its exit code.

The reply is the plug-in's doing, so it is read as hostile input: at most
:data:`MAX_REPLY_BYTES` (a longer one is refused unread), nested at most
:data:`MAX_REPLY_DEPTH` levels (checked before it is decoded), and any reply that does
not decode as the one expected is reported as ``crashed`` with why, never raised.
"""

from __future__ import annotations

import multiprocessing
import time
import traceback
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from vpp.coordination.msgpack_bounds import NestingError, check_depth
from vpp.coordination.planning.results import (
    OptimizationPlugin,
    OptimizationResult,
    plain,
)


class _Reply(msgspec.Struct):
    kind: str                                   # "result" | "raised"
    result: OptimizationResult | None = None
    error: str | None = None
    detail: str | None = None


_encoder = msgspec.msgpack.Encoder(enc_hook=plain)
_decoder = msgspec.msgpack.Decoder(_Reply)

MAX_REPLY_BYTES = 64 << 20
"""The largest reply read from a plug-in's process (64 MiB)."""

MAX_REPLY_DEPTH = 32
"""The deepest nesting of a reply (a result's ``solution`` and ``metadata`` included)."""


def _decode_reply(payload: bytes) -> _Reply | str:
    """The reply, or why it is not one (its nesting bounded before it is decoded)."""
    try:
        check_depth(payload, MAX_REPLY_DEPTH)
        return _decoder.decode(payload)
    except NestingError as exc:
        return str(exc)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"


@dataclass(frozen=True)
class Outcome:
    """How an isolated solve ended: ``result`` (a reply came), ``raised`` (the plug-in's
    exception, as ``error``), ``timeout`` (killed at the deadline) or ``crashed`` (the
    child died without a reply; ``exitcode`` says how)."""

    kind: Literal["result", "raised", "timeout", "crashed"]
    result: OptimizationResult | None
    error: str | None
    elapsed_s: float
    exitcode: int | None = None
    detail: str | None = None


def _child(conn: Any, plugin: OptimizationPlugin, problem: Any, timeout_ms: int | None) -> None:
    """The child's body: solve, reply once, exit."""
    try:
        result = plugin.solve(problem, timeout_ms)
    # the isolation boundary: whatever a third-party plug-in raises is reported, not lost
    except Exception as exc:  # noqa: BLE001
        reply = _Reply("raised", error=f"{type(exc).__name__}: {exc}",
                       detail=traceback.format_exc(limit=8))
    else:
        if isinstance(result, OptimizationResult):
            reply = _Reply("result", result=result)
        else:
            reply = _Reply("raised", error=f"TypeError: solve returned "
                                           f"{type(result).__qualname__}, not OptimizationResult")
    try:
        payload = _encoder.encode(reply)
    except (TypeError, ValueError, OverflowError) as exc:
        payload = _encoder.encode(_Reply("raised", error=f"the result cannot be encoded: {exc}"))
    conn.send_bytes(payload)
    conn.close()


def default_start_method() -> str:
    """``fork`` where available (fast, nothing pickled), else ``spawn``."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def run_isolated(plugin: OptimizationPlugin, problem: Any, timeout_ms: int,
                 start_method: str | None = None) -> Outcome:
    """Run ``plugin.solve(problem, timeout_ms)`` in a child; kill it at ``timeout_ms``."""
    if not timeout_ms > 0:
        raise ValueError(f"timeout_ms must be > 0, got {timeout_ms!r}")
    ctx = multiprocessing.get_context(start_method or default_start_method())
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(sender, plugin, problem, timeout_ms),
                          name=f"plugin-{plugin.name}", daemon=True)
    t0 = time.perf_counter()
    process.start()
    sender.close()
    try:
        ready = receiver.poll(timeout_ms / 1000.0)
        elapsed = time.perf_counter() - t0
        if not ready:
            process.kill()
            process.join()
            return Outcome("timeout", None, f"no answer within {timeout_ms} ms; the plug-in's "
                           f"process was killed", elapsed, process.exitcode)
        try:
            payload = receiver.recv_bytes(MAX_REPLY_BYTES)
        except EOFError:
            process.join()
            return Outcome("crashed", None, f"the plug-in's process died without an answer "
                           f"(exit code {process.exitcode})", elapsed, process.exitcode)
        except OSError as exc:  # longer than MAX_REPLY_BYTES: refused unread
            process.kill()
            process.join()
            return Outcome("crashed", None, f"the plug-in's answer is over {MAX_REPLY_BYTES} "
                           f"bytes ({exc}); refused", elapsed, process.exitcode)
    finally:
        receiver.close()
    process.join(timeout=5.0)
    if process.is_alive():
        process.kill()
        process.join()
    reply = _decode_reply(payload)
    if isinstance(reply, str):
        return Outcome("crashed", None, f"the plug-in's answer is malformed: {reply}", elapsed,
                       process.exitcode)
    if reply.kind == "result" and reply.result is not None:
        return Outcome("result", reply.result, None, elapsed, process.exitcode)
    return Outcome("raised", None, reply.error or "unknown error", elapsed, process.exitcode,
                   reply.detail)
