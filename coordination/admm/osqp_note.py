"""OSQP's stray line on standard output, kept off the terminal.

OSQP 1.x prints ``Polishing not needed - no active set detected at optimal point``
whenever a polished solve ends with no active constraint, whatever ``verbose`` says
(osqp/osqp#785, open). A site's exact ADMM step polishes, so a fleet of 4,000 sites
printed 2,000 such lines per negotiation. The Python package prints through
``sys.stdout`` (``PySys_WriteStdout``), so :func:`osqp_output_filtered` points
``sys.stdout`` at a buffer for the solve and then writes out everything the buffer got
except that line: nothing else printed meanwhile (by another thread, say) is lost, only
delayed to the solve's end.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator

__all__ = ["NO_ACTIVE_SET", "osqp_output_filtered"]

NO_ACTIVE_SET = "Polishing not needed - no active set detected at optimal point\n"
"""The line removed (OSQP 1.x's ``polish.c``)."""

_LOCK = threading.RLock()


@contextlib.contextmanager
def osqp_output_filtered() -> Iterator[None]:
    """Run the block with ``sys.stdout`` captured, then write out what it printed without
    OSQP's :data:`NO_ACTIVE_SET` lines (also when the block raises)."""
    with _LOCK:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                yield
        finally:
            kept = captured.getvalue().replace(NO_ACTIVE_SET, "")
            if kept and sys.stdout is not None:
                sys.stdout.write(kept)
