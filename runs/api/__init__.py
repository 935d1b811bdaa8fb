"""vpp-swarm's public Python API (installed as the ``vpp`` package).

The repository's folders are installed under this one import root: ``vpp.agents`` (the
runtime and the agent kinds), ``vpp.coordination`` (negotiation protocols and solvers),
``vpp.markets`` (market mechanisms and trading), ``vpp.physics`` (device and grid models) and
``vpp.runs`` (scenarios, the runner, the ``vpp`` command). This file is ``runs/api/`` in the
repository (see ``pyproject.toml``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vpp-swarm")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"
