"""Optional extras: the heavy libraries a feature needs, installed with ``vpp-swarm[NAME]``.

The default install is lean; a feature whose library is not installed fails with
:class:`MissingExtra`, one line naming the feature, the library and the command that
installs it (the command line prints it as its error). Kept here, in the lowest layer,
so that physics, coordination, markets and runs can all raise it.

==========  ==========================  ==========================================
extra       library                     what needs it
==========  ==========================  ==========================================
ageing      blast-lite (NREL BLAST-Lite) battery degradation (``degradation:``)
grid        pandapower                  feeder power flow (``grid:``, Volt-VAR)
ml          scikit-learn                the ``ml`` trading strategy's forecaster
plots       matplotlib                  PNG plots (``dispatch.png``, ``vpp trace plot``,
                                        the backtest's figures)
explorer    starlette, uvicorn, plotly  ``vpp trace serve``, ``vpp trace export --html``
==========  ==========================  ==========================================
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

EXTRAS = {
    "ageing": ("blast", "blast-lite"),
    "grid": ("pandapower", "pandapower"),
    "ml": ("sklearn", "scikit-learn"),
    "plots": ("matplotlib", "matplotlib"),
}
"""Each extra: (the module it brings, the distribution that provides it)."""


def install_hint(extra: str) -> str:
    """``pip install 'vpp-swarm[NAME]'``."""
    return f"pip install 'vpp-swarm[{extra}]'"


class MissingExtra(ImportError):
    """A feature needs an optional library that is not installed.

    Attributes: ``extra`` (the extra that brings it) and ``feature``; the message is one
    line: "FEATURE needs LIBRARY, which is not installed: pip install 'vpp-swarm[EXTRA]'".
    """

    def __init__(self, extra: str, feature: str) -> None:
        module, dist = EXTRAS[extra]
        super().__init__(f"{feature} needs {dist}, which is not installed: "
                         f"{install_hint(extra)}", name=module)
        self.extra = extra
        self.feature = feature


def require(extra: str, feature: str, module: str | None = None) -> ModuleType:
    """Import ``module`` (default: the extra's own module) for ``feature``, or raise
    :class:`MissingExtra` when the extra's library is not installed. An import error
    inside an installed library (a module of it, or one it needs, missing) is not hidden:
    it propagates as it is."""
    top, _ = EXTRAS[extra]
    try:
        return importlib.import_module(module or top)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing != top and not (missing.startswith(top + ".") and _absent(top)):
            raise               # the library is there, and something it needs is not
        raise MissingExtra(extra, feature) from None


def _absent(top: str) -> bool:
    """True when the package ``top`` cannot be imported (not installed, or blocked)."""
    if top in sys.modules:
        return sys.modules[top] is None
    try:
        return importlib.util.find_spec(top) is None
    except (ImportError, ValueError):
        return True
