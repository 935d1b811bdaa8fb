"""The trace explorer: ``vpp trace serve`` (a local, read-only web app) and ``vpp trace
export --html`` (one self-contained file) for looking at runs in a browser.

Its dependencies (Starlette, uvicorn and plotly, whose ``plotly.min.js`` is served from the
installed package: nothing is fetched from the internet) are the optional extra
``explorer``; :func:`missing` says which are not installed.
"""

from __future__ import annotations

import importlib.util

INSTALL_HINT = "pip install 'vpp-swarm[explorer]'"
"""How to install what the explorer needs."""

NEEDS = {"serve": ("starlette", "uvicorn", "plotly"), "export": ("plotly",)}


def missing(command: str) -> list[str]:
    """The distributions ``command`` (``serve`` or ``export``) needs that are not installed."""
    out = []
    for name in NEEDS[command]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None, or a broken install
            found = False
        if not found:
            out.append(name)
    return out
