"""Structured logging: every record names its host and agent; text or JSON lines.

Library code logs through the standard :mod:`logging` module. A record may carry
``host`` and ``agent`` in ``extra`` (an :class:`vpp.agents.runtime.agent.Agent` does it through its
``log`` adapter, the host names itself); :class:`ContextFilter` fills what is missing
with the process's default host and ``-``, so a formatter can always print both.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Sets ``record.host`` and ``record.agent`` when a record has none.

    Args:
        host: the process's host name, used when a record does not name its own.
    """

    def __init__(self, host: str = "-") -> None:
        super().__init__()
        self.host = host

    def filter(self, record: logging.LogRecord) -> bool:
        """Fill the context; never drops a record."""
        if not hasattr(record, "host"):
            record.host = self.host
        if not hasattr(record, "agent"):
            record.agent = "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, host, agent,
    message, the ``extra`` fields, and the exception text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "host": getattr(record, "host", "-"),
            "agent": getattr(record, "agent", "-"),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class StderrHandler(logging.StreamHandler):
    """A stream handler that writes to the ``sys.stderr`` of the moment of each record, not
    the one of its creation (which a test runner or a redirect may have closed since)."""

    @property
    def stream(self):
        """The current ``sys.stderr``."""
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


TEXT_FORMAT = "%(host)s/%(agent)s %(name)s: %(message)s"
"""The text layout: ``host/agent logger: message`` (time and level come from the handler)."""


def configure(level: str = "WARNING", *, json_lines: bool = False, host: str = "-",
              handler: logging.Handler | None = None) -> logging.Handler:
    """Route the root logger to ``handler`` (default: stderr) at ``level``.

    Args:
        level: DEBUG, INFO, WARNING or ERROR (case-insensitive).
        json_lines: one JSON object per record instead of text.
        host: the host named in records that do not name their own.
        handler: where records go (the CLI passes a rich handler for text).

    Raises:
        ValueError: naming the level when it is not one of the four.
    """
    name = level.upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    handler = handler or StderrHandler()
    handler.addFilter(ContextFilter(host))
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    return handler


def agent_logger(logger: logging.Logger, host: str, agent: str) -> logging.LoggerAdapter:
    """``logger`` with ``host`` and ``agent`` put into every record it makes."""
    return logging.LoggerAdapter(logger, {"host": host, "agent": agent})
