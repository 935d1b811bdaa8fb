"""What a site's local step returns, and how it fails (no solver imported here)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class LocalSolveError(RuntimeError):
    """The local problem could not be solved (infeasible site, solver failure)."""


@dataclass(frozen=True)
class LocalSolution:
    """One local solve: the schedule (kW), the private cost (EUR), device detail."""

    schedule_kw: np.ndarray
    cost_eur: float
    parts: dict[str, np.ndarray]
