"""Imported once by the site processes' fork server, so that each fork starts warm.

It imports what a site process needs (the runtime, the device models a scenario may name)
and fills the strategy plug-in cache (scanning the installed packages' entry points costs
about 70 ms: once here instead of once per process), then freezes the garbage collector's
view of everything imported (``gc.freeze``): a forked child's collections then skip those
objects instead of touching, and so copying, every page they live on. Nothing here has
side effects beyond imports, that cache and the freeze. It must be the last preload.
"""

from __future__ import annotations

import gc

import vpp.physics.battery  # noqa: F401
import vpp.physics.battery_thermal  # noqa: F401
import vpp.physics.flexible  # noqa: F401
import vpp.physics.loads  # noqa: F401
import vpp.runs.placement.site_process  # noqa: F401
from vpp.runs.fleet.strategies import make_strategy

make_strategy("marginal-cost")
gc.freeze()
