"""HiGHS prints a banner on standard output when its first instance in a process is made
(cvxpy makes one before it sets any option). A library must not write to stdout (it would
break ``--json`` output), so :func:`quiet_highs` makes that first instance with the
process's stdout pointed at the null device, once."""

from __future__ import annotations

import functools
import os
import sys


@functools.cache
def quiet_highs() -> bool:
    """Make the process's first HiGHS instance silently; True when highspy is installed."""
    try:
        import highspy
    except ImportError:
        return False
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(null)
        os.close(saved)
    return True
